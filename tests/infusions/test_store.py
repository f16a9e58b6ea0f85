"""The session tables on a real SQLite file: migration 0004 up and down, round trips."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, inspect

from service.infusions.logic import Baseline, Note, NoteKind, Phase, Plan
from service.infusions.store import InfusionStore
from service.persistence.db import downgrade, make_engine, upgrade
from service.persistence.models import AlarmLogRow, PumpReadingRow, ReadingRow

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TABLES = {"patients", "infusion_sessions", "session_notes"}


def test_migration_0004_up_and_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()
    downgrade(url, "0003_users")
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names())
    assert not TABLES & names and "users" in names
    engine.dispose()
    upgrade(url)  # and up again


def test_round_trips(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    store = InfusionStore(make_engine(url))
    plan = Plan(70, 0.5, 1.0, 40)
    created = store.create(
        bed="bed-1", patient="P-0042", name="Ada", drug="ketamine", plan=plan, at=T0, user="nurse"
    )
    assert store.current("bed-1") == created and store.current("bed-2") is None
    started = replace(
        created,
        phase=Phase.INFUSION,
        started_at=T0 + timedelta(minutes=10),
        started_by="nurse",
        baseline=Baseline(150, 95, 70, 2),
        gate_override_reason="usual for this patient",
        gate_override_by="nurse",
    )
    store.save(started)
    assert store.get(created.id) == started
    assert store.patient_name("P-0042") == "Ada"

    # The same patient again: one patient row, a second session.
    again = store.create(
        bed="bed-1", patient="P-0042", name=None, drug="ketamine", plan=plan, at=T0, user="n"
    )
    assert again.id != created.id and store.patient_name("P-0042") == "Ada"
    assert [r.id for r in store.history()] == [again.id, created.id]
    ended = replace(again, phase=Phase.ENDED, discharged_at=T0, discharged_by="nurse")
    store.save(ended)
    assert store.current("bed-1") == started

    store.add_note(Note(created.id, T0, "sitter", NoteKind.NAUSEA, "mild"))
    assert store.notes(created.id) == [Note(created.id, T0, "sitter", NoteKind.NAUSEA, "mild")]


def test_window_queries(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as db:
        db.execute(
            insert(ReadingRow),
            [
                {"source": "m", "metric": "hr", "value": 70.0, "validity": "valid",
                 "measured_at": T0 + timedelta(minutes=m)}
                for m in (-5, 1, 2)
            ]
            + [{"source": "m", "metric": "hr", "value": None, "validity": "invalid",
                "measured_at": T0 + timedelta(minutes=3)}],
        )  # fmt: skip
        db.execute(
            insert(PumpReadingRow),
            [
                {"source": "p", "at": T0 + timedelta(minutes=m), "state": "infusing",
                 "rate_ml_h": 52.5, "volume_infused_ml": vol}
                for m, vol in ((1, 5.0), (2, 6.0), (3, None))
            ],
        )  # fmt: skip
        db.execute(
            insert(AlarmLogRow),
            {
                "alarm_id": "a", "key": "k", "kind": "technical", "priority": "medium",
                "state": "active", "message": "m", "source": "s", "started_at": T0,
                "at": T0 + timedelta(minutes=1), "event": "raised", "condition": "active",
                "signal": "on",
            },
        )  # fmt: skip
    store = InfusionStore(engine)
    end = T0 + timedelta(minutes=10)
    assert len(store.readings(T0, end)) == 3
    assert len(store.samples(T0, end)) == 2  # the invalid one is not a sample
    assert store.last_volume_infused(T0, end) == 6.0
    assert [e.event for e in store.alarm_events(T0, end)] == ["raised"]
