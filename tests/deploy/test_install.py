"""deploy/install.sh into a throwaway root (--root, --no-venv): files, owners, modes, the
enabled unit, idempotence (checksums), and --uninstall keeping data and settings."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from service.settings import load_settings
from tests.deploy.conftest import DEPLOY, IS_ROOT, run_script, snapshot

pytestmark = pytest.mark.skipif(
    not IS_ROOT, reason="install.sh creates a user and chowns (useradd --prefix): run as root"
)


def passwd_entry(root: Path, name: str) -> list[str]:
    for line in (root / "etc/passwd").read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    raise AssertionError(f"no user {name} in {root}/etc/passwd")


def group_members(root: Path, group: str) -> list[str]:
    for line in (root / "etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == group:
            return [m for m in fields[3].split(",") if m]
    raise AssertionError(f"no group {group}")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_install_lays_out_user_config_data_unit_and_rules(sysroot: Path) -> None:
    done = run_script("install.sh", "--root", sysroot, "--no-venv")
    assert "wrote /etc/systemd/system/vigil.service" in done.stderr

    user = passwd_entry(sysroot, "vigil")
    assert user[5:] == ["/var/lib/vigil", "/usr/sbin/nologin"]
    assert "vigil" in group_members(sysroot, "dialout")
    assert "vigil" in group_members(sysroot, "audio")

    data = sysroot / "var/lib/vigil"
    assert data.is_dir() and mode(data) == 0o750
    assert (data.stat().st_uid, data.stat().st_gid) == (int(user[2]), int(user[3]))

    config = sysroot / "etc/vigil/vigil.toml"
    assert config.read_text() == (DEPLOY / "vigil.toml.example").read_text()
    unit = sysroot / "etc/systemd/system/vigil.service"
    assert unit.read_text() == (DEPLOY / "vigil.service").read_text() and mode(unit) == 0o644
    rules = sysroot / "etc/udev/rules.d/99-vigil.rules"
    assert rules.read_text() == (DEPLOY / "99-vigil.rules").read_text() and mode(rules) == 0o644

    # Enabled exactly as `systemctl enable` would (WantedBy=multi-user.target).
    wants = sysroot / "etc/systemd/system/multi-user.target.wants/vigil.service"
    assert wants.is_symlink() and os.readlink(wants) == "../vigil.service"
    assert wants.resolve() == unit.resolve()
    # --no-venv: no application, so nothing that would point the unit at a missing venv.
    assert not (sysroot / "opt/vigil/current").exists()


def test_second_run_changes_nothing(sysroot: Path) -> None:
    run_script("install.sh", "--root", sysroot, "--no-venv")
    first = snapshot(sysroot)
    done = run_script("install.sh", "--root", sysroot, "--no-venv")
    assert snapshot(sysroot) == first
    assert "wrote" not in done.stderr and "created" not in done.stderr


def test_config_and_rules_are_the_administrators_but_the_unit_is_refreshed(sysroot: Path) -> None:
    run_script("install.sh", "--root", sysroot, "--no-venv")
    config = sysroot / "etc/vigil/vigil.toml"
    rules = sysroot / "etc/udev/rules.d/99-vigil.rules"
    unit = sysroot / "etc/systemd/system/vigil.service"
    config.write_text('bed = "chair-7"\n')
    rules.write_text("# mine\n")
    unit.write_text("[Service]\nExecStart=/bin/false\n")
    (sysroot / "var/lib/vigil").chmod(0o777)

    run_script("install.sh", "--root", sysroot, "--no-venv")
    assert config.read_text() == 'bed = "chair-7"\n'
    assert rules.read_text() == "# mine\n"
    assert unit.read_text() == (DEPLOY / "vigil.service").read_text()
    assert mode(sysroot / "var/lib/vigil") == 0o750


def test_joins_gpio_when_the_group_exists_and_repairs_missing_groups(sysroot: Path) -> None:
    run_script("install.sh", "--root", sysroot, "--no-venv")
    group = sysroot / "etc/group"
    lines = [
        "audio:x:29:" if line.startswith("audio:") else line
        for line in group.read_text().splitlines()
    ]
    group.write_text("\n".join([*lines, "gpio:x:997:"]) + "\n")
    gshadow = sysroot / "etc/gshadow"
    gshadow.write_text(gshadow.read_text() + "gpio:!::\n")

    done = run_script("install.sh", "--root", sysroot, "--no-venv")
    assert "added vigil to audio,gpio" in done.stderr
    assert "vigil" in group_members(sysroot, "gpio")
    assert "vigil" in group_members(sysroot, "audio")


def test_uninstall_removes_app_unit_and_rules_but_keeps_data_and_config(sysroot: Path) -> None:
    run_script("install.sh", "--root", sysroot, "--no-venv")
    release = sysroot / "opt/vigil/releases/0.1.0-test/bin"
    release.mkdir(parents=True)
    (sysroot / "opt/vigil/current").symlink_to("releases/0.1.0-test")
    record = sysroot / "var/lib/vigil/vigil.db"
    record.write_bytes(b"the infusion record")
    config = sysroot / "etc/vigil/vigil.toml"
    config.write_text('bed = "chair-7"\n')

    done = run_script("install.sh", "--root", sysroot, "--uninstall")
    for gone in (
        "opt/vigil",
        "etc/systemd/system/vigil.service",
        "etc/systemd/system/multi-user.target.wants/vigil.service",
        "etc/udev/rules.d/99-vigil.rules",
    ):
        assert not (sysroot / gone).exists() and not (sysroot / gone).is_symlink(), gone
    assert record.read_bytes() == b"the infusion record"
    assert config.read_text() == 'bed = "chair-7"\n'
    assert "kept /var/lib/vigil" in done.stderr
    # Uninstalling twice is harmless.
    run_script("install.sh", "--root", sysroot, "--uninstall")


def test_unknown_option_is_refused(sysroot: Path) -> None:
    done = run_script("install.sh", "--root", sysroot, "--frobnicate", check=False)
    assert done.returncode != 0 and "unknown argument: --frobnicate" in done.stderr


def test_the_example_config_is_valid_settings() -> None:
    settings = load_settings(DEPLOY / "vigil.toml.example")
    assert settings.data_dir == Path("/var/lib/vigil")
    assert settings.host == "127.0.0.1"
    assert [str(spec) for spec in settings.device_specs()] == ["masimo-ascii=/dev/vigil/monitor"]


# -- the application venv, with a stand-in python (no pip, no network) ------------------------

FAKE_PYTHON = """#!/bin/bash
# `python -m venv DIR` makes a stand-in venv; anything else goes to the real python3.
if [[ $1 == -m && $2 == venv ]]; then
    mkdir -p "$3/bin"
    printf '#!/bin/sh\\necho "$@" >> "%s/pip.log"\\nexit ${{FAIL_PIP:-0}}\\n' "$3" > "$3/bin/pip"
    printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/vigil"
    chmod +x "$3/bin/pip" "$3/bin/vigil"
    exit 0
