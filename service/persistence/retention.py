"""Retention: delete records older than the clinic keeps them (``retention_days``).

What goes, once older than the cut-off: vital and pump readings, device events, the audit log,
alarm-log rows of alarms that have ended, and discharged sessions (with their notes; a patient
with no session left goes too). Never touched: a still-open session's records (the cut-off is
moved back to its creation), an alarm that is still shown (its rows stay whatever their age),
users and sign-ins. One transaction per run; the runtime runs it in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from service.infusions.tables import InfusionSessionRow, PatientRow, SessionNoteRow
from service.persistence.models import (
    AlarmLogRow,
    AuditLogRow,
    DeviceEventRow,
    PumpReadingRow,
    ReadingRow,
)


@dataclass(frozen=True, slots=True)
class Pruned:
    cutoff: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def prune(engine: Engine, cutoff: datetime) -> Pruned:
    """Delete what is older than ``cutoff`` (see the module text); returns the counts."""
    counts: dict[str, int] = {}
    with Session(engine) as session, session.begin():
        oldest_open = session.scalar(
            select(func.min(InfusionSessionRow.created_at)).where(
                InfusionSessionRow.discharged_at.is_(None)
            )
        )
        if oldest_open is not None and oldest_open < cutoff:
            cutoff = oldest_open

        def run(name: str, statement: object) -> None:
            result = session.execute(statement)  # type: ignore[call-overload]
            counts[name] = int(result.rowcount or 0)

        run("readings", delete(ReadingRow).where(ReadingRow.measured_at < cutoff))
        run("pump_readings", delete(PumpReadingRow).where(PumpReadingRow.at < cutoff))
        run("device_events", delete(DeviceEventRow).where(DeviceEventRow.at < cutoff))
        run("audit_log", delete(AuditLogRow).where(AuditLogRow.at < cutoff))
        # An alarm's rows go only when its last row is older than the cut-off and says it ended
        # ("off"): the rows of a shown alarm are what restores it after a restart.
        last = (
            select(AlarmLogRow.alarm_id, func.max(AlarmLogRow.id).label("last_id"))
            .group_by(AlarmLogRow.alarm_id)
            .subquery()
        )
        ended = (
            select(last.c.alarm_id)
            .join(AlarmLogRow, AlarmLogRow.id == last.c.last_id)
            .where(AlarmLogRow.signal == "off", AlarmLogRow.at < cutoff)
        )
        run("alarm_log", delete(AlarmLogRow).where(AlarmLogRow.alarm_id.in_(ended)))
        old_sessions = select(InfusionSessionRow.id).where(
            InfusionSessionRow.discharged_at < cutoff
        )
        run(
            "session_notes",
            delete(SessionNoteRow).where(SessionNoteRow.session_id.in_(old_sessions)),
        )
        run(
            "infusion_sessions",
            delete(InfusionSessionRow).where(InfusionSessionRow.discharged_at < cutoff),
        )
        still_used = select(InfusionSessionRow.patient_id)
        run("patients", delete(PatientRow).where(PatientRow.id.not_in(still_used)))
    return Pruned(cutoff, counts)
