"""An emulated device and a real driver over a pseudo-terminal, in one event loop.

The driver runs as in production (``DeviceLink``, pyserial with its real line settings, the
system clock); the emulator plays the device side as the simulator's runner would: every tick it
reads what the driver wrote and writes what the device sends. Tests subclass ``PtyRig`` for a
device's specifics and wait with ``until`` (a deadline, never a sleep that hopes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from drivers.clock import SystemClock
from drivers.device_link import DeviceLink
from drivers.handlers.base import Handler
from drivers.link_monitor import LinkTimings
from drivers.readings import (
    Availability,
    AvailabilityChange,
    Condition,
    DeviceConditions,
    Metric,
    Reading,
    VitalReading,
)
from simulator.devices.base import Emulator, Fault
from simulator.model import PumpModelState, Vitals
from simulator.pty_link import PtyLink


class PtyRig:
    def __init__(
        self,
        tmp_path: Path,
        emulator: Emulator,
        handler: Handler,
        *,
        speed: float = 1.0,
        tick: float = 0.02,
        vitals: Vitals | None = None,
        timings: LinkTimings | None = None,
    ) -> None:
        self.link = PtyLink(tmp_path / "monitor")
        self.emulator = emulator
        self.handler = handler
        self.speed = speed  # simulator seconds per real second
        self.tick = tick
        self.vitals = vitals or Vitals(hr=72, nibp=(121, 79, 93), nibp_at=0.0)
        self.pump = PumpModelState()
        self.silent = False  # a line-level fault: connected but sending nothing
        self.readings: list[Reading] = []
        self.session = DeviceLink(
            "monitor",
            handler,
            self.link.path,
            self.readings.append,
            SystemClock(),
            timings=timings or LinkTimings(stale_after=1.5, backoff_initial=0.1, backoff_max=0.3),
        )

    # -- hooks for subclasses ------------------------------------------------------------------

    def on_replug(self) -> None:
        """The cable came back (a new pty)."""

    def after_stop(self) -> None:
        """Checks once the driver has stopped."""

    def describe(self) -> str:
        return f"availability {self.availability()}"

    # -- running -------------------------------------------------------------------------------

    async def _device(self) -> None:
        start = time.monotonic()
        was_plugged = True
        while True:
            t = (time.monotonic() - start) * self.speed
            if self.link.plugged and not was_plugged:
                self.on_replug()
            was_plugged = self.link.plugged
            request = self.link.read()
            if request:
                self.link.write(self.emulator.receive(request, t, self.vitals, self.pump))
            out = self.emulator.transmit(t, self.vitals, self.pump)
            if out and not self.silent:
                self.link.write(out)
            await asyncio.sleep(self.tick)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[PtyRig]:
        tasks = [asyncio.create_task(self._device()), asyncio.create_task(self.session.run())]
        try:
            yield self
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.link.close()
        self.after_stop()

    # -- what the driver reported --------------------------------------------------------------

    def vitals_of(self, metric: Metric) -> list[VitalReading]:
        return [r for r in self.readings if isinstance(r, VitalReading) and r.metric is metric]

    def values(self, metric: Metric) -> list[float | None]:
        return [r.value for r in self.vitals_of(metric)]

    def availability(self) -> list[Availability]:
        return [r.availability for r in self.readings if isinstance(r, AvailabilityChange)]

    def conditions(self) -> list[frozenset[Condition]]:
        return [r.active for r in self.readings if isinstance(r, DeviceConditions)]

    async def until(self, predicate: Callable[[], object], timeout: float = 6.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s; {self.describe()}")
            await asyncio.sleep(0.02)

    async def connected_with_readings(self) -> None:
        await self.until(lambda: self.values(Metric.HR) and self.availability())
        assert self.availability()[-1] is Availability.CONNECTED

    async def survives_each(self, faults: list[tuple[Fault, str]]) -> None:
        """Each protocol fault in turn: a frame is rejected (with ``reason`` in its message),
        then the next good frame gets through."""
        stats = self.session.stats
        for fault, reason in faults:
            before = stats.frames_rejected
            self.emulator.faults.add(fault)
            await self.until(lambda: stats.frames_rejected > before)  # noqa: B023
            assert reason in stats.last_rejection
            self.emulator.faults.discard(fault)
            await self.fresh_hr(72)

    async def fresh_hr(self, value: float) -> None:
        """A new HR reading arrives and the latest one is ``value``."""
        seen = len(self.values(Metric.HR))
        await self.until(
            lambda: self.values(Metric.HR)[seen:] and self.values(Metric.HR)[-1] == value
        )
