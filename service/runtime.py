"""The running bedside unit: bus, live state, alarm runner, device sessions and the writer.

``Runtime.start()`` / ``stop()`` are called from the FastAPI lifespan. All of it runs on one
event loop; only database writes and blocking serial writes go to worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from drivers.clock import Clock, SystemClock
from drivers.registry import handler_factory
from drivers.sessions.base import DeviceSession
from service.alarms.engine import AlarmEngine, Output, PauseRefused
from service.alarms.limits import Limits
from service.alarms.model import (
    AlarmTransition,
    OperatorAction,
    Priority,
    ServiceFault,
    TabletCount,
)
from service.auth.sessions import SessionStore
from service.auth.throttle import Burst, Throttle
from service.auth.users import UserStore
from service.bus import EventBus, Overflow, Woken
from service.events import BusEvent
from service.live import LiveState
from service.persistence.db import make_engine, upgrade
from service.persistence.limits import save_limits, stored_limits
from service.persistence.retention import prune
from service.persistence.writer import PersistenceWriter, active_alarms, write_events
from service.platform import systemd
from service.platform.annunciator import Annunciator, make_backend
from service.platform.clock_sync import watch_clock
from service.platform.memory import pin_mmap_threshold
from service.sessions.manager import SessionManager
from service.settings import Settings

log = logging.getLogger(__name__)

#: Queue length past which the writer counts as backlogged (a technical alarm, data kept).
WRITER_HIGH_WATER = 50_000
#: How often sign-ins are checked against the users table (a user disabled elsewhere).
SIGN_IN_CHECK_S = 2.0
#: How often old records are deleted when ``retention_days`` is set.
RETENTION_EVERY_S = 6 * 3600
#: A wall clock that moved this much more (or less) than the monotonic clock between two reads
#: was stepped (NTP correcting it, someone setting it): the alarm timers follow the step.
CLOCK_STEP_TOLERANCE_S = 2.0


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class SteppedClock:
    """The runtime's clock: the injected one, watched for wall-clock steps.

    The engine's timers are wall-clock ``datetime`` values (it takes ``now``), so a step of the
    wall clock would lengthen or shorten every audio pause, condition delay, reminder and
    escalation. Each ``utcnow()`` read on the event loop compares how far the wall clock moved
    since the previous read with how far the monotonic clock moved; a difference over
    ``tolerance_s`` is a step, reported to ``on_step(step, wall)`` *before* the new wall time is
    returned, so nothing on the loop uses the new time before the engine's timers were moved
    (``AlarmEngine.shift_time``). A slow NTP slew is not a step. Reads from worker threads
    (FastAPI runs plain ``def`` dependencies there) pass through without looking: they never
    reach the engine, and the next read on the loop sees the step.
    """

    def __init__(
        self,
        inner: Clock,
        on_step: Callable[[timedelta, datetime], None],
        tolerance_s: float = CLOCK_STEP_TOLERANCE_S,
        watching: Callable[[], bool] = _on_a_loop,
    ) -> None:
        self.inner = inner
        self.tolerance_s = tolerance_s
        self._on_step = on_step
        self._watching = watching
        self._last: tuple[datetime, float] | None = None

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def utcnow(self) -> datetime:
        if not self._watching():
            return self.inner.utcnow()
        before = self.inner.monotonic()
        wall = self.inner.utcnow()
        mono = self.inner.monotonic()
        if mono - before > self.tolerance_s:
            return wall  # the clock moved while being read (a test's fake clock): next time
        last, self._last = self._last, (wall, mono)
        if last is not None:
            step = (wall - last[0]).total_seconds() - (mono - last[1])
            if abs(step) > self.tolerance_s:
                self._on_step(timedelta(seconds=step), wall)
        return wall


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self._clock_steps: list[OperatorAction] = []  # to report (see _clock_stepped)
        self.clock: Clock = SteppedClock(clock or SystemClock(), self._clock_stepped)
        self.bus: EventBus[BusEvent] = EventBus()
        self.specs = settings.device_specs()
        self.live = LiveState(settings.bed, self.specs)
        self.engine = AlarmEngine(Limits().changed(settings.alarm_limits))
        self.live.limits = self.engine.limits.as_dict()
        self.db = make_engine(settings.database_url)
        self._alarm_sub = self.bus.subscribe(
            "alarm-runner",
            Overflow.KEEP_ALL,
            accept=lambda e: not isinstance(e, AlarmTransition | OperatorAction),
        )
        self.writer = PersistenceWriter(
            self.db,
            self.bus.subscribe(
                "persistence",
                Overflow.KEEP_ALL,
                limit=WRITER_HIGH_WATER,
                accept=lambda e: not getattr(e, "persisted", False),
            ),
            self.publish,
            self.clock,
        )
        self.device_sessions: list[DeviceSession] = []
        self.users = UserStore(self.db, staff_pin_digits=settings.staff_pin_digits)
        self.throttle = Throttle()
        self.infusions = SessionManager(self, settings.session.rules())
        self.sessions = SessionStore(
            persist=self._off_loop(self.users.save_sign_in),
            forget=self._off_loop(self.users.delete_sign_in),
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self.clients = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.annunciator: Annunciator | None = None
        self.started_at: datetime | None = None
        self.uplink: Any = None  # service.central.uplink.Uplink when [central] is set
        self._pins_alarm = False

    # -- the one way in -------------------------------------------------------------------

    def publish(self, event: BusEvent) -> None:
        """Put an event on the bus. Synchronous, never blocks, safe from any loop callback."""
        self.live.apply(event)
        self.bus.publish(event)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        pin_mmap_threshold()  # before the first sign-in's 16 MiB hash buffer
        self.started_at = self.clock.utcnow()
        await asyncio.to_thread(upgrade, self.settings.database_url)
        await self._restore_limits()
        for digest, user, expires in await asyncio.to_thread(
            self.users.sign_ins, self.clock.utcnow()
        ):
            self.sessions.restore(digest, user, expires)
        restored = await asyncio.to_thread(active_alarms, self.db)
        if restored:
            log.warning("restoring %d alarm(s) active at the last shutdown", len(restored))
            self.engine.restore(restored, self.clock.utcnow())
            self._refresh_alarms()
        await self._start_platform()
        try:
            await self.infusions.load()
        except Exception as exc:  # the bed must alarm even if its session records cannot load
            log.exception("infusion sessions could not be loaded")
            self._fault("session_record")(f"infusion sessions could not be loaded: {exc!r}"[:300])
        self._spawn(self.writer.run(), "persistence-writer")
        self._spawn(self._alarm_runner(), "alarm-runner")
        self._spawn(self._watch_backlog(), "backlog-watch")
        self._spawn(self._watch_sign_ins(), "sign-in-watch")
        if self.settings.retention_days:
            self._spawn(self._retention(), "retention")
        if self.settings.central is not None:
            from service.central.uplink import Uplink  # paho only where a central is set up

            self.uplink = Uplink(self, self.settings.central)
            self._spawn(self.uplink.run(), "central-uplink")
        for spec in self.specs:
            handler = handler_factory(spec.driver)(spec.source)
            session = DeviceSession(spec.source, handler, spec.url, self.publish, self.clock)
            self.device_sessions.append(session)
            self._spawn(session.run(), f"device-{spec.source}")

    async def stop(self) -> None:
        systemd.notify_stopping()
        for task in reversed(self._tasks):
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        # Whatever the alarm runner had not handled yet is still in the writer's queue.
        try:
            await self.writer.flush()
        except Exception:
            log.exception("could not write the last events at shutdown")
        self.db.dispose()

    async def _start_platform(self) -> None:
        """Bedside-unit integration: systemd watchdog, local annunciation, clock check."""
        s = self.settings
        if s.annunciator != "none":
            backend = make_backend(
                s.annunciator,
                alsa_device=s.annunciator_alsa_device,
                cache_dir=s.data_dir / "sounds",
                gpio_pin=s.annunciator_gpio_pin,
                gpio_on_command=s.annunciator_gpio_on or None,
                gpio_off_command=s.annunciator_gpio_off or None,
            )
            self.annunciator = Annunciator(
                backend, grace_s=s.annunciator_grace_s, on_fault=self._fault("local_annunciation")
            )
            await self.annunciator.self_test()
            # The engine, not live.annunciation: an audio pause that simply expires changes
            # what must sound without any transition.
            self._spawn(
                self.annunciator.run(
                    lambda: (self.engine.annunciation(self.clock.utcnow()), self.clients)
                ),
                "local-annunciation",
            )
        if s.clock_check:
            report = self._fault("clock")
            self._spawn(
                watch_clock(
                    lambda ok, detail: report(None if ok else detail),
                    interval_s=s.clock_check_interval_s,
                    command=s.clock_check_command or None,
                ),
                "clock-check",
            )
        # Pings only while the loop runs and the alarm path is alive; returns at once outside
        # systemd.
        self._spawn(systemd.watchdog_task(healthy=self._healthy), "systemd-watchdog")

    def _healthy(self) -> bool:
        return all(
            not t.done()
            for t in self._tasks
            if t.get_name() in ("alarm-runner", "persistence-writer")
        )

    def _fault(self, name: str) -> Callable[[str | None], None]:
        def report(detail: str | None) -> None:
            self.publish(
                ServiceFault(
                    name,
                    detail is not None,
                    detail or f"{name}: working again",
                    self.clock.utcnow(),
                )
            )

        return report

    async def _retention(self) -> None:
        """Delete records past ``retention_days`` at start-up, then every 6 hours."""
        days = timedelta(days=self.settings.retention_days)
        while True:
            try:
                pruned = await asyncio.to_thread(prune, self.db, self.clock.utcnow() - days)
                log.info("retention: deleted %d rows older than %s", pruned.total, pruned.cutoff)
            except (SQLAlchemyError, OSError) as exc:
                log.error("retention: could not delete old records (will retry): %s", exc)
            await asyncio.sleep(RETENTION_EVERY_S)

    def _off_loop(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Run ``fn`` in a worker thread (fire and forget, errors logged): the event loop never
        waits for the database."""

        def call(*args: Any) -> None:
            def run() -> None:
                try:
                    fn(*args)
                except Exception:
                    log.exception("%s failed", getattr(fn, "__name__", "background write"))

            try:
                asyncio.get_running_loop().run_in_executor(None, run)
            except RuntimeError:  # no loop (command line): just do it
                run()

        return call

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # A crashed internal task is a failure of the alarm system itself: say so loudly.
            log.critical("task %s died: %r", task.get_name(), exc, exc_info=exc)
            self.publish(
                ServiceFault(
                    task.get_name(),
                    True,
                    f"{task.get_name()} stopped: {exc!r}",
                    self.clock.utcnow(),
                )
            )

    # -- paths -----------------------------------------------------------------------------

    async def _alarm_runner(self) -> None:
        """Feeds the engine from the bus and wakes it at its deadlines. Never awaits anything
        but its own queue: not the database, not the network, not a tablet."""
        # The service starts with nobody listening: the engine times "no tablet" from here.
        self.publish(TabletCount(self.clients, self.clock.utcnow()))
        while True:
            # The time first: reading it moves the engine's timers if the wall clock stepped.
            now = self.clock.utcnow()
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
                    event = await self._alarm_sub.get()
            except Woken:
                continue
            except TimeoutError:
                self._emit(self.engine.tick(self.clock.utcnow()))
                continue
            if not isinstance(event, AlarmTransition | OperatorAction):
                self._emit(self.engine.observe(event, self.clock.utcnow()))

    def _clock_stepped(self, step: timedelta, wall: datetime) -> None:
        """The wall clock stepped by ``step``: move the engine's timers at once (durations keep
        their monotonic length; records keep the true wall time). The audit record, and the
        tablets' new pause end, go out from the alarm runner, woken for it."""
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
        with contextlib.suppress(AttributeError):  # a step before the runner exists
            self._alarm_sub.wake()

    def _report_clock_steps(self) -> None:
        if self._clock_steps:
            steps, self._clock_steps = self._clock_steps, []
            self._emit(list(steps))

    def _emit(self, outputs: list[Output]) -> None:
        if not outputs:
            return
        self._refresh_alarms()
        for output in self._stamp(outputs):
            self._publish_output(output)

    def _stamp(self, outputs: list[Output], persisted: bool = False) -> list[Output]:
        mono = self.clock.monotonic()
        return [replace(o, mono=mono, persisted=persisted) for o in outputs]

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
        self.publish(output)

    def _refresh_alarms(self) -> None:
        now = self.clock.utcnow()
        self.live.limits = self.engine.limits.as_dict()
        self.live.alarms = self.engine.active()
        self.live.audible = {a.id: self.engine.audible(a, now) for a in self.live.alarms}
        self.live.audio = self.engine.audio
        self.live.annunciation = self.engine.annunciation(now)

    # -- operator actions (called from the API on the event loop; never block) -----------

    async def acknowledge(self, alarm_id: str, user: str) -> list[Output]:
        return await self._act(self.engine.acknowledge(alarm_id, user, self.clock.utcnow()))

    async def accept_responsibility(self, alarm_id: str, user: str) -> list[Output]:
        now = self.clock.utcnow()
        return await self._act(self.engine.accept_responsibility(alarm_id, user, now))

    async def reject_responsibility(self, alarm_id: str, user: str) -> list[Output]:
        now = self.clock.utcnow()
        return await self._act(self.engine.reject_responsibility(alarm_id, user, now))

    async def pause_audio(
        self, user: str, seconds: float | None = None, *, nurse: bool = False
    ) -> list[Output]:
        """Pause audio (``nurse``: a nurse acts or confirmed with a PIN). A repeat pause without a
        nurse raises ``PauseRefused`` after the refusal is recorded in the audit log."""
        now = self.clock.utcnow()
        try:
            outputs = self.engine.pause_audio(user, now, seconds, nurse=nurse)
        except PauseRefused as refused:
            log.warning("audio pause by %s refused: %s", user, refused)
            await self._act([self.engine.refusal(refused, user, now)])
            raise
        return await self._act(outputs)

    async def resume_audio(self, user: str) -> list[Output]:
        return await self._act(self.engine.resume_audio(user, self.clock.utcnow()))

    async def set_limits(self, changes: dict[str, float], user: str) -> list[Output]:
        """Check, store, then apply: a change that cannot be stored is not applied (the caller
        answers 503), so a restart never silently reverts a limit (``ValueError``: refused)."""
        self.engine.limits.changed(changes)  # raises ValueError naming a bad entry
        clean = {name: float(value) for name, value in changes.items()}
        await asyncio.to_thread(save_limits, self.db, clean, user, self.clock.utcnow())
        return await self._act(self.engine.set_limits(clean, user, self.clock.utcnow()))

    async def _restore_limits(self) -> None:
        """Apply the limits nurses changed before the last shutdown over the configuration's.
        A stored value that is no longer allowed is skipped and reported, never fatal."""
        try:
            stored = await asyncio.to_thread(stored_limits, self.db)
        except (SQLAlchemyError, OSError) as exc:
            log.error("stored alarm limits could not be read: %s", exc)
            self._fault("alarm_limits")(f"stored alarm limits could not be read: {exc}"[:300])
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
            self._fault("alarm_limits")("stored alarm limits not applied: " + "; ".join(skipped))
        self.live.limits = self.engine.limits.as_dict()

    async def _act(self, outputs: list[Output]) -> list[Output]:
        """A human action took effect in the engine (at once, on the loop). Its record is written
        to disk before the caller answers, so an acknowledged action survives a kill -9 or a
        power cut; only then do the tablets hear of it. The alarm runner never waits for this."""
        self._refresh_alarms()
        self._alarm_sub.wake()  # the engine's next deadline may have moved
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
        self._emit([OperatorAction(action, user, self.clock.utcnow(), detail)])

    def wrong_pins(self, burst: Burst) -> None:
        """A burst of wrong PINs from one client for one name: audited once, a LOW technical
        alarm (not a message to the tablets per attempt)."""
        detail = f"{burst.failures} wrong PINs for {burst.username!r} from {burst.client}"
        self.audit("wrong_pins", burst.username[:32] or "?", detail)
        self.publish(
            ServiceFault(
                "wrong_pins",
                True,
                f"repeated wrong PINs ({detail})",
                self.clock.utcnow(),
                Priority.LOW,
            )
        )
        self._pins_alarm = True

    async def _watch_sign_ins(self) -> None:
        """Every 2 s: end the sign-ins of users disabled elsewhere (the command line writes
        the database directly), and end the wrong-PIN alarm once it has been quiet."""
        while True:
            await asyncio.sleep(SIGN_IN_CHECK_S)
            try:
                active = await asyncio.to_thread(self.users.active_names)
            except (SQLAlchemyError, OSError) as exc:
                log.error("could not read the users to check sign-ins: %s", exc)
            else:
                for username in self.sessions.keep_only(active):
                    log.warning("%s is disabled: signed out", username)
                    self.audit("signed_out", username, "user disabled")
            if self._pins_alarm and not self.throttle.bursting(self.clock.monotonic()):
                self._pins_alarm = False
                self.publish(
                    ServiceFault("wrong_pins", False, "no wrong PINs lately", self.clock.utcnow())
                )

    def tablet_joined(self) -> None:
        self.clients += 1
        self.publish(TabletCount(self.clients, self.clock.utcnow()))

    def tablet_left(self) -> None:
        self.clients -= 1
        self.publish(TabletCount(self.clients, self.clock.utcnow()))

    async def _watch_backlog(self) -> None:
        backlogged = False
        while True:
            await asyncio.sleep(1.0)
            now_backlogged = self.writer.sub.backlogged
            if now_backlogged != backlogged:
                backlogged = now_backlogged
                self.publish(
                    ServiceFault(
                        "persistence_backlog",
                        backlogged,
                        f"records waiting to be written: {len(self.writer.sub)}",
                        self.clock.utcnow(),
                    )
                )

    # -- views -----------------------------------------------------------------------------

    def _device_stats(self) -> None:
        """Copy frame counters into the device list when someone looks (not per reading)."""
        for session in self.device_sessions:
            status = self.live.devices.get(session.source)
            if status is not None:
                status.frames_ok = session.stats.frames_ok
                status.frames_rejected = session.stats.frames_rejected

    def snapshot(self) -> dict[str, Any]:
        self._device_stats()
        snap = self.live.snapshot(self.clock.utcnow())
        snap["infusion"] = self.infusions.current_json()
        return snap

    def health(self) -> dict[str, Any]:
        self._device_stats()
        devices = self.live.device_list()
        ok = all(d["availability"] == "connected" for d in devices) and not self.writer.failing
        return {
            "status": "ok" if ok else "degraded",
            "bed": self.settings.bed,
            "server_time": self.snapshot()["server_time"],
            "devices": devices,
            "storage": {
                "ok": not self.writer.failing,
                "written": self.writer.written,
                "queued": len(self.writer.sub),
                "last_error": self.writer.last_error,
            },
            "clients": self.clients,
            "active_alarms": len(self.live.alarms),
            "central": None
            if self.uplink is None
            else {
                "connected": self.uplink.connected,
                "queued": self.uplink.queued,
                "sent": self.uplink.sent,
                "dropped": self.uplink.dropped,
            },
        }
