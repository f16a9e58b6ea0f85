"""deploy/upgrade.sh in a throwaway root with stand-in releases (no pip, no systemctl):
backup with sqlite3's online backup, migration by the new release, symlink switch, and the
rollback (old release, restored database) when the migration fails."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import IS_ROOT, run_script

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="install.sh --root needs root (useradd)")

#: A stand-in `vigil`: `db upgrade --db sqlite:///PATH` adds a row naming the release, then
#: exits with $FAIL_MIGRATION (default 0); anything else succeeds.
STUB = """#!{python}
import os, sqlite3, sys
args = sys.argv[1:]
if args[:2] == ["db", "upgrade"]:
    db = args[args.index("--db") + 1].removeprefix("sqlite:///")
    with sqlite3.connect(db) as con:
        con.execute("insert into records values ('migrated by {name}')")
    sys.exit(int(os.environ.get("FAIL_MIGRATION", "0")))
"""


def make_release(root: Path, name: str) -> None:
    vigil = root / "opt/vigil/releases" / name / "bin/vigil"
    vigil.parent.mkdir(parents=True)
    vigil.write_text(STUB.format(python=sys.executable, name=name))
    vigil.chmod(0o755)


def rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        return [r[0] for r in con.execute("select text from records order by rowid")]


@pytest.fixture
def installed(sysroot: Path) -> Path:
    run_script("install.sh", "--root", sysroot, "--no-venv")
    for name in ("0.1.0-aaaa", "0.2.0-bbbb", "0.0.9-old"):
        make_release(sysroot, name)
    (sysroot / "opt/vigil/current").symlink_to("releases/0.1.0-aaaa")
    with sqlite3.connect(sysroot / "var/lib/vigil/vigil.db") as con:
        con.execute("pragma journal_mode=wal")
        con.execute("create table records (text)")
        con.execute("insert into records values ('infusion 1')")
    return sysroot


def test_upgrade_backs_up_migrates_and_switches(installed: Path) -> None:
    done = run_script("upgrade.sh", "--root", installed, "--release", "0.2.0-bbbb")
    current = installed / "opt/vigil/current"
    assert os.readlink(current) == "releases/0.2.0-bbbb"
    assert rows(installed / "var/lib/vigil/vigil.db") == ["infusion 1", "migrated by 0.2.0-bbbb"]
    backups = list((installed / "var/lib/vigil/backups").glob("vigil-*-0.1.0-aaaa.db"))
    assert len(backups) == 1 and rows(backups[0]) == ["infusion 1"]
    # The previous release stays for a manual rollback; older ones go.
    releases = sorted(p.name for p in (installed / "opt/vigil/releases").iterdir())
    assert releases == ["0.1.0-aaaa", "0.2.0-bbbb"]
    assert "upgraded to releases/0.2.0-bbbb" in done.stderr


def test_failed_migration_rolls_back_release_and_database(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_MIGRATION", "1")
    done = run_script("upgrade.sh", "--root", installed, "--release", "0.2.0-bbbb", check=False)
    assert done.returncode == 1
    assert "FAILED: database migration" in done.stderr
    assert os.readlink(installed / "opt/vigil/current") == "releases/0.1.0-aaaa"
    # The half-migrated database was replaced by the backup.
    assert rows(installed / "var/lib/vigil/vigil.db") == ["infusion 1"]
    assert (installed / "opt/vigil/releases/0.2.0-bbbb").is_dir()


def test_upgrading_to_the_running_release_does_nothing(installed: Path) -> None:
    done = run_script("upgrade.sh", "--root", installed, "--release", "0.1.0-aaaa")
    assert "nothing to do" in done.stderr
    assert not (installed / "var/lib/vigil/backups").exists()


def test_upgrade_needs_an_installed_release(sysroot: Path) -> None:
    run_script("install.sh", "--root", sysroot, "--no-venv")
    done = run_script("upgrade.sh", "--root", sysroot, "--release", "x", check=False)
    assert done.returncode == 1 and "run deploy/install.sh first" in done.stderr
