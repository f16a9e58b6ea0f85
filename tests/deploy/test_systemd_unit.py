"""deploy/vigil.service: `systemd-analyze verify` accepts it (as shipped, inside a throwaway
root, and as a copy pointing at an existing program) and it says what docs/deploy.md says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, IS_ROOT, ensure_debian_tool, run_script

UNIT = DEPLOY / "vigil.service"


def directives(text: str) -> dict[str, list[str]]:
    """section.key -> values (systemd allows repeated keys; configparser does not)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def verify(unit: Path | str, *extra: str) -> subprocess.CompletedProcess[str]:
    analyze = ensure_debian_tool("systemd-analyze", "systemd")
    return subprocess.run(
        [analyze, "verify", "--man=no", *extra, str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unit_says_what_the_deployment_needs() -> None:
    d = directives(UNIT.read_text())
    one = {key: values[-1] for key, values in d.items()}
    assert one["Service.Type"] == "notify"
    assert one["Service.ExecStart"] == (
        "/opt/vigil/current/bin/vigil serve --config /etc/vigil/vigil.toml"
    )
    assert one["Service.Restart"] == "on-failure" and float(one["Service.RestartSec"]) > 0
    assert one["Service.WatchdogSec"] == "10"
    assert one["Service.NotifyAccess"] == "main"
    assert one["Service.User"] == "vigil"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/vigil",
        "DevicePolicy": "closed",
        "SupplementaryGroups": "dialout audio",
        "StandardOutput": "journal",
    }.items():
        assert one[f"Service.{key}"] == value, key
    # A memory ceiling well above one bed's ~85 MB, well below a Pi's RAM.
    memory_max = one["Service.MemoryMax"]
    assert re.fullmatch(r"\d+M", memory_max), memory_max
    assert 160 <= int(memory_max[:-1]) <= 512
    allowed = d["Service.DeviceAllow"]
    assert {"char-ttyUSB rw", "char-ttyACM rw", "char-alsa rw"} <= set(allowed)
    assert one["Install.WantedBy"] == "multi-user.target"


def test_verify_accepts_a_copy_pointing_at_an_existing_program(tmp_path: Path) -> None:
    copy = tmp_path / "vigil.service"
    text = UNIT.read_text()
    copy.write_text(text.replace("ExecStart=/opt/vigil/current/bin/vigil", "ExecStart=/bin/true"))
    done = verify(copy)
    assert done.returncode == 0 and "vigil.service" not in done.stderr, done.stderr


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above would notice a mistake: a typo and a missing program both fail."""
    broken = tmp_path / "vigil.service"
    broken.write_text(UNIT.read_text().replace("WatchdogSec=10", "WatchdogSecs=10"))
    done = verify(broken)
    assert "Unknown key 'WatchdogSecs'" in done.stderr
    assert done.returncode != 0  # /opt/vigil/current/bin/vigil does not exist here
    assert "is not executable" in done.stderr


@pytest.mark.skipif(not IS_ROOT, reason="install.sh --root needs root (useradd)")
def test_verify_the_installed_unit_inside_the_install_root(sysroot: Path) -> None:
    """The unit exactly as install.sh put it, with ExecStart resolved inside the root."""
    run_script("install.sh", "--root", sysroot, "--no-venv")
    stub = sysroot / "opt/vigil/releases/test/bin/vigil"
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    (sysroot / "opt/vigil/current").symlink_to("releases/test")
    # systemd's own units (multi-user.target, sysinit.target...) as the system has them.
    system_units = next(
        p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()
    )
    shutil.copytree(system_units, sysroot / "usr/lib/systemd/system", symlinks=True)
    done = verify("vigil.service", f"--root={sysroot}")
    assert done.returncode == 0 and "vigil.service" not in done.stderr, done.stderr


def test_security_exposure_is_low(tmp_path: Path) -> None:
    analyze = ensure_debian_tool("systemd-analyze", "systemd")
    copy = tmp_path / "vigil.service"
    copy.write_text(UNIT.read_text().replace("/opt/vigil/current/bin/vigil", "/bin/true"))
    done = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for vigil\.service: ([\d.]+)", done.stdout)
    assert match, done.stdout[-2000:] + done.stderr
    assert float(match.group(1)) <= 3.0  # 10 is unprotected; 2.2 when this was written
