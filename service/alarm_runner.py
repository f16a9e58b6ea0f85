"""The alarm path: the engine fed from the bus, woken at its deadlines, and the operator actions.

``AlarmRunner.run()`` is the one task that turns readings into alarm transitions. It never awaits
anything but its own queue: not the database, not the network, not a tablet. Operator actions
(acknowledge, responsibility, audio pause, limits) take effect in the engine at once; their
record is on disk before the API answers, and only then do the tablets hear of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from drivers.clock import Clock
from service.alarms.engine import AlarmEngine, Output, PauseRefused
from service.alarms.model import AlarmTransition, OperatorAction, TabletCount
from service.bus import EventBus, Overflow, Woken
from service.events import BusEvent
from service.live import LiveState
from service.persistence.limits import save_limits, stored_limits
from service.persistence.writer import write_events

log = logging.getLogger(__name__)

Publish = Callable[[BusEvent], None]
Fault = Callable[[str], Callable[[str | None], None]]


class AlarmRunner:
    def __init__(
        self,
        engine: AlarmEngine,
        bus: EventBus[BusEvent],
        live: LiveState,
        db: Engine,
        publish: Publish,
    ) -> None:
        self.engine = engine
        self.live = live
        self.db = db
        self._publish = publish
        self.clock: Clock | None = None  # set by the runtime (a SteppedClock reporting to us)
        self._clock_steps: list[OperatorAction] = []
        self.sub = bus.subscribe(
            "alarm-runner",
            Overflow.KEEP_ALL,
            accept=lambda e: not isinstance(e, AlarmTransition | OperatorAction),
        )

    def _now(self) -> datetime:
        assert self.clock is not None
        return self.clock.utcnow()

    def wake(self) -> None:
        """The engine's next deadline may have moved: recompute it now."""
        self.sub.wake()

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, clients: Callable[[], int]) -> None:
        """Feeds the engine from the bus and wakes it at its deadlines."""
        # The service starts with nobody listening: the engine times "no tablet" from here.
        self._publish(TabletCount(clients(), self._now()))
        while True:
            # The time first: reading it moves the engine's timers if the wall clock stepped.
            now = self._now()
            self._report_clock_steps()
            deadline = self.engine.next_deadline()
            wait = None
            if deadline is not None:
                # A monotonic wait (asyncio's clock): a wall-clock step while waiting does not
                # move the moment it ends.
                wait = max(0.0, (deadline - now).total_seconds()) + 0.001
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel
                # that lands together with the timeout.
                async with asyncio.timeout(wait):
                    event = await self.sub.get()
            except Woken:
                continue
            except TimeoutError:
                self.emit(self.engine.tick(self._now()))
                continue
            if not isinstance(event, AlarmTransition | OperatorAction):
                self.emit(self.engine.observe(event, self._now()))

    def clock_stepped(self, step: timedelta, wall: datetime) -> None:
        """The wall clock stepped by ``step``: move the engine's timers at once (durations keep
        their monotonic length; records keep the true wall time). The audit record, and the
        tablets' new pause end, go out from the loop, woken for it."""
        self.engine.shift_time(step)
        seconds = step.total_seconds()
        log.warning("wall clock stepped by %+.1f s: alarm timers moved with it", seconds)
        self._clock_steps.append(
            OperatorAction(
                "clock_stepped",
                "system",
                wall,
                f"wall clock stepped by {seconds:+.1f} s; audio pause, delays, reminders and "
                "escalation keep their length",
            )
        )
        with contextlib.suppress(AttributeError):
            self.sub.wake()

    def _report_clock_steps(self) -> None:
        if self._clock_steps:
            steps, self._clock_steps = self._clock_steps, []
            self.emit(list(steps))

    # -- publishing ----------------------------------------------------------------------------

    def emit(self, outputs: list[Output]) -> None:
        if not outputs:
            return
        self.refresh()
        for output in self._stamp(outputs):
            self._publish_output(output)

    def _stamp(self, outputs: list[Output], persisted: bool = False) -> list[Output]:
        assert self.clock is not None
        mono = self.clock.monotonic()
        out: list[Output] = []
        now = self._now()
        for o in outputs:
            o = replace(o, mono=mono, persisted=persisted)
            if isinstance(o, AlarmTransition):
                o = replace(o, audible=self.engine.audible(o.alarm, now))
            if isinstance(o, OperatorAction):
                # What the tablets need to redraw after an action travels with it: the audio
                # state and the limits (the live socket no longer builds a snapshot for it).
                o = replace(
                    o,
                    audio=self.engine.audio,
                    annunciation=self.engine.annunciation(now),
                    limits=self.engine.limits.as_dict(),
                    audible={a.id: self.engine.audible(a, now) for a in self.engine.active()},
                )
            out.append(o)
        return out

    def _publish_output(self, output: Output) -> None:
        if isinstance(output, AlarmTransition):
            log.warning(
                "alarm %s %s %s%s",
                output.alarm.priority.marker,
                output.event.value,
                output.message,
                f" by {output.user}" if output.user else "",
            )
        else:
            log.info("%s by %s: %s", output.action, output.user, output.detail)
        self._publish(output)

    def refresh(self) -> None:
        """Copy what the engine shows into the live state (for snapshots and views)."""
        now = self._now()
        self.live.limits = self.engine.limits.as_dict()
        self.live.alarms = self.engine.active()
        self.live.audible = {a.id: self.engine.audible(a, now) for a in self.live.alarms}
        self.live.audio = self.engine.audio
        self.live.annunciation = self.engine.annunciation(now)

    # -- operator actions (called from the API on the event loop; never block) ---------------

    async def acknowledge(self, alarm_id: str, user: str) -> list[Output]:
        return await self._act(self.engine.acknowledge(alarm_id, user, self._now()))

    async def accept_responsibility(self, alarm_id: str, user: str) -> list[Output]:
        return await self._act(self.engine.accept_responsibility(alarm_id, user, self._now()))

    async def reject_responsibility(self, alarm_id: str, user: str) -> list[Output]:
        return await self._act(self.engine.reject_responsibility(alarm_id, user, self._now()))

    async def pause_audio(
        self, user: str, seconds: float | None = None, *, nurse: bool = False
    ) -> list[Output]:
        """Pause audio (``nurse``: a nurse acts or confirmed with a PIN). A repeat pause without
        a nurse raises ``PauseRefused`` after the refusal is recorded in the audit log."""
        now = self._now()
        try:
            outputs = self.engine.pause_audio(user, now, seconds, nurse=nurse)
        except PauseRefused as refused:
            log.warning("audio pause by %s refused: %s", user, refused)
            await self._act([self.engine.refusal(refused, user, now)])
            raise
        return await self._act(outputs)

    async def resume_audio(self, user: str) -> list[Output]:
        return await self._act(self.engine.resume_audio(user, self._now()))

    async def set_limits(self, changes: dict[str, float], user: str) -> list[Output]:
        """Check, store, then apply: a change that cannot be stored is not applied (the caller
        answers 503), so a restart never silently reverts a limit (``ValueError``: refused)."""
        self.engine.limits.changed(changes)  # raises ValueError naming a bad entry
        clean = {name: float(value) for name, value in changes.items()}
        await asyncio.to_thread(save_limits, self.db, clean, user, self._now())
        return await self._act(self.engine.set_limits(clean, user, self._now()))

    async def restore_limits(self, fault: Fault) -> None:
        """Apply the limits nurses changed before the last shutdown over the configuration's.
        A stored value that is no longer allowed is skipped and reported, never fatal."""
        try:
            stored = await asyncio.to_thread(stored_limits, self.db)
        except (SQLAlchemyError, OSError) as exc:
            log.error("stored alarm limits could not be read: %s", exc)
            fault("alarm_limits")(f"stored alarm limits could not be read: {exc}"[:300])
            return
        skipped = []
        for name, value in sorted(stored.items()):
            try:
                self.engine.limits = self.engine.limits.changed({name: value})
            except ValueError as exc:
                skipped.append(str(exc))
        if stored:
            log.warning("alarm limits restored from the database: %s", stored)
        if skipped:
            fault("alarm_limits")("stored alarm limits not applied: " + "; ".join(skipped))
        self.live.limits = self.engine.limits.as_dict()

    async def _act(self, outputs: list[Output]) -> list[Output]:
        """A human action took effect in the engine (at once, on the loop). Its record is
        written to disk before the caller answers, so an acknowledged action survives a kill -9
        or a power cut; only then do the tablets hear of it. The loop never waits for this."""
        self.refresh()
        self.wake()  # the engine's next deadline may have moved
        stamped = self._stamp(outputs, persisted=True)
        if stamped:
            try:
                await asyncio.to_thread(write_events, self.db, stamped)
            except (SQLAlchemyError, OSError) as exc:
                log.error("could not record an operator action at once (%s): queued", exc)
                stamped = [replace(o, persisted=False) for o in stamped]  # the writer retries
        for output in stamped:
            self._publish_output(output)
        return stamped

    def audit(self, action: str, user: str, detail: str) -> None:
        """Record a human action that is not an alarm action (sign-in, user changes...)."""
        self.emit([OperatorAction(action, user, self._now(), detail)])
