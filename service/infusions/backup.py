"""``vigil db backup``: a consistent copy of the live database (to be wired into the CLI).

sqlite3's online backup API copies pages under SQLite's own locking, so the copy is a
consistent snapshot even while the service keeps writing (a plain file copy of a WAL database
is not: the -wal file may hold committed transactions the main file lacks).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


class BackupError(Exception):
    pass


def backup(database: Path, target: Path) -> Path:
    """Copy ``database`` to ``target`` atomically: a temporary file is filled, checked, synced
    and renamed, so ``target`` is never a half-written file."""
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(database)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # a self-contained single file
            (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
        finally:
            copy.close()
    finally:
        source.close()
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed its integrity check: {verdict}")
    _fsync(partial)
    os.replace(partial, target)
    _fsync(target.parent)  # the rename itself must survive a power cut
    return target


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
