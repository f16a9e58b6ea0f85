"""Pump emulators ⇄ pump drivers over a real pseudo-terminal (and BCC over TCP): every pump
condition, garbage, bad checksums, an unplugged cable, and back.

The emulated pump runs in the same event loop as a small task that reads what the driver wrote
from the pty master, feeds it to the emulator and writes the reply, every 20 ms. Handlers poll
every 0.2 s here (5 s in service) to keep the file fast.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from drivers.clock import SystemClock
from drivers.device_link import DeviceLink
from drivers.handlers.alaris_asena import AlarisAsenaHandler
from drivers.handlers.base import Handler
from drivers.handlers.bbraun_bcc import ALLOWED_COMMANDS, BbraunBccHandler
from drivers.link_monitor import LinkTimings
from drivers.readings import Availability, AvailabilityChange, PumpCondition, PumpReading, Reading
from drivers.readings import PumpState as S
from simulator.devices.alaris_asena import AlarisAsenaEmulator
from simulator.devices.base import Fault
from simulator.devices.bbraun_bcc import BbraunSpaceEmulator, serve_tcp
from simulator.model import PumpModelState, Vitals
from simulator.pty_link import PtyLink

POLL, TIMEOUT = 0.2, 0.5  # seconds; 5 s and 3 s / 1 s in service
TIMINGS = LinkTimings(stale_after=3.0, backoff_initial=0.1, backoff_max=0.3)
C = PumpCondition


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def run_device(
    link: PtyLink, emulator: BbraunSpaceEmulator | AlarisAsenaEmulator, pump: PumpModelState
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    was_plugged = True
    while True:
        if link.plugged and not was_plugged:
            emulator.reset_link()  # a new cable: no half request left over
        was_plugged = link.plugged
        data = link.read()
        if data:
            reply = emulator.receive(data, loop.time() - start, Vitals(), pump)
            if reply:
                link.write(reply)
        await asyncio.sleep(0.02)


class Bedside:
    """One session plus the readings it emitted."""

    def __init__(self, handler: Handler, url: str) -> None:
        self.readings: list[Reading] = []
        self.session = DeviceLink(
            "pump", handler, url, self.readings.append, SystemClock(), timings=TIMINGS
        )

    def pumps(self, since: int = 0) -> Iterator[PumpReading]:
        return (r for r in self.readings[since:] if isinstance(r, PumpReading))

    def availability(self) -> list[Availability]:
        return [r.availability for r in self.readings if isinstance(r, AvailabilityChange)]

    async def expect(
        self, predicate: Callable[[PumpReading], bool], timeout: float = 5.0
    ) -> PumpReading:
        """The first reading emitted from now on that satisfies ``predicate``."""
        mark = len(self.readings)
        await until(lambda: any(predicate(r) for r in self.pumps(mark)), timeout)
        return next(r for r in self.pumps(mark) if predicate(r))


def is_(state: S, *conditions: C) -> Callable[[PumpReading], bool]:
    return lambda r: r.state is state and r.conditions == frozenset(conditions)


async def walk_through(
    bedside: Bedside,
    pump: PumpModelState,
    emulator: BbraunSpaceEmulator | AlarisAsenaEmulator,
    *,
    air: bool,
) -> None:
    """Occlusion at T, air, end of volume, paused, battery low, garbage, bad checksum."""
    loop = asyncio.get_running_loop()
    await bedside.expect(is_(S.INFUSING))
    assert bedside.availability() == [Availability.CONNECTED]

    occluded_at = loop.time()
    pump.alarms = {"occlusion"}
    reading = await bedside.expect(lambda r: C.OCCLUSION in r.conditions)
    assert reading.state is S.ALARM
    assert loop.time() - occluded_at < 2.0  # a few 0.2 s polls, not a stale link

    pump.alarms = {"air"}
    if air:
        await bedside.expect(is_(S.ALARM, C.AIR_IN_LINE))
    else:  # a syringe pump has no air-in-line detector
        await bedside.expect(is_(S.INFUSING))

    pump.state, pump.alarms = "complete", {"end_of_volume"}
    await bedside.expect(is_(S.COMPLETE, C.END_OF_VOLUME))

    pump.state, pump.alarms = "paused", set()
    await bedside.expect(is_(S.PAUSED))

    pump.state, pump.alarms = "infusing", {"battery_low"}
    reading = await bedside.expect(is_(S.INFUSING, C.BATTERY_LOW))
    assert reading.rate_ml_h == 12.5 and reading.volume_infused_ml is not None
    pump.alarms = set()

    stats = bedside.session.stats
    for fault in (Fault.GARBAGE, Fault.BAD_CHECKSUM):
        target = stats.frames_rejected + 3
        emulator.faults.add(fault)
        await until(lambda: stats.frames_rejected >= target)  # noqa: B023
        emulator.faults.discard(fault)
        await bedside.expect(is_(S.INFUSING))
    assert bedside.availability()[-1] is Availability.CONNECTED


async def unplug_and_back(bedside: Bedside, link: PtyLink) -> None:
    opens = bedside.session.stats.opens
    link.unplug()
    await until(lambda: bedside.availability()[-1] is Availability.DISCONNECTED)
    link.plug()
    await until(lambda: bedside.availability()[-1] is Availability.CONNECTED)
    assert bedside.session.stats.opens > opens
    await bedside.expect(is_(S.INFUSING))


def infusing() -> PumpModelState:
    return PumpModelState(rate_ml_h=12.5, volume_infused_ml=3.2, vtbi_ml=50.0, state="infusing")


async def test_bbraun_rack_over_a_pty(tmp_path: Path) -> None:
    pump = infusing()
    emulator = BbraunSpaceEmulator(slots=("11", "1A"), extra_pumps={"1A": PumpModelState()})
    link = PtyLink(tmp_path / "pump")
    bedside = Bedside(
        BbraunBccHandler("pump", poll_interval=POLL, response_timeout=TIMEOUT), link.path
    )
    tasks = [
        asyncio.create_task(run_device(link, emulator, pump)),
        asyncio.create_task(bedside.session.run()),
    ]
    try:
        await walk_through(bedside, pump, emulator, air=True)
        assert {r.channel for r in bedside.pumps()} == {"11", "1A"}
        assert emulator.naks > 0  # the bad checksums were NAKed
        await unplug_and_back(bedside, link)
        assert set(emulator.requests) <= ALLOWED_COMMANDS and not emulator.forbidden
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        link.close()


async def test_alaris_asena_over_a_pty(tmp_path: Path) -> None:
    pump = infusing()
    emulator = AlarisAsenaEmulator()
    link = PtyLink(tmp_path / "pump")
    handler = AlarisAsenaHandler("pump", poll_interval=POLL, response_timeout=TIMEOUT)
    bedside = Bedside(handler, link.path)
    tasks = [
        asyncio.create_task(run_device(link, emulator, pump)),
        asyncio.create_task(bedside.session.run()),
    ]
    try:
        await walk_through(bedside, pump, emulator, air=False)
        assert handler.serial_number == "8002-51733"
        await unplug_and_back(bedside, link)
        queries = {"INF", "INF_VTBI", "ALARM", "INST_SERIALNO", "COMMS_PROTOCOL"}
        assert set(emulator.requests) <= queries and not emulator.forbidden
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        link.close()


async def test_bbraun_rack_over_tcp() -> None:
    pump = infusing()
    emulator = BbraunSpaceEmulator()
    loop = asyncio.get_running_loop()
    start = loop.time()
    server = await serve_tcp(
        emulator, "127.0.0.1", 0, lambda: (loop.time() - start, Vitals(), pump)
    )
    bedside = Bedside(
        BbraunBccHandler("pump", poll_interval=POLL, response_timeout=TIMEOUT),
        f"socket://127.0.0.1:{server.port}",
    )
    task = asyncio.create_task(bedside.session.run())
    try:
        await bedside.expect(is_(S.INFUSING))
        pump.alarms = {"occlusion"}
        await bedside.expect(is_(S.ALARM, C.OCCLUSION))
        pump.alarms = set()
        server.drop_connections()  # the SpaceStation drops the line
        await until(lambda: bedside.availability()[-1] is Availability.DISCONNECTED)
        await until(lambda: bedside.availability()[-1] is Availability.CONNECTED)
        await bedside.expect(is_(S.INFUSING))
        assert not emulator.forbidden
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.close()
