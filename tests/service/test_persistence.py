"""A real SQLite file: migrations up and down, WAL, the writer, and a failing disk."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from drivers.clock import FakeClock
from drivers.readings import Availability, AvailabilityChange, Metric, Validity, VitalReading
from service.alarms import AlarmEngine
from service.alarms.model import ServiceFault
from service.bus import EventBus
from service.events import BusEvent
from service.persistence.db import downgrade, make_engine, upgrade
from service.persistence.models import AlarmLogRow, DeviceEventRow, ReadingRow
from service.persistence.writer import PersistenceWriter, active_alarms, write_events

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    upgrade(url)
    return make_engine(url)


def test_migrations_up_down_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    tables = set(inspect(make_engine(url)).get_table_names())
    assert {"readings", "device_events", "pump_readings", "alarm_log"} <= tables
    downgrade(url, "base")
    assert set(inspect(make_engine(url)).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    assert "readings" in inspect(make_engine(url)).get_table_names()


def test_sqlite_runs_in_wal_mode_with_full_sync(db: Engine, tmp_path: Path) -> None:
    with db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    raw = sqlite3.connect(tmp_path / "vigil.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    raw.close()


def test_events_round_trip_with_utc_times(db: Engine) -> None:
    reading = VitalReading("monitor", Metric.SPO2, 97.0, T0, Validity.VALID)
    invalid = VitalReading("monitor", Metric.PULSE_RATE, None, T0, Validity.INVALID)
    change = AvailabilityChange("monitor", Availability.STALE, T0, "silent")
    write_events(db, [reading, invalid, change])
    with Session(db) as session:
        rows = session.scalars(select(ReadingRow).order_by(ReadingRow.id)).all()
        assert [(r.metric, r.value, r.validity) for r in rows] == [
            ("spo2", 97.0, "valid"),
            ("pulse_rate", None, "invalid"),
        ]
        assert rows[0].measured_at == T0
        event = session.scalars(select(DeviceEventRow)).one()
        assert (event.kind, event.state, event.detail) == ("availability", "stale", "silent")


def test_active_alarms_are_restored_from_the_log(db: Engine) -> None:
    engine = AlarmEngine()
    raised = engine.observe(AvailabilityChange("monitor", Availability.STALE, T0), T0)
    raised += engine.observe(VitalReading("m", Metric.SPO2, 85.0, T0), T0)
    cleared = engine.observe(VitalReading("m", Metric.SPO2, 95.0, T0), T0 + timedelta(seconds=3))
    write_events(db, [*raised, *cleared])
    restored = active_alarms(db)
    assert [a.key for a in restored] == ["device_link:monitor"]
    assert restored[0].started_at == T0


async def test_writer_keeps_everything_through_a_full_disk(db: Engine) -> None:
    bus: EventBus[BusEvent] = EventBus()
    faults: list[ServiceFault] = []
    failures = {"left": 3}

    def flaky_write(engine: Engine, events: Sequence[BusEvent]) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("database or disk is full"))
        write_events(engine, events)

    writer = PersistenceWriter(
        db, bus.subscribe("persistence"), faults.append, FakeClock(), flaky_write
    )
    task = asyncio.create_task(writer.run())
    for i in range(50):
        bus.publish(VitalReading("m", Metric.SPO2, 90.0 + i % 10, T0 + timedelta(seconds=i)))
    async with asyncio.timeout(10):
        while writer.written < 50:
            await asyncio.sleep(0.01)
    task.cancel()
    assert [(f.active, f.detail.split(":")[0]) for f in faults] == [
        (True, "storage failing"),
        (False, "storage recovered"),
    ]
    assert "disk is full" in faults[0].detail
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(ReadingRow)) == 50


async def test_flush_writes_what_is_queued(db: Engine) -> None:
    bus: EventBus[BusEvent] = EventBus()
    writer = PersistenceWriter(db, bus.subscribe("persistence"), lambda f: None, FakeClock())
    engine = AlarmEngine()
    for t in engine.observe(AvailabilityChange("pump", Availability.DISCONNECTED, T0), T0):
        bus.publish(t)
    await writer.flush()
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(AlarmLogRow)) == 1


def test_head_revision_matches_alembic_and_a_current_database_skips_alembic(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from alembic.script import ScriptDirectory

    from service.persistence.db import alembic_config, current_revision, head_revision

    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert current_revision(url) is None
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head_revision() == head
    upgrade(url)
    assert current_revision(url) == head
    # Already at the head: upgrading again does not even load Alembic (memory, start-up time).
    probe = (
        "import sys; from service.persistence.db import upgrade; "
        f"upgrade({url!r}); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_0007_takes_the_central_tables_out_of_a_bed_database_and_back(tmp_path: Path) -> None:
    """The clinic central station has its own chain (central/migrations): 0007 drops the tables
    0005 made for it in every bed's database; the bed's outbox and its rows stay."""
    url = f"sqlite:///{tmp_path / 'bed.db'}"
    upgrade(url, "0006_alarm_limits")
    engine = make_engine(url)
    try:
        assert {"central_beds", "central_events", "central_outbox"} <= tables_of(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO central_outbox (kind, at, payload) "
                "VALUES ('alarm', '2026-11-22 09:00:00.000000', '{}')"
            )
        upgrade(url)
        tables = tables_of(engine)
        assert "central_outbox" in tables and not {"central_beds", "central_events"} & tables
        assert outbox_rows(engine) == 1
        downgrade(url, "0006_alarm_limits")
        assert {"central_beds", "central_events", "central_outbox"} <= tables_of(engine)
        assert outbox_rows(engine) == 1
        upgrade(url)
        assert not {"central_beds", "central_events"} & tables_of(engine)
    finally:
        engine.dispose()


def test_0007_refuses_a_database_holding_central_records(tmp_path: Path) -> None:
    """A central station's database made by the bed's chain is never stripped by the bed's
    upgrade: its records stay, and the central adopts it with its own chain."""
    from service.persistence.db import current_revision

    url = f"sqlite:///{tmp_path / 'central.db'}"
    upgrade(url, "0006_alarm_limits")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO central_events (bed, seq, kind, at, received_at, payload) "
                "VALUES ('bed-1', 1, 'alarm', '2026-11-22 09:00:00', '2026-11-22 09:00:00', '{}')"
            )
        with pytest.raises(RuntimeError, match="central_events holds 1 row"):
            upgrade(url)
        assert current_revision(url) == "0006_alarm_limits"
        assert {"central_beds", "central_events"} <= tables_of(engine)
    finally:
        engine.dispose()


def tables_of(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def outbox_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM central_outbox").scalar() or 0)
