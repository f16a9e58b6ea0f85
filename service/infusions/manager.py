"""The session manager: the bed's current infusion session, its actions and its side effects.

It lives on the event loop. Database work goes through ``InfusionStore`` in a worker thread and
is awaited before the in-memory state changes, so an action the API confirms is on disk, and a
failed write leaves the session as it was. Actions are serialised by one ``asyncio.Lock`` (two
nurses pressing "start" at once get one start and one 409).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from drivers.clock import Clock
from service.alarms.model import Alarm, InfusionContext, Priority, ServiceFault
from service.events import BusEvent
from service.infusions import views
from service.infusions.logic import (
    AlarmEpisode,
    Baseline,
    DischargeCheck,
    Gate,
    Note,
    NoteKind,
    Phase,
    Plan,
    Rules,
    Sample,
    SessionRecord,
    Summary,
    baseline,
    check_discharge,
    check_gate,
    cuffs,
    episodes,
    summarize,
)
from service.infusions.store import InfusionStore, RawReading


class InfusionHost(Protocol):
    """What the manager needs from the bed (the runtime provides it; tests may fake it)."""

    @property
    def bed(self) -> str: ...

    @property
    def db(self) -> Engine: ...

    @property
    def clock(self) -> Clock: ...

    def publish(self, event: BusEvent) -> None: ...

    def audit(self, action: str, user: str, detail: str) -> None: ...

    def shown_alarms(self) -> list[Alarm]: ...


#: Alarm keys that do not block the discharge check.
NOT_BLOCKING_DISCHARGE = ("pump_complete:",)


class SessionError(Exception):
    """An action the session's state does not allow; ``status`` is the HTTP status."""

    status = 409


class NotFound(SessionError):
    status = 404


class GateRefused(SessionError):
    def __init__(self, gate: Gate) -> None:
        super().__init__("BP gate: " + "; ".join(gate.reasons) + " (override with a reason)")
        self.gate = gate


class DischargeRefused(SessionError):
    def __init__(self, check: DischargeCheck) -> None:
        failed = [c.detail for c in check.criteria if not c.ok]
        super().__init__("not ready: " + "; ".join(failed) + " (override with a reason)")
        self.check = check


@dataclass(frozen=True, slots=True)
class Collected:
    """Everything recorded during one session, read in one worker-thread call."""

    record: SessionRecord
    patient_name: str | None
    readings: list[RawReading]
    notes: list[Note]
    alarms: list[AlarmEpisode]
    summary: Summary


