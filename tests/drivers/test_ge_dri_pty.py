"""The ge-dri driver against the GE DRI emulator over a real pseudo-terminal.

The driver runs exactly as in production (DeviceLink, pyserial at 19200 8E1 RTS/CTS, the
system clock); only the requested interval is 1 s instead of 10 s, simulator time runs 4× faster
(as the runner's ``speed`` option does: a record every 0.25 s) and the link times are short, so
the whole file takes seconds. The emulator runs in the same event loop, as the simulator's
runner would: it reads what the driver wrote and writes what the monitor sends, every 50 ms.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from drivers.handlers.ge_dri import GeDriHandler
from drivers.readings import Availability, Metric
from simulator.devices.base import Fault
from simulator.devices.ge_dri import GeDriEmulator
from tests.pty_rig import PtyRig

SPEED = 4.0  # simulator seconds per real second


class Rig(PtyRig):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(
            tmp_path,
            GeDriEmulator(waveforms=True, rng=random.Random(1)),
            GeDriHandler("monitor", interval_s=1),
            speed=SPEED,
            tick=0.05,
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
        await rig.survives_each(
            [
                (Fault.BAD_CHECKSUM, "checksum"),
                (Fault.WRONG_LENGTH, "r_len"),
                (Fault.GARBAGE, ""),
                (Fault.MID_FRAME, ""),
            ]
        )
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
