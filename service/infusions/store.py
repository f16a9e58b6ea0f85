"""The only database code of infusion sessions. Every method is synchronous and blocking: the
manager calls them through ``asyncio.to_thread``. Each write is one committed transaction, so
once a method returns the change is on disk (WAL, ``synchronous=FULL``, see
service/persistence/db.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from service.infusions.logic import (
    AlarmEvent,
    Baseline,
    Note,
    NoteKind,
    Phase,
    Plan,
    Sample,
    SessionRecord,
    plan_problems,
)
from service.infusions.tables import InfusionSessionRow, PatientRow, SessionNoteRow
from service.persistence.models import AlarmLogRow, PumpReadingRow, ReadingRow


@dataclass(frozen=True, slots=True)
class RawReading:
    source: str
    metric: str
    value: float | None
    validity: str
    measured_at: datetime


def _number(value: object) -> float:
    """A stored number as a float; NaN for anything else (the plan check then names it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _record(row: InfusionSessionRow, patient: str) -> SessionRecord:
    """The record of a row. A row that is damaged (an old database, a hand edit) still gives a
    record: with ``problem`` saying what is wrong and every number that cannot be trusted left
    out, so that nothing built from it (views, the live socket, the engine) can fail."""
    problems: list[str] = []
    raw = {
        "weight_kg": row.weight_kg,
        "dose_mg_per_kg": row.dose_mg_per_kg,
        "concentration_mg_ml": row.concentration_mg_ml,
        "duration_min": row.duration_min,
    }
    problems += plan_problems(raw)
    plan = Plan(*(_number(v) for v in raw.values()))
    try:
        phase = Phase(row.phase)
    except ValueError:
        problems.append(f"unknown phase {row.phase!r}")
        phase = Phase.ENDED  # not an open session: the bed can go on
    base = None
    if row.baseline_sys is not None and row.baseline_dia is not None:
        values = (row.baseline_sys, row.baseline_dia, row.baseline_hr)
        if all(v is None or math.isfinite(_number(v)) for v in values):
            hr = None if row.baseline_hr is None else _number(row.baseline_hr)
            count = row.baseline_readings if isinstance(row.baseline_readings, int) else 0
            base = Baseline(_number(row.baseline_sys), _number(row.baseline_dia), hr, count)
        else:
            problems.append(f"baseline is not a number ({values!r})")
    return SessionRecord(
        id=row.id,
        bed=row.bed,
        patient=patient,
        drug=row.drug,
        plan=plan,
        phase=phase,
        created_at=row.created_at,
        created_by=row.created_by,
        started_at=row.started_at,
        started_by=row.started_by,
        infusion_ended_at=row.infusion_ended_at,
        infusion_ended_by=row.infusion_ended_by,
        baseline=base,
        gate_override_reason=row.gate_override_reason,
        gate_override_by=row.gate_override_by,
        discharged_at=row.discharged_at,
        discharged_by=row.discharged_by,
        discharge_override_reason=row.discharge_override_reason,
        problem="; ".join(problems) or None,
    )


#: Stand-in time of a damaged record whose own time cannot be read.
_UNREADABLE_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _unreadable(db: Session, session_id: int, error: Exception) -> SessionRecord:
    """A record whose row the ORM could not even load (e.g. a time that does not parse): its
    identity from the raw text, marked damaged and treated as ended."""
    row = db.execute(
        text(
            "SELECT CAST(s.bed AS TEXT), CAST(s.drug AS TEXT), CAST(s.created_at AS TEXT), "
            "CAST(s.created_by AS TEXT), CAST(p.pseudonym AS TEXT) FROM infusion_sessions s "
            "LEFT JOIN patients p ON p.id = s.patient_id WHERE s.id = :id"
        ),
        {"id": session_id},
    ).one()
    bed, drug, created, created_by, patient = row
    try:
        created_at = datetime.fromisoformat(created).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        created_at = _UNREADABLE_TIME
    nan = math.nan
    return SessionRecord(
        id=session_id,
        bed=bed or "?",
        patient=patient or "?",
        drug=drug or "?",
        plan=Plan(nan, nan, nan, nan),
        phase=Phase.ENDED,
        created_at=created_at,
        created_by=created_by or "?",
        problem=f"the stored record cannot be read: {type(error).__name__}: {error}"[:300],
    )


def _changes(record: SessionRecord) -> dict[str, Any]:
    """The columns that change after creation."""
    base = record.baseline
    return {
        "phase": record.phase.value,
        "started_at": record.started_at,
        "started_by": record.started_by,
        "infusion_ended_at": record.infusion_ended_at,
        "infusion_ended_by": record.infusion_ended_by,
        "baseline_sys": base.sys if base else None,
        "baseline_dia": base.dia if base else None,
        "baseline_hr": base.hr if base else None,
        "baseline_readings": base.readings if base else None,
        "gate_override_reason": record.gate_override_reason,
        "gate_override_by": record.gate_override_by,
        "discharged_at": record.discharged_at,
        "discharged_by": record.discharged_by,
        "discharge_override_reason": record.discharge_override_reason,
    }


class InfusionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- sessions --------------------------------------------------------------------------

    def create(
        self,
        *,
        bed: str,
        patient: str,
        name: str | None,
        drug: str,
        plan: Plan,
        at: datetime,
        user: str,
    ) -> SessionRecord:
        with Session(self.engine) as db, db.begin():
            found = db.scalar(select(PatientRow).where(PatientRow.pseudonym == patient))
            if found is None:
                found = PatientRow(pseudonym=patient, name=name, created_at=at)
                db.add(found)
                db.flush()
            elif name:
                found.name = name
            row = InfusionSessionRow(
                bed=bed,
                patient_id=found.id,
                drug=drug,
                weight_kg=plan.weight_kg,
                dose_mg_per_kg=plan.dose_mg_per_kg,
                concentration_mg_ml=plan.concentration_mg_ml,
                duration_min=plan.duration_min,
                phase=Phase.BASELINE.value,
                created_at=at,
                created_by=user,
            )
            db.add(row)
            db.flush()
            return _record(row, patient)

    def save(self, record: SessionRecord) -> None:
        with Session(self.engine) as db, db.begin():
            row = db.get_one(InfusionSessionRow, record.id)
            for column, value in _changes(record).items():
                setattr(row, column, value)

    def _query(self, db: Session, *where: Any, limit: int | None = None) -> list[SessionRecord]:
        """Matching records, newest first. Rows are loaded one at a time so that one damaged
        row gives one damaged record, never an error for the whole list."""
        ids = db.scalars(
            select(InfusionSessionRow.id)
            .where(*where)
            .order_by(InfusionSessionRow.id.desc())
            .limit(limit)
        ).all()
        out = []
        for session_id in ids:
            stmt = (
                select(InfusionSessionRow, PatientRow.pseudonym)
                .join(PatientRow, PatientRow.id == InfusionSessionRow.patient_id)
                .where(InfusionSessionRow.id == session_id)
            )
            try:
                found = db.execute(stmt).one_or_none()
                record = None if found is None else _record(found[0], found[1])
            except (ArithmeticError, LookupError, TypeError, ValueError, StatementError) as exc:
                db.rollback()
                record = _unreadable(db, session_id, exc)
            if record is not None:
                out.append(record)
        return out

    def get(self, session_id: int) -> SessionRecord | None:
        with Session(self.engine) as db:
            found = self._query(db, InfusionSessionRow.id == session_id)
        return found[0] if found else None

    def current(self, bed: str) -> SessionRecord | None:
        """The bed's newest session that has not ended (there is at most one)."""
        with Session(self.engine) as db:
            found = self._query(
                db, InfusionSessionRow.bed == bed, InfusionSessionRow.phase != Phase.ENDED.value
            )
        # A damaged row with an unreadable phase is shown as ended: not the open session.
        return next((r for r in found if r.phase is not Phase.ENDED), None)

    def damaged(self, bed: str) -> list[SessionRecord]:
        """The bed's records that could not be read whole and are not ended (start-up check)."""
        with Session(self.engine) as db:
            found = self._query(
                db, InfusionSessionRow.bed == bed, InfusionSessionRow.phase != Phase.ENDED.value
            )
        return [r for r in found if r.problem is not None]

    def history(self, limit: int = 100) -> list[SessionRecord]:
        with Session(self.engine) as db:
            return self._query(db, limit=limit)

    def patient_name(self, pseudonym: str) -> str | None:
        with Session(self.engine) as db:
            return db.scalar(select(PatientRow.name).where(PatientRow.pseudonym == pseudonym))

    # -- notes -----------------------------------------------------------------------------

    def add_note(self, note: Note) -> None:
        with Session(self.engine) as db, db.begin():
            db.add(
                SessionNoteRow(
                    session_id=note.session_id,
                    at=note.at,
                    user=note.user,
                    kind=note.kind.value,
                    text=note.text,
                )
            )

    def notes(self, session_id: int) -> list[Note]:
        with Session(self.engine) as db:
            rows = db.scalars(
                select(SessionNoteRow)
                .where(SessionNoteRow.session_id == session_id)
                .order_by(SessionNoteRow.at, SessionNoteRow.id)
            ).all()
        return [Note(r.session_id, r.at, r.user, NoteKind(r.kind), r.text) for r in rows]

    # -- what was recorded in a window -----------------------------------------------------

    def readings(self, start: datetime, end: datetime) -> list[RawReading]:
        """Every stored vital reading measured in [start, end], oldest first."""
        with Session(self.engine) as db:
            rows = db.scalars(
                select(ReadingRow)
                .where(ReadingRow.measured_at >= start, ReadingRow.measured_at <= end)
                .order_by(ReadingRow.measured_at, ReadingRow.id)
            ).all()
        return [RawReading(r.source, r.metric, r.value, r.validity, r.measured_at) for r in rows]

    def samples(self, start: datetime, end: datetime) -> list[Sample]:
        """Only valid readings: questionable ones (e.g. an old NIBP) never set a baseline."""
        return [
            Sample(r.metric, r.value, r.measured_at)
            for r in self.readings(start, end)
            if r.validity == "valid" and r.value is not None
        ]

    def last_volume_infused(self, start: datetime, end: datetime) -> float | None:
        with Session(self.engine) as db:
            return db.scalar(
                select(PumpReadingRow.volume_infused_ml)
                .where(
                    PumpReadingRow.at >= start,
                    PumpReadingRow.at <= end,
                    PumpReadingRow.volume_infused_ml.is_not(None),
                )
                .order_by(PumpReadingRow.at.desc(), PumpReadingRow.id.desc())
                .limit(1)
            )

    def alarm_events(self, start: datetime, end: datetime) -> list[AlarmEvent]:
        with Session(self.engine) as db:
            rows = db.scalars(
                select(AlarmLogRow)
                .where(AlarmLogRow.at >= start, AlarmLogRow.at <= end)
                .order_by(AlarmLogRow.at, AlarmLogRow.id)
            ).all()
        return [
            AlarmEvent(
                r.alarm_id, r.key, r.priority, r.message, r.event, r.at, r.started_at, r.user
            )
            for r in rows
        ]
