"""Retention on a real SQLite file: old records go, open sessions and shown alarms stay."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from service.infusions.logic import Note, NoteKind, Phase, Plan
from service.infusions.store import InfusionStore
from service.infusions.tables import InfusionSessionRow, PatientRow, SessionNoteRow
from service.persistence.db import make_engine, upgrade
from service.persistence.models import AlarmLogRow, AuditLogRow, PumpReadingRow, ReadingRow
from service.persistence.retention import prune
from service.settings import Settings, load_settings

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=10)
PLAN = Plan(70, 0.5, 1.0, 40)


def alarm_row(alarm_id: str, at: datetime, signal: str) -> dict[str, Any]:
    return {
        "alarm_id": alarm_id, "key": alarm_id, "kind": "physiological", "priority": "medium",
        "state": "x", "message": "m", "source": "monitor", "started_at": OLD, "at": at,
        "event": "e", "condition": "inactive", "signal": signal,
    }  # fmt: skip


def count(engine: Any, table: Any) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_prune_deletes_old_records_and_keeps_what_is_still_needed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = InfusionStore(engine)
    # An old discharged session (goes, with its note and its patient), a recent discharged one
    # (stays), and a session still open since long ago (stays, with its readings).
    old = store.create(bed="b", patient="P-OLD", name="X", drug="k", plan=PLAN, at=OLD, user="n")
    store.save(replace(old, phase=Phase.ENDED, discharged_at=OLD + timedelta(hours=2)))
    store.add_note(Note(old.id, OLD, "sitter", NoteKind.NAUSEA, ""))
    recent = store.create(bed="b", patient="P-NEW", name=None, drug="k", plan=PLAN, at=RECENT,
                          user="n")  # fmt: skip
    store.save(replace(recent, phase=Phase.ENDED, discharged_at=RECENT))
    forgotten_at = NOW - timedelta(days=380)
    store.create(bed="c", patient="P-OPEN", name=None, drug="k", plan=PLAN, at=forgotten_at,
                 user="n")  # fmt: skip
    with engine.begin() as db:
        db.execute(
            insert(ReadingRow),
            [{"source": "m", "metric": "hr", "value": 70.0, "validity": "valid", "measured_at": t}
             for t in (OLD, forgotten_at + timedelta(minutes=1), RECENT)],
        )  # fmt: skip
        db.execute(insert(PumpReadingRow), [{"source": "p", "at": t, "state": "infusing"}
                                            for t in (OLD, RECENT)])  # fmt: skip
        db.execute(insert(AuditLogRow), [{"at": t, "user": "n", "action": "a", "detail": ""}
                                         for t in (OLD, RECENT)])  # fmt: skip
        db.execute(
            insert(AlarmLogRow),
            [
                alarm_row("ended", OLD, "on"),
                alarm_row("ended", OLD + timedelta(minutes=1), "off"),
                alarm_row("still-shown", OLD, "on"),  # never ended: restores after restart
                alarm_row("ended-recently", OLD, "on"),
                alarm_row("ended-recently", RECENT, "off"),
            ],
        )

    pruned = prune(engine, NOW - timedelta(days=365))

    assert pruned.cutoff == forgotten_at  # moved back to the open session's start
    assert pruned.counts["readings"] == 1 and count(engine, ReadingRow) == 2
    assert count(engine, PumpReadingRow) == 1 and count(engine, AuditLogRow) == 1
    with Session(engine) as s:
        left = sorted(s.scalars(select(AlarmLogRow.alarm_id)).all())
        assert left == ["ended-recently", "ended-recently", "still-shown"]
        assert sorted(s.scalars(select(PatientRow.pseudonym)).all()) == ["P-NEW", "P-OPEN"]
        assert s.scalar(select(func.count()).select_from(InfusionSessionRow)) == 2
    assert count(engine, SessionNoteRow) == 0
    assert prune(engine, NOW - timedelta(days=365)).total == 0  # nothing more to do


def test_retention_and_session_rules_come_from_the_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text("retention_days = 3650\n[session]\ngate_sys = 150\nmin_recovery_min = 45\n")
    settings = load_settings(config)
    assert settings.retention_days == 3650
    rules = settings.session.rules()
    assert rules.gate_sys == 150 and rules.gate_dia == 90
    assert rules.min_recovery == timedelta(minutes=45)
    with pytest.raises(ValidationError, match="at least 30"):
        Settings(retention_days=7)
    with pytest.raises(ValidationError):
        Settings(session={"gate_sys": 40})
    with pytest.raises(ValidationError):
        Settings(session={"gate_systolic": 150})  # a misspelt rule is an error, not ignored
