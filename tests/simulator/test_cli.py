"""``python -m simulator``: scenario listing and several beds on their own ptys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from simulator.scenario_files import list_scenarios


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=cwd,
    )


def test_list_scenarios() -> None:
    result = run("--list-scenarios")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == [name for name, _ in list_scenarios()]
    for name in ("constant", "typical-responder", "hypertensive-responder", "tablet-disconnected"):
        assert name in names


def test_two_beds_each_on_their_own_ptys(tmp_path: Path) -> None:
    result = run("--beds", "2", "--duration", "1", "--link-dir", "tmp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        "bed-1 monitor masimo-ascii: tmp/bed-1/monitor",
        "bed-2 monitor masimo-ascii: tmp/bed-2/monitor",
    ]
    assert "bed-1: scenario typical-responder, seed 1" in result.stderr
    assert "bed-2: scenario typical-responder, seed 2" in result.stderr


def test_single_bed_keeps_the_old_layout_and_constant_values(tmp_path: Path) -> None:
    result = run("--duration", "0.2", "--link-dir", str(tmp_path), "--spo2", "91")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"monitor masimo-ascii: {tmp_path / 'monitor'}"]
    assert "scenario constant" in result.stderr


def test_bad_scenario_arguments_are_refused() -> None:
    unknown = run("--scenario", "nope", "--duration", "0.1")
    assert unknown.returncode == 2 and "unknown scenario 'nope'" in unknown.stderr
    mixed = run("--scenario", "desaturation", "--spo2", "90", "--duration", "0.1")
    assert mixed.returncode == 2 and "--scenario constant" in mixed.stderr
