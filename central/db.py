"""The central station's database: its own Alembic chain (central/migrations, version table
``central_alembic_version``), run by the shared migration runner of service/persistence/db.py.

A database that an earlier version made with the bed's chain (it held every bed table as well)
is adopted by the first central migration: see central/migrations/versions.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from service.persistence import db

CHAIN = db.Chain(
    migrations=Path(__file__).resolve().parent / "migrations",
    version_table="central_alembic_version",
)


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the central's database (at every start of the central)."""
    db.upgrade(url, revision, CHAIN)


def downgrade(url: str, revision: str) -> None:
    db.downgrade(url, revision, CHAIN)


def head_revision() -> str | None:
    return db.head_revision(CHAIN)


def current_revision(url: str) -> str | None:
    return db.current_revision(url, CHAIN)


def is_central_database(url: str) -> bool:
    """``url`` is a central station's database: its chain has run there, or an earlier version
    made it with the bed's chain and it holds central records (``vigil users ... --db`` then
    migrates it with this chain, never with the bed's)."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            if found.has_table(CHAIN.version_table):
                return True
            return any(
                found.has_table(table)
                and bool(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar())
                for table in ("central_beds", "central_events")
            )
    finally:
        engine.dispose()
