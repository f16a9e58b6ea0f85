"""The online backup: a consistent, checked, atomically renamed copy of a live database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.infusions.backup import BackupError, backup
from service.infusions.logic import Plan
from service.infusions.store import InfusionStore
from service.persistence.db import make_engine, upgrade


def test_backup_copies_committed_sessions_while_the_database_is_open(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    store = InfusionStore(engine)  # stays open, in WAL mode, as in the running service
    at = datetime(2026, 11, 22, 9, tzinfo=UTC)
    store.create(
        bed="bed-1", patient="P-1", name=None, drug="ketamine", plan=Plan(70, 0.5, 1, 40),
        at=at, user="nurse",
    )  # fmt: skip
    target = backup(path, tmp_path / "backups" / "vigil-1.db")
    engine.dispose()
    assert not (tmp_path / "backups" / "vigil-1.db.partial").exists()
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM infusion_sessions").fetchone() == (1,)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_backup_of_a_missing_database_says_so(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        backup(tmp_path / "nope.db", tmp_path / "b.db")
