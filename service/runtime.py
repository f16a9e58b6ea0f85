"""The running bedside unit, wired: bus, live state, alarm runner, device links, writer, sign-ins.

This is the composition root: it builds the parts, starts and stops them, and hands each API
route the part it needs (service/api/deps.py). The parts do the work — ``AlarmRunner``
(service/alarm_runner.py), ``TaskSupervisor`` (service/tasks.py), ``BedViews``
(service/views.py), ``SignInWatch`` (service/auth/watch.py), the writer and its upkeep
(service/persistence/). ``Runtime.start()`` / ``stop()`` are called from the FastAPI lifespan.
All of it runs on one event loop; only database writes and blocking serial writes go to worker
threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from drivers.clock import Clock, SystemClock
from drivers.device_link import DeviceLink
from drivers.registry import build_handler
from service.alarm_runner import AlarmRunner
from service.alarms.engine import AlarmEngine
from service.alarms.limits import Limits
from service.alarms.model import Alarm, ServiceFault, TabletCount
from service.auth.signins import SignInStore
from service.auth.throttle import Burst, Throttle
from service.auth.users import UserStore
from service.auth.watch import SignInWatch
from service.bus import EventBus, Overflow
from service.clock import SteppedClock
from service.events import BusEvent
from service.infusions.manager import InfusionManager
from service.live import LiveState
from service.persistence.db import make_engine, upgrade
from service.persistence.upkeep import retention, watch_backlog
from service.persistence.writer import PersistenceWriter, active_alarms
from service.platform import systemd
from service.platform.annunciator import Annunciator, make_backend
from service.platform.clock_sync import watch_clock
from service.platform.memory import pin_mmap_threshold
from service.settings import Settings
from service.tasks import TaskSupervisor, off_loop
from service.views import BedViews

log = logging.getLogger(__name__)

#: Queue length past which the writer counts as backlogged (a technical alarm, data kept).
WRITER_HIGH_WATER = 50_000


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.bus: EventBus[BusEvent] = EventBus()
        self.specs = settings.device_specs()
        self.live = LiveState(settings.bed, self.specs)
        self.engine = AlarmEngine(Limits().changed(settings.alarm_limits))
        self.live.limits = self.engine.limits.as_dict()
        self.db = make_engine(settings.database_url)
        self.alarms = AlarmRunner(self.engine, self.bus, self.live, self.db, self.publish)
        self.clock: Clock = SteppedClock(clock or SystemClock(), self.alarms.clock_stepped)
        self.alarms.clock = self.clock
        self.tasks = TaskSupervisor(self._task_died)
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
        self.device_links: list[DeviceLink] = []
        self.users = UserStore(self.db, staff_pin_digits=settings.staff_pin_digits)
        self.throttle = Throttle()
        self.sign_ins = SignInStore(
            persist=off_loop(self.users.save_sign_in), forget=off_loop(self.users.delete_sign_in)
        )
        self.sign_in_watch = SignInWatch(
            self.users,
            self.sign_ins,
            self.throttle,
            audit=self.audit,
            publish=self.publish,
            now=self.clock.utcnow,
            mono=self.clock.monotonic,
        )
        self.infusions = InfusionManager(self, settings.session.rules())
        self.clients = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.annunciator: Annunciator | None = None
        self.started_at: datetime | None = None
        self.uplink: Any = None  # service.central.uplink.Uplink when [central] is set
        self.views = BedViews(
            settings.bed,
            self.live,
            self.writer,
            self.device_links,
            self.infusions.current_json,
            lambda: self.clients,
            lambda: self.uplink,
            self.clock.utcnow,
        )

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
        await self.alarms.restore_limits(self._fault)
        for digest, user, expires in await asyncio.to_thread(
            self.users.sign_ins, self.clock.utcnow()
        ):
            self.sign_ins.restore(digest, user, expires)
        restored = await asyncio.to_thread(active_alarms, self.db)
        if restored:
            log.warning("restoring %d alarm(s) active at the last shutdown", len(restored))
            self.engine.restore(restored, self.clock.utcnow())
            self.alarms.refresh()
        await self._start_platform()
        try:
            await self.infusions.load()
        except Exception as exc:  # the bed must alarm even if its session records cannot load
            log.exception("infusion sessions could not be loaded")
            self._fault("session_record")(f"infusion sessions could not be loaded: {exc!r}"[:300])
        self._spawn(self.writer.run(), "persistence-writer")
        self._spawn(self.alarms.run(lambda: self.clients), "alarm-runner")
        self._spawn(watch_backlog(self.writer, self.publish, self.clock.utcnow), "backlog-watch")
        self._spawn(self.sign_in_watch.run(), "sign-in-watch")
        if self.settings.retention_days:
            days = self.settings.retention_days
            self._spawn(retention(self.db, days, self.clock.utcnow), "retention")
        if self.settings.central is not None:
            from service.link.uplink import Uplink  # paho only where a central is set up

            self.uplink = Uplink(self, self.settings.central)
            self._spawn(self.uplink.run(), "central-uplink")
        for spec in self.specs:
            handler = build_handler(spec)
            link = DeviceLink(spec.source, handler, spec.url, self.publish, self.clock)
            self.device_links.append(link)
            self._spawn(link.run(), f"device-{spec.source}")

    async def stop(self) -> None:
        systemd.notify_stopping()
        await self.tasks.stop()
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
        healthy = lambda: self.tasks.alive("alarm-runner", "persistence-writer")  # noqa: E731
        self._spawn(systemd.watchdog_task(healthy=healthy), "systemd-watchdog")

    def _spawn(self, coro: Any, name: str) -> None:
        self.tasks.spawn(coro, name)

    def _task_died(self, name: str, exc: BaseException) -> None:
        # A crashed internal task is a failure of the alarm system itself: say so loudly.
        self.publish(ServiceFault(name, True, f"{name} stopped: {exc!r}", self.clock.utcnow()))

    def _fault(self, name: str) -> Callable[[str | None], None]:
        def report(detail: str | None) -> None:
            active = detail is not None
            text = detail or f"{name}: working again"
            self.publish(ServiceFault(name, active, text, self.clock.utcnow()))

        return report

    # -- seams the API and the other parts use ---------------------------------------------

    def audit(self, action: str, user: str, detail: str) -> None:
        """Record a human action that is not an alarm action (sign-in, user changes...)."""
        self.alarms.audit(action, user, detail)

    def wrong_pins(self, burst: Burst) -> None:
        self.sign_in_watch.wrong_pins(burst)

    async def acknowledge(self, alarm_id: str, user: str) -> list[Any]:
        """An acknowledgement relayed from the clinic central station (the uplink's seam)."""
        return await self.alarms.acknowledge(alarm_id, user)

    def tablet_joined(self) -> None:
        self.clients += 1
        self.publish(TabletCount(self.clients, self.clock.utcnow()))

    def tablet_left(self) -> None:
        self.clients -= 1
        self.publish(TabletCount(self.clients, self.clock.utcnow()))

    @property
    def bed(self) -> str:
        return self.settings.bed

    def shown_alarms(self) -> list[Alarm]:
        return self.engine.active()

    def snapshot(self) -> dict[str, Any]:
        return self.views.snapshot()

    def health(self) -> dict[str, Any]:
        return self.views.health()
