"""The central station's own migration chain (central/migrations), on SQLite and on a real
PostgreSQL: a new database gets only the central's tables; a database an earlier version made
with the bed's chain is adopted with every row kept; a bedside unit's database is refused
untouched; up, down and up again."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from central import db as central_db
from central.store import escalated_since, load_beds, trends
from central.tables import AuditLogRow, BedRow, CentralBase, EventRow, ReadingRow
from service.auth.users import Role, UserStore
from service.persistence import db as bed_db
from service.persistence.db import make_engine
from service.persistence.models import SignInRow, UserRow

CENTRAL_TABLES = {
    "central_beds",
    "central_events",
    "readings",
    "alarm_log",
    "audit_log",
    "users",
    "sign_ins",
}
BED_ONLY = {
    "central_outbox",
    "pump_readings",
    "device_events",
    "alarm_limits",
    "patients",
    "infusion_sessions",
    "session_notes",
}
#: The bed's revision an earlier central ran (its last before the central had its own chain).
LAST_SHARED = "0006_alarm_limits"
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    postgres: str = request.getfixturevalue("postgres")
    return postgres


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def engine_of(url: str, engines: list[Engine]) -> Engine:
    engine = make_engine(url)
    engines.append(engine)
    return engine


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def schema(engine: Engine) -> dict[str, Any]:
    """Columns (name, type, nullable, default), indexes and unique constraints of every table."""
    found = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(found.get_table_names()):
        out[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(table)
            ),
            "primary_key": found.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in found.get_unique_constraints(table)
            ),
        }
    return out


def sql(engine: Engine, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return [tuple(row) for row in result] if result.returns_rows else []


def test_a_new_central_database_gets_only_the_central_tables(
    url: str, engines: list[Engine]
) -> None:
    central_db.upgrade(url)
    engine = engine_of(url, engines)
    assert tables(engine) == CENTRAL_TABLES | {"central_alembic_version"}
    assert central_db.current_revision(url) == central_db.head_revision() == "central_0001"
    # Every column the central maps, and the shared sign-in's, is there.
    found = inspect(engine)
    for table in [*CentralBase.metadata.sorted_tables, UserRow.__table__, SignInRow.__table__]:
        columns = {c["name"] for c in found.get_columns(table.name)}
        assert {c.name for c in table.columns} <= columns, table.name

    central_db.downgrade(url, "base")
    assert tables(engine) == {"central_alembic_version"}
    central_db.upgrade(url)
    assert tables(engine) == CENTRAL_TABLES | {"central_alembic_version"}


def made_by_the_bed_chain(url: str, engine: Engine) -> None:
    """A central database as an earlier version left it: the bed's chain up to 0006, with the
    central's records in it (written as the central writes them)."""
    bed_db.upgrade(url, LAST_SHARED)
    UserStore(engine).add("nurse", "Nurse", Role.NURSE, "222222", T0)
    with Session(engine) as session, session.begin():
        session.add(BedRow(bed="bed-1", clinic="clinic-a", online=True, last_seq=2, state="{}"))
        for seq in (1, 2):
            session.add(
                EventRow(bed="bed-1", seq=seq, kind="alarm", at=T0, received_at=T0, payload="{}")
            )
        session.add(
            ReadingRow(
                bed="bed-1",
                source="monitor",
                metric="spo2",
                value=97.0,
                validity="valid",
                measured_at=T0,
            )
        )
        detail = json.dumps({"alarm_id": "a@1"})
        session.add(
            AuditLogRow(bed="bed-1", at=T0, user="central", action="escalated", detail=detail)
        )


def test_a_central_database_made_by_the_bed_chain_is_adopted_with_every_row(
    url: str, engines: list[Engine], tmp_path: Path
) -> None:
    engine = engine_of(url, engines)
    made_by_the_bed_chain(url, engine)
    assert tables(engine) >= BED_ONLY | CENTRAL_TABLES

    central_db.upgrade(url)

    assert tables(engine) == CENTRAL_TABLES | {"central_alembic_version"}  # bed's tables gone
    assert central_db.current_revision(url) == central_db.head_revision()
    # Every row kept, and the station reads them as before.
    assert [(b.bed, b.last_seq) for b in load_beds(engine, "clinic-a")] == [("bed-1", 2)]
    assert sql(engine, "SELECT seq FROM central_events ORDER BY seq") == [(1,), (2,)]
    assert trends(engine, "bed-1", T0)["spo2"] == [[T0.timestamp(), 97.0]]
    assert escalated_since(engine, T0) == {("bed-1", "a@1"): T0}
    assert UserStore(engine).verify("nurse", "222222", T0).role is Role.NURSE
    # The same database a new central gets.
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    if engine.dialect.name == "sqlite":
        central_db.upgrade(fresh_url)
        assert schema(engine) == schema(engine_of(fresh_url, engines))

    central_db.downgrade(url, "base")
    assert tables(engine) == {"central_alembic_version"}
    central_db.upgrade(url)
    assert tables(engine) == CENTRAL_TABLES | {"central_alembic_version"}


