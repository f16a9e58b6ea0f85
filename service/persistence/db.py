"""Database engine and migrations.

SQLite runs in WAL mode with ``synchronous=FULL``: a committed transaction survives a power cut,
and readers (the API) never block the writer.

Two programs keep a database with its own Alembic chain: the bed (``BED``: service/migrations,
version table ``alembic_version``) and the clinic central station (``central.db.CHAIN``:
central/migrations, version table ``central_alembic_version``). The functions below take the
chain; without one they work on the bed's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass(frozen=True, slots=True)
class Chain:
    """One Alembic chain: its script folder and the table that records its revision (its
    env.py passes the same ``version_table`` to Alembic)."""

    migrations: Path
    version_table: str = "alembic_version"


BED = Chain(MIGRATIONS)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def alembic_config(url: str, chain: Chain = BED) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(chain.migrations))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*(?:"([^"]*)"|None)', re.M)


def head_revision(chain: Chain = BED) -> str | None:
    """The newest migration, read from the migration files' ``revision``/``down_revision``
    lines (the one no other migration names as its parent); None if that is ambiguous."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (chain.migrations / "versions").glob("*.py"):
        found = dict((m.group(1), m.group(2)) for m in _REVISION.finditer(path.read_text()))
        if found.get("revision"):
            revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(url: str, chain: Chain = BED) -> str | None:
    engine = make_engine(url)  # creates the data directory for SQLite
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(chain.version_table):
                return None
            query = text(f"SELECT version_num FROM {chain.version_table}")
            value = conn.execute(query).scalar()
            return None if value is None else str(value)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head", chain: Chain = BED) -> None:
    """Migrate to ``revision``. A database already at the head is left alone without loading
    Alembic (and Mako, and Pygments): about 10 MB less resident memory for the service."""
    if (
        revision == "head"
        and (head := head_revision(chain))
        and current_revision(url, chain) == head
    ):
        return
    from alembic import command

    command.upgrade(alembic_config(url, chain), revision)


def downgrade(url: str, revision: str, chain: Chain = BED) -> None:
    from alembic import command

    command.downgrade(alembic_config(url, chain), revision)
