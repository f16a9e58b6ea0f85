"""The vigil command: replay, clear errors for bad input, db upgrade."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import main
from tests.support import FIXTURES


def test_replay_prints_json_readings_and_a_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = (FIXTURES / "masimo" / "radical-lines.txt").read_bytes().replace(b"\n", b"\r\n")
    capture = tmp_path / "rad8.txt"
    capture.write_bytes(b"\x00\x01noise\r\n" + data + b"02/22/16 22:47:50 SN=00")
    assert main(["replay", "--driver", "masimo-ascii", str(capture)]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    spo2 = [r["value"] for r in lines if r.get("metric") == "spo2"]
    assert spo2 == [98.0] * 5 + [None, 98.0, None]
    assert "8 frames decoded, 1 rejected" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--device", "/dev/ttyUSB0"], "is not DRIVER=URL"),
        (["serve", "--device", "nonin=/dev/ttyUSB0"], "unknown driver 'nonin'"),
        (["serve", "--config", "/nonexistent/vigil.toml"], "does not exist"),
        (["serve", "--port", "99999"], "port"),
    ],
)
def test_bad_settings_get_a_one_line_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vigil: ") and message in err
    assert "Traceback" not in err


def test_settings_from_toml_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.settings import load_settings

    config = tmp_path / "vigil.toml"
    config.write_text(
        'bed = "chair-3"\nport = 8100\ndevices = ["masimo-ascii=/dev/vigil/monitor"]\n'
    )
    monkeypatch.setenv("VIGIL_PORT", "8200")
    settings = load_settings(config, host="0.0.0.0")
    assert (settings.bed, settings.port, settings.host) == ("chair-3", 8200, "0.0.0.0")
    assert [str(s) for s in settings.device_specs()] == ["masimo-ascii=/dev/vigil/monitor"]


def test_db_upgrade_command(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    result = subprocess.run(
        [sys.executable, "-m", "service", "db", "upgrade", "--db", f"sqlite:///{db}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_simulate_rejects_unknown_fault() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--fault", "meltdown@3"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unknown fault 'meltdown'" in result.stderr


def test_db_backup_command(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "live.db"
    url = f"sqlite:///{db}"
    assert main(["db", "upgrade", "--db", url]) == 0
    assert main(["db", "backup", str(tmp_path / "copy.db"), "--db", url]) == 0
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "copy.db").execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        )
    }
    assert {"readings", "alarm_log", "users"} <= tables
