"""Emulator ⇄ driver over a real pseudo-terminal, through faults and back."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from drivers.clock import SystemClock
from drivers.device_link import DeviceLink
from drivers.handlers.masimo_ascii import MasimoAsciiHandler
from drivers.link_monitor import LinkTimings
from drivers.readings import Availability, AvailabilityChange, Metric, Reading, VitalReading
from simulator.devices.base import Fault
from simulator.runner import Simulator, make_device
from simulator.scenario import ConstantScenario


async def until(predicate: object, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_emulated_oximeter_through_unplug_silence_and_garbage(tmp_path: Path) -> None:
    device = make_device("monitor", "masimo-ascii", tmp_path)
    scenario = ConstantScenario()
    scenario.vitals.spo2 = 97
    # 10x speed: the emulator sends a line every 0.1 s.
    sim = Simulator(scenario, [device], speed=10.0)
    readings: list[Reading] = []
    session = DeviceLink(
        "monitor",
        MasimoAsciiHandler("monitor"),
        str(device.link.path),
        readings.append,
        SystemClock(),
        timings=LinkTimings(stale_after=1.0, backoff_initial=0.1, backoff_max=0.3),
    )

    def availability() -> list[Availability]:
        return [r.availability for r in readings if isinstance(r, AvailabilityChange)]

    def spo2_values() -> list[float | None]:
        return [
            r.value for r in readings if isinstance(r, VitalReading) and r.metric is Metric.SPO2
        ]

    sim_task = asyncio.create_task(sim.run())
    session_task = asyncio.create_task(session.run())
    try:
        await until(lambda: 97.0 in spo2_values())
        assert availability() == [Availability.CONNECTED]

        device.set_fault(Fault.UNPLUG, True)
        await until(lambda: availability()[-1] is Availability.DISCONNECTED)
        device.set_fault(Fault.UNPLUG, False)
        await until(lambda: availability()[-1] is Availability.CONNECTED)
        assert session.stats.opens >= 2

        device.set_fault(Fault.SILENCE, True)
        await until(lambda: availability()[-1] is Availability.STALE)
        device.set_fault(Fault.SILENCE, False)
        await until(lambda: availability()[-1] is Availability.CONNECTED)

        device.set_fault(Fault.GARBAGE, True)
        rejected_before = session.stats.frames_rejected
        count = len(spo2_values())
        await until(lambda: session.stats.frames_rejected > rejected_before + 3)
        await until(lambda: len(spo2_values()) > count + 3)  # good lines still get through
        device.set_fault(Fault.GARBAGE, False)

        device.set_fault(Fault.ABSURD_VALUE, True)
        await until(lambda: session.stats.field_problems > 0)
        device.set_fault(Fault.ABSURD_VALUE, False)
        assert all(v is None or 0 <= v <= 100 for v in spo2_values())
        assert availability()[-1] is Availability.CONNECTED
    finally:
        for task in (session_task, sim_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_port_that_never_opens_reports_disconnected(tmp_path: Path) -> None:
    readings: list[Reading] = []
    session = DeviceLink(
        "monitor",
        MasimoAsciiHandler("monitor"),
        str(tmp_path / "nothing-here"),
        readings.append,
        SystemClock(),
    )
    task = asyncio.create_task(session.run())
    try:
        await until(lambda: readings)
        change = readings[0]
        assert isinstance(change, AvailabilityChange)
        assert change.availability is Availability.DISCONNECTED
        assert "nothing-here" in change.detail
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
