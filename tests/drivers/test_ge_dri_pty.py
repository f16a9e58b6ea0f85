"""The ge-dri driver against the GE DRI emulator over a real pseudo-terminal.

The driver runs exactly as in production (DeviceSession, pyserial at 19200 8E1 RTS/CTS, the
system clock); only the requested interval is 1 s instead of 10 s, simulator time runs 4× faster
(as the runner's ``speed`` option does: a record every 0.25 s) and the link times are short, so
the whole file takes seconds. The emulator runs in the same event loop, as the simulator's
runner would: it reads what the driver wrote and writes what the monitor sends, every 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from drivers.clock import SystemClock
from drivers.readings import Availability, AvailabilityChange, Metric, Reading, VitalReading
from drivers.sessions.base import DeviceSession
from drivers.sessions.ge_dri import GeDriHandler
from drivers.sessions.link import LinkTimings
from simulator.devices.base import Fault
from simulator.devices.ge_dri import GeDriEmulator
from simulator.model import PumpModelState, Vitals
from simulator.pty_link import PtyLink

PUMP = PumpModelState()
SPEED = 4.0  # simulator seconds per real second


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.link = PtyLink(tmp_path / "monitor")
        self.emulator = GeDriEmulator(waveforms=True, rng=random.Random(1))
        self.vitals = Vitals(hr=72, nibp=(121, 79, 93), nibp_at=0.0)
        self.silent = False  # a line-level fault: the monitor is connected but sends nothing
        self.readings: list[Reading] = []
        self.session = DeviceSession(
            "monitor",
            GeDriHandler("monitor", interval_s=1),
            self.link.path,
            self.readings.append,
            SystemClock(),
            timings=LinkTimings(stale_after=1.5, backoff_initial=0.1, backoff_max=0.3),
        )

    async def _device(self) -> None:
        start = time.monotonic()
        while True:
            t = (time.monotonic() - start) * SPEED
            request = self.link.read()
            if request:
                self.link.write(self.emulator.receive(request, t, self.vitals, PUMP))
            out = self.emulator.transmit(t, self.vitals, PUMP)
            if out and not self.silent:
                self.link.write(out)
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Rig]:
        tasks = [asyncio.create_task(self._device()), asyncio.create_task(self.session.run())]
        try:
            yield self
        finally:
            # Python 3.11's asyncio.wait_for (used by DeviceSession) can swallow a cancellation
            # that races with its timeout, so cancel until the task has really stopped.
            for task in tasks:
                while not task.done():
                    task.cancel()
                    await asyncio.wait([task], timeout=0.1)
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.link.close()

    # -- what the driver reported ----------------------------------------------------------

    def values(self, metric: Metric) -> list[float | None]:
        return [
            r.value for r in self.readings if isinstance(r, VitalReading) and r.metric is metric
        ]

    def availability(self) -> list[Availability]:
        return [r.availability for r in self.readings if isinstance(r, AvailabilityChange)]

    async def until(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        """Poll with a deadline; never a sleep that hopes."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s; availability {self.availability()}")
            await asyncio.sleep(0.02)

    async def connected_with_readings(self) -> None:
        await self.until(lambda: self.values(Metric.HR) and self.availability())
        assert self.availability()[-1] is Availability.CONNECTED

    async def fresh_hr(self, value: float) -> None:
        seen = len(self.values(Metric.HR))
        await self.until(
            lambda: self.values(Metric.HR)[seen:] and self.values(Metric.HR)[-1] == value
        )


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


async def test_readings_arrive_and_every_protocol_fault_is_survived(rig: Rig) -> None:
    async with rig.running():
        await rig.connected_with_readings()
        assert rig.values(Metric.HR)[0] == 72
        assert rig.values(Metric.SPO2)[0] == 98
        assert rig.values(Metric.ETCO2)[0] == pytest.approx(36.0, abs=0.05)
        stats = rig.session.stats
        for fault, reason in [
            (Fault.BAD_CHECKSUM, "checksum"),
            (Fault.WRONG_LENGTH, "r_len"),
            (Fault.GARBAGE, ""),
            (Fault.MID_FRAME, ""),
        ]:
            before = stats.frames_rejected
            rig.emulator.faults.add(fault)
            await rig.until(lambda: stats.frames_rejected > before)  # noqa: B023
            assert reason in stats.last_rejection
            rig.emulator.faults.discard(fault)
            await rig.fresh_hr(72)  # the next record gets through
        rig.vitals.hr = 90
        await rig.fresh_hr(90)  # recovered: new values flow again
        assert rig.availability() == [Availability.CONNECTED]
        # one cuff measurement, many records: NIBP was reported once
        assert rig.values(Metric.NIBP_SYS) == [121]


async def test_silence_makes_the_link_stale_then_it_recovers(rig: Rig) -> None:
    async with rig.running():
        await rig.connected_with_readings()
        rig.silent = True
        await rig.until(lambda: rig.availability()[-1] is Availability.STALE)
        # the driver asks again (resend after interval + 2 s) while the monitor is silent
        await rig.until(lambda: len(rig.emulator.requests) >= 2)
        rig.silent = False
        await rig.until(lambda: rig.availability()[-1] is Availability.CONNECTED)
        assert rig.availability() == [
            Availability.CONNECTED,
            Availability.STALE,
            Availability.CONNECTED,
        ]


async def test_unplug_and_plug_back(rig: Rig) -> None:
    async with rig.running():
        await rig.connected_with_readings()
        rig.link.unplug()
        await rig.until(lambda: rig.availability()[-1] is Availability.DISCONNECTED)
        requests = len(rig.emulator.requests)
        rig.link.plug()  # a new pty behind the same link path, as udev does
        await rig.until(lambda: rig.availability()[-1] is Availability.CONNECTED)
        assert len(rig.emulator.requests) > requests  # the request was sent on the new port
        rig.vitals.hr = 81
        await rig.fresh_hr(81)
        assert rig.availability() == [
            Availability.CONNECTED,
            Availability.DISCONNECTED,
            Availability.CONNECTED,
        ]
        assert rig.session.stats.opens == 2
