"""The persistence writer: drains its bus subscription into the database in batches.

It runs on its own task and writes in a worker thread, so the acquisition and alarm paths never
wait for the disk. It never drops an event: a failed write (disk full, database locked, I/O
error) keeps the batch, raises the technical fault ``storage`` once, retries with back-off, and
clears the fault when a write succeeds again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from drivers.clock import Clock
from drivers.readings import AvailabilityChange, DeviceConditions, PumpReading, VitalReading
from service.alarms.engine import NOTES
from service.alarms.model import (
    Alarm,
    AlarmTransition,
    ConditionState,
    Event,
    Kind,
    OperatorAction,
    Priority,
    ServiceFault,
    SignalState,
)
from service.bus import Subscription
from service.events import BusEvent
from service.persistence.models import (
    AlarmLogRow,
    AuditLogRow,
    DeviceEventRow,
    PumpReadingRow,
    ReadingRow,
)

log = logging.getLogger(__name__)

BATCH = 500


def _rows(events: Sequence[BusEvent]) -> dict[type, list[dict[str, Any]]]:
    rows: dict[type, list[dict[str, Any]]] = {
        AuditLogRow: [],
        ReadingRow: [],
        DeviceEventRow: [],
        PumpReadingRow: [],
        AlarmLogRow: [],
    }
    for e in events:
        if isinstance(e, VitalReading):
            rows[ReadingRow].append(
                {
                    "source": e.source,
                    "metric": e.metric.value,
                    "value": e.value,
                    "validity": e.validity.value,
                    "measured_at": e.measured_at,
                }
            )
        elif isinstance(e, AvailabilityChange):
            rows[DeviceEventRow].append(
                {
                    "source": e.source,
                    "kind": "availability",
                    "state": e.availability.value,
                    "detail": e.detail[:512],
                    "at": e.at,
                }
            )
        elif isinstance(e, DeviceConditions):
            rows[DeviceEventRow].append(
                {
                    "source": e.source,
                    "kind": "conditions",
                    "state": ",".join(sorted(c.value for c in e.active)),
                    "detail": "",
                    "at": e.at,
                }
            )
        elif isinstance(e, ServiceFault):
            rows[DeviceEventRow].append(
                {
                    "source": "vigil",
                    "kind": "service",
                    "state": f"{e.name}:{e.active}",
                    "detail": e.detail[:512],
                    "at": e.at,
                }
            )
        elif isinstance(e, PumpReading):
            rows[PumpReadingRow].append(
                {
                    "source": e.source,
                    "channel": e.channel,
                    "at": e.at,
                    "state": e.state.value,
                    "rate_ml_h": e.rate_ml_h,
                    "volume_infused_ml": e.volume_infused_ml,
                    "vtbi_ml": e.vtbi_ml,
                    "time_remaining_s": e.time_remaining_s,
                    "drug": e.drug,
                    "conditions": ",".join(sorted(c.value for c in e.conditions)),
                }
            )
        elif isinstance(e, AlarmTransition):
            a = e.alarm
            rows[AlarmLogRow].append(
                {
                    "alarm_id": a.id,
                    "key": a.key,
                    "kind": a.kind.value,
                    "priority": a.priority.value,
                    "state": e.state,
                    "message": e.message[:256],
                    "source": a.source,
                    "started_at": a.started_at,
                    "at": e.at,
                    "event": e.event.value,
                    "condition": a.condition.value,
                    "signal": a.signal.value,
                    "user": e.user,
                    "notify": e.notify,
                    "cause": a.cause[:256],
                    "mono": e.mono,
                }
            )
            if e.user is not None:
                rows[AuditLogRow].append(
                    {
                        "at": e.at,
                        "mono": e.mono,
                        "user": e.user,
                        "action": e.event.value,
                        "detail": f"{a.id}: {e.message}"[:512],
                    }
                )
        elif isinstance(e, OperatorAction):
            rows[AuditLogRow].append(
                {
                    "at": e.at,
                    "mono": e.mono,
                    "user": e.user,
                    "action": e.action,
                    "detail": e.detail[:512],
                }
            )
    return rows


def write_events(engine: Engine, events: Sequence[BusEvent]) -> None:
    """Write one batch in one transaction (all or nothing)."""
    with engine.begin() as conn:
        for table, values in _rows(events).items():
            if values:
                conn.execute(insert(table), values)


def active_alarms(engine: Engine) -> list[Alarm]:
    """Alarms still shown at the last shutdown (their last logged signal is not OFF), each
    rebuilt from the whole history of its alarm id in the log (``_rebuild``)."""
    last_ids = select(func.max(AlarmLogRow.id)).group_by(AlarmLogRow.alarm_id)
    with Session(engine) as session:
        shown = session.scalars(
            select(AlarmLogRow.alarm_id).where(
                AlarmLogRow.id.in_(last_ids), AlarmLogRow.signal != SignalState.OFF.value
            )
        ).all()
        rows = (
            session.scalars(
                select(AlarmLogRow).where(AlarmLogRow.alarm_id.in_(shown)).order_by(AlarmLogRow.id)
            ).all()
            if shown
            else []
        )
    history: dict[str, list[AlarmLogRow]] = {}
    for row in rows:
        history.setdefault(row.alarm_id, []).append(row)
    return [alarm for h in history.values() if (alarm := _rebuild(h)) is not None]


#: Transitions whose logged message is the alarm's message with a note after it.
_NOTES = {event.value: note for event, note in NOTES.items()}


def _rebuild(rows: Sequence[AlarmLogRow]) -> Alarm | None:
    """One alarm as the engine last had it, from its log rows (oldest first), replaying what each
    transition does (service/alarms/engine.py): escalated once escalated; latching once it was
    HIGH (physiological alarms only); responsible from the last acceptance not followed by a
    rejection; acknowledged from the last acknowledgement still in force (a rejection, a return
    or a worse condition ends it; a reminder keeps it); sounding since the last time its signal
    started sounding. The message is the alarm's own (escalation and reminder rows add a note
    to it)."""
    last = rows[-1]
    if last.signal == SignalState.OFF.value or any(r.event == Event.ENDED.value for r in rows):
        return None
    acked: tuple[str | None, datetime] | None = None
    responsible: str | None = None
    escalated = latching = False
    sounding: datetime | None = None
    message = ""
    previous: AlarmLogRow | None = None
    for r in rows:
        priority = Priority(r.priority)
        # As the engine: a physiological alarm latches once it was HIGH; technical ones never.
        latching = latching or (priority is Priority.HIGH and r.kind == Kind.PHYSIOLOGICAL.value)
        rising = (
            r.event == Event.UPDATED.value
            and previous is not None
            and priority.rank > Priority(previous.priority).rank
        )
        resound = r.event == Event.RAISED.value or rising
        if r.event == Event.ESCALATED.value:
            escalated = True
        elif r.event == Event.ACKNOWLEDGED.value:
            acked = (r.user, r.at)
        elif r.event == Event.RESPONSIBILITY_ACCEPTED.value:
            responsible = r.user
        elif r.event == Event.RESPONSIBILITY_REJECTED.value:
            responsible, acked = None, None
        if resound:
            acked = None
        on = r.signal == SignalState.ON.value
        if on and (resound or previous is None or previous.signal != SignalState.ON.value):
            sounding = r.at
        message = r.message.removesuffix(_NOTES.get(r.event, ""))
        previous = r
    return Alarm(
        id=last.alarm_id,
        key=last.key,
        kind=Kind(last.kind),
        priority=Priority(last.priority),
        message=message,
        source=last.source,
        started_at=rows[0].started_at,
        condition=ConditionState(last.condition),
        signal=SignalState(last.signal),
        latching=latching,
        acknowledged_by=None if acked is None else acked[0],
        acknowledged_at=None if acked is None else acked[1],
        responsible=responsible,
        escalated=escalated,
        cause=last.cause,
        sounding_since=sounding,
    )


class PersistenceWriter:
    def __init__(
        self,
        engine: Engine,
        subscription: Subscription[BusEvent],
        report_fault: Callable[[ServiceFault], None],
        clock: Clock,
        write: Callable[[Engine, Sequence[BusEvent]], None] = write_events,
    ) -> None:
        self.engine = engine
        self.sub = subscription
        self._report = report_fault
        self._clock = clock
        self._write = write
        self.failing = False
        self.written = 0
        self.last_error = ""
        self._pending: list[BusEvent] = []

    async def run(self) -> None:
        pending = self._pending
        delay = 0.2
        while True:
            if not pending:
                pending.append(await self.sub.get())
                pending += self.sub.drain(BATCH - 1)
            try:
                await asyncio.to_thread(self._write, self.engine, pending)
            except (SQLAlchemyError, OSError) as exc:
                self.last_error = str(exc).splitlines()[0][:200]
                if not self.failing:
                    self.failing = True
                    log.error("storage failing, keeping %d events: %s", len(pending), exc)
                    self._report(self._fault(True, f"storage failing: {self.last_error}"))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.written += len(pending)
            pending.clear()
            delay = 0.2
            if self.failing:
                self.failing = False
                log.info("storage recovered")
                self._report(self._fault(False, "storage recovered"))

    async def flush(self, timeout: float = 5.0) -> None:
        """Write everything queued now (used at shutdown)."""
        events = [*self._pending, *self.sub.drain()]
        self._pending.clear()
        if events:
            await asyncio.wait_for(asyncio.to_thread(self._write, self.engine, events), timeout)
            self.written += len(events)

    def _fault(self, active: bool, detail: str) -> ServiceFault:
        now: datetime = self._clock.utcnow()
        return ServiceFault("storage", active, detail, now)