fi
exec {python} "$@"
"""


@pytest.fixture
def fake_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON.format(python=sys.executable))
    python.chmod(0o755)
    monkeypatch.setenv("PYTHON", str(python))
    source = tmp_path / "src"
    (source / "service").mkdir(parents=True)
    (source / "pyproject.toml").write_text('[project]\nname = "vigil"\nversion = "9.9.9"\n')
    (source / "service/app.py").write_text("print('v1')\n")
    return source


def test_builds_a_release_venv_and_links_it(sysroot: Path, fake_checkout: Path) -> None:
    run_script("install.sh", "--root", sysroot, "--source", fake_checkout)
    current = sysroot / "opt/vigil/current"
    release = os.readlink(current)
    assert release.startswith("releases/9.9.9-")
    built = sysroot / "opt/vigil" / release
    assert (built / ".vigil-release").read_text().strip() == release.removeprefix("releases/")
    pip_args = (built / "pip.log").read_text().split()
    assert pip_args[-1] == str(fake_checkout)  # pip install <checkout>
    cli = sysroot / "usr/local/bin/vigil"
    assert os.readlink(cli) == "../../../opt/vigil/current/bin/vigil" and cli.exists()

    first = snapshot(sysroot)
    done = run_script("install.sh", "--root", sysroot, "--source", fake_checkout)
    assert "already built" in done.stderr
    assert snapshot(sysroot) == first

    # A different checkout is not switched to silently: that is upgrade.sh's job.
    (fake_checkout / "service/app.py").write_text("print('v2')\n")
    done = run_script("install.sh", "--root", sysroot, "--source", fake_checkout)
    assert "upgrade with deploy/upgrade.sh" in done.stderr
    assert os.readlink(current) == release

    run_script("install.sh", "--root", sysroot, "--uninstall")
    assert not cli.is_symlink() and not (sysroot / "opt/vigil").exists()


def test_a_failed_pip_install_leaves_no_half_release(
    sysroot: Path, fake_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_PIP", "1")
    done = run_script("install.sh", "--root", sysroot, "--source", fake_checkout, check=False)
    assert done.returncode != 0 and "pip install failed" in done.stderr
    assert list((sysroot / "opt/vigil/releases").iterdir()) == []
    assert not (sysroot / "opt/vigil/current").is_symlink()