class InfusionManager:
    def __init__(self, host: InfusionHost, rules: Rules | None = None) -> None:
        self.host = host
        self.rules = rules or Rules()
        self.store = InfusionStore(host.db)
        self.current: SessionRecord | None = None
        self._lock = asyncio.Lock()
        self._loaded = False
        self._damaged: set[int] = set()

    @property
    def bed(self) -> str:
        return self.host.bed

    def _now(self) -> datetime:
        return self.host.clock.utcnow()

    async def load(self) -> None:
        """Pick up the session that was open at the last shutdown and tell the engine."""
        if not self._loaded:
            async with self._lock:
                await self._load_once()

    async def _load_once(self) -> None:
        if self._loaded:  # another request loaded it while this one waited for the lock
            return
        self.current = await asyncio.to_thread(self.store.current, self.bed)
        damaged = await asyncio.to_thread(self.store.damaged, self.bed)
        self._loaded = True
        if damaged:
            self._report_damaged(damaged)
        if self.current is not None:
            self._publish_context(self.current)

    def _report_damaged(self, damaged: list[SessionRecord]) -> None:
        """A damaged stored record is a technical alarm (it stays while such a record is the
        bed's open session; one shown as ended is reported once, at start-up)."""
        now = self._now()
        if damaged:
            text = "; ".join(f"session {r.id}: {r.problem}" for r in damaged)
            self._damaged = {r.id for r in damaged}
            self.host.publish(
                ServiceFault(
                    "session_record",
                    True,
                    f"damaged session record (shown with its error): {text}"[:400],
                    now,
                    Priority.MEDIUM,
                )
            )
        else:
            self._damaged = set()
            self.host.publish(
                ServiceFault("session_record", False, "session records readable", now)
            )

    # -- the bus (called synchronously from Runtime.publish) -------------------------------

    def current_json(self) -> dict[str, Any] | None:
        """The open session as the tablet shows it (the live snapshot's ``infusion``)."""
        return None if self.current is None else views.record(self.current)

    # -- actions ---------------------------------------------------------------------------

    async def create(
        self, *, patient: str, name: str | None, drug: str, plan: Plan, user: str
    ) -> SessionRecord:
        await self.load()
        async with self._lock:
            if self.current is not None:
                raise SessionError(f"session {self.current.id} is still open on {self.bed}")
            record = await asyncio.to_thread(
                self.store.create,
                bed=self.bed,
                patient=patient,
                name=name,
                drug=drug,
                plan=plan,
                at=self._now(),
                user=user,
            )
            self.current = record
            self._publish_context(record)
            # The pseudonym only: the patient's name never goes into a log.
            self._audit(
                "session_created",
                user,
                record,
                f"patient {patient}, {drug} {plan.dose_mg_per_kg:g} mg/kg × "
                f"{plan.weight_kg:g} kg over {plan.duration_min:g} min",
            )
            return record

    async def start(self, session_id: int, user: str, override: str | None) -> SessionRecord:
        async with self._lock:
            record = self._open(session_id, Phase.BASELINE)
            now = self._now()
            samples = await asyncio.to_thread(self.store.samples, record.created_at, now)
            found = baseline(samples, self.rules)
            gate = check_gate(found, self.rules)
            if not gate.ok and not override:
                raise GateRefused(gate)
            overridden = not gate.ok
            updated = replace(
                record,
                phase=Phase.INFUSION,
                started_at=now,
                started_by=user,
                baseline=found,
                gate_override_reason=override if overridden else None,
                gate_override_by=user if overridden else None,
            )
            await self._save(updated)
            detail = _baseline_text(found)
            if overridden:
                detail += f"; BP gate overridden ({'; '.join(gate.reasons)}): {override}"
            self._audit("infusion_started", user, updated, detail)
            return updated

    async def end_infusion(self, session_id: int, user: str) -> SessionRecord:
        async with self._lock:
            record = self._open(session_id, Phase.INFUSION)
            now = self._now()
            updated = replace(
                record, phase=Phase.RECOVERY, infusion_ended_at=now, infusion_ended_by=user
            )
            await self._save(updated)
            self._audit("infusion_ended", user, updated, "recovery begins")
            return updated

    async def add_note(self, session_id: int, user: str, kind: NoteKind, text: str) -> Note:
        record = await self.get(session_id)
        if record.phase is Phase.ENDED:
            # The discharge signature closes the record: nothing may be added under it.
            raise SessionError(f"session {record.id} was discharged and signed: no more notes")
        note = Note(record.id, self._now(), user, kind, text)
        await asyncio.to_thread(self.store.add_note, note)
        # Free text is not copied to the audit log: it may name people.
        self._audit("note_added", user, record, kind.value)
        return note

    async def discharge_check(self, session_id: int) -> DischargeCheck:
        record = await self.get(session_id)
        return await self._check(record)

    async def discharge(self, session_id: int, user: str, override: str | None) -> SessionRecord:
        async with self._lock:
            record = self._open(session_id, Phase.BASELINE, Phase.RECOVERY)
            check = await self._check(record)
            if not check.ready and not override:
                raise DischargeRefused(check)
            updated = replace(
                record,
                phase=Phase.ENDED,
                discharged_at=self._now(),
                discharged_by=user,
                discharge_override_reason=None if check.ready else override,
            )
            await self._save(updated)
            detail = "ready" if check.ready else f"discharge check overridden: {override}"
            self._audit("patient_discharged", user, updated, detail)
            return updated

    # -- views -----------------------------------------------------------------------------

    async def get(self, session_id: int) -> SessionRecord:
        await self.load()
        if self.current is not None and self.current.id == session_id:
            return self.current
        found = await asyncio.to_thread(self.store.get, session_id)
        if found is None:
            raise NotFound(f"no session {session_id}")
        return found

    async def history(self, limit: int) -> list[SessionRecord]:
        return await asyncio.to_thread(self.store.history, limit)

    async def collect(self, session_id: int) -> Collected:
        record = await self.get(session_id)
        return await asyncio.to_thread(self._collect, record, self._now())

    async def baseline_preview(self, record: SessionRecord) -> tuple[Baseline | None, Gate]:
        """What ``start`` would find now (for the tablet, before the nurse presses start)."""
        samples = await asyncio.to_thread(self.store.samples, record.created_at, self._now())
        found = baseline(samples, self.rules)
        return found, check_gate(found, self.rules)

    # -- internals -------------------------------------------------------------------------

    def _collect(self, record: SessionRecord, now: datetime) -> Collected:
        """Runs in a worker thread: only the store and pure functions."""
        start, end = record.window(now)
        readings = self.store.readings(start, end)
        samples = [
            Sample(r.metric, r.value, r.measured_at)
            for r in readings
            if r.validity == "valid" and r.value is not None
        ]
        # Peaks are what the drug did: from the start of the infusion, not the baseline phase.
        since = record.started_at or end
        samples = [x for x in samples if x.at >= since]
        volume = self.store.last_volume_infused(start, end)
        return Collected(
            record,
            self.store.patient_name(record.patient),
            readings,
            self.store.notes(record.id),
            episodes(self.store.alarm_events(start, end)),
            summarize(record.plan, record.baseline, samples, volume),
        )

    async def _check(self, record: SessionRecord) -> DischargeCheck:
        now = self._now()
        since = record.infusion_ended_at or now
        samples = await asyncio.to_thread(self.store.samples, since, now)
        found = cuffs(samples)
        # A pump that finished its volume is the normal end of an infusion: it never blocks
        # the discharge (docs/alarms.md, pump completion).
        shown = [
            a.message
            for a in self.host.shown_alarms()
            if not a.key.startswith(NOT_BLOCKING_DISCHARGE)
        ]
        return check_discharge(
            record.baseline,
            record.infusion_ended_at,
            found[-1] if found else None,
            shown,
            now,
            self.rules,
        )

    def _open(self, session_id: int, *phases: Phase) -> SessionRecord:
        record = self.current
        if record is None or record.id != session_id:
            raise SessionError(f"session {session_id} is not the open session of {self.bed}")
        if record.phase not in phases:
            allowed = " or ".join(p.value for p in phases)
            raise SessionError(f"session {session_id} is in {record.phase.value}, not {allowed}")
        return record

    async def _save(self, record: SessionRecord) -> None:
        """On disk first, then in memory and on the bus: a failed write changes nothing."""
        await asyncio.to_thread(self.store.save, record)
        self.current = None if record.phase is Phase.ENDED else record
        self._publish_context(record)
        if record.id in self._damaged and record.phase is Phase.ENDED:
            self._damaged.discard(record.id)
            if not self._damaged:
                self._report_damaged([])

    def _publish_context(self, record: SessionRecord) -> None:
        base = record.baseline if record.phase is not Phase.ENDED else None
        self.host.publish(
            InfusionContext(
                running=record.phase is Phase.INFUSION,
                at=self._now(),
                baseline_sys=base.sys if base else None,
                baseline_dia=base.dia if base else None,
                baseline_hr=base.hr if base else None,
                expected_rate_ml_h=record.plan.rate_ml_h,
            )
        )

    def _audit(self, action: str, user: str, record: SessionRecord, detail: str) -> None:
        self.host.audit(action, user, f"session {record.id}: {detail}")


def _baseline_text(found: Baseline | None) -> str:
    if found is None:
        return "no baseline"
    hr = f", HR {found.hr:g}" if found.hr is not None else ""
    return f"baseline {found.sys:g}/{found.dia:g}{hr} from {found.readings} cuff readings"