def test_an_adopted_database_has_the_schema_of_a_new_one_on_postgresql(
    postgres: str, postgres_server: Any, engines: list[Engine]
) -> None:
    adopted = engine_of(postgres, engines)
    made_by_the_bed_chain(postgres, adopted)
    central_db.upgrade(postgres)
    name = f"fresh_{uuid.uuid4().hex[:16]}"
    fresh_url = postgres_server.create_database(name)
    try:
        central_db.upgrade(fresh_url)
        fresh = make_engine(fresh_url)
        try:
            assert schema(adopted) == schema(fresh)
        finally:
            fresh.dispose()
    finally:
        postgres_server.drop_database(name)


def untouched(engine: Engine, before: set[str]) -> bool:
    """The same tables as ``before``. PostgreSQL rolls the whole attempt back; on SQLite Alembic
    has already made its (empty) version table, which records no revision."""
    after = tables(engine)
    if engine.dialect.name == "sqlite":
        assert sql(engine, "SELECT count(*) FROM central_alembic_version") == [(0,)]
        after -= {"central_alembic_version"}
    return after == before


def test_a_bedside_database_is_refused_untouched(url: str, engines: list[Engine]) -> None:
    engine = engine_of(url, engines)
    bed_db.upgrade(url, LAST_SHARED)
    sql(
        engine,
        "INSERT INTO central_outbox (kind, at, payload) VALUES ('alarm', :at, '{}')",
        at=T0.replace(tzinfo=None),
    )
    before = tables(engine)
    with pytest.raises(RuntimeError, match="central_outbox holds 1 row"):
        central_db.upgrade(url)
    assert untouched(engine, before)
    assert sql(engine, "SELECT count(*) FROM central_outbox") == [(1,)]
    assert bed_db.current_revision(url) == LAST_SHARED
    assert central_db.current_revision(url) is None


def test_a_bed_database_with_records_at_the_bed_head_is_refused(
    url: str, engines: list[Engine]
) -> None:
    engine = engine_of(url, engines)
    bed_db.upgrade(url)
    sql(
        engine,
        "INSERT INTO device_events (source, kind, state, detail, at) "
        "VALUES ('monitor', 'availability', 'connected', '', :at)",
        at=T0.replace(tzinfo=None),
    )
    before = tables(engine)
    with pytest.raises(RuntimeError, match="device_events holds 1 row"):
        central_db.upgrade(url)
    assert untouched(engine, before)
    assert central_db.current_revision(url) is None


def test_users_added_before_the_first_start_are_kept(tmp_path: Path) -> None:
    """docs/central.md: `vigil users add --db` on the central's new, empty database (it has no
    tables yet, so the command runs the bed's chain), then the central's first start adopts it;
    later `vigil users` runs the central's chain on it."""
    from service.cli import main

    url = f"sqlite:///{tmp_path / 'central.db'}"
    add = ["users", "add", "anna", "--role", "nurse", "--pin-stdin", "--db", url]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO("246810\n"))
        assert main(add) == 0
    assert not central_db.is_central_database(url)
    central_db.upgrade(url)  # the central's first start
    assert central_db.is_central_database(url)
    engine = make_engine(url)
    try:
        assert tables(engine) == CENTRAL_TABLES | {"central_alembic_version"}
        assert UserStore(engine).verify("anna", "246810", T0).role is Role.NURSE
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.stdin", io.StringIO("135791\n"))
            assert main([*add[:2], "ben", *add[3:]]) == 0
        assert tables(engine) == CENTRAL_TABLES | {"central_alembic_version"}
        assert {u.username for u in UserStore(engine).all()} == {"anna", "ben"}
    finally:
        engine.dispose()
