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

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from drivers.clock import Clock
from drivers.readings import AvailabilityChange, DeviceConditions, PumpReading, VitalReading
from service.alarms.model import (
    Alarm,
    AlarmTransition,
    ConditionState,
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
    """Alarms still shown at the last shutdown (their last logged signal is not OFF)."""
    with Session(engine) as session:
        rows = session.scalars(select(AlarmLogRow).order_by(AlarmLogRow.id)).all()
    last: dict[str, AlarmLogRow] = {}
    for row in rows:
        last[row.alarm_id] = row
    restored = []
    for r in last.values():
        if r.signal == SignalState.OFF.value:
            continue
        acked = r.signal == SignalState.ACKNOWLEDGED.value
        restored.append(
            Alarm(
                id=r.alarm_id,
                key=r.key,
                kind=Kind(r.kind),
                priority=Priority(r.priority),
                message=r.message,
                source=r.source,
                started_at=r.started_at,
                condition=ConditionState(r.condition),
                signal=SignalState(r.signal),
                latching=Priority(r.priority) is Priority.HIGH,
                acknowledged_by=r.user if acked else None,
                acknowledged_at=r.at if acked else None,
                cause=r.cause,
            )
        )
    return restored


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
