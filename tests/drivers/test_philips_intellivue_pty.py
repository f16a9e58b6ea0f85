"""The philips-intellivue driver against the IntelliVue emulator over a real pseudo-terminal.

The driver runs as in production (DeviceLink, pyserial at 115200 8N1, the system clock); only
its timings are short (silence after 1.5 s, back-off 0.2-0.5 s, a 4 s extended poll renewed
every 3 s, a keep-alive every 0.8 s), the emulated monitor sends numerics every 0.25 s and
re-sends its MDS Create Event every 0.5 s. The emulator runs in the same event loop, as the
simulator's runner would: every 20 ms it reads what the driver wrote and writes what the monitor
sends. Each test takes a few seconds.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from drivers.handlers.philips_intellivue import (
    IntellivueTimings,
    Phase,
    PhilipsIntellivueHandler,
)
from drivers.readings import (
    Availability,
    Condition,
    Metric,
    Validity,
    VitalReading,
)
from simulator.devices.base import Fault
from simulator.devices.philips_intellivue import READ_ONLY_KINDS, PhilipsIntellivueEmulator
from tests.pty_rig import PtyRig

TIMINGS = IntellivueTimings(
    response_timeout=1.0,
    mds_timeout=2.0,
    silence_timeout=1.5,
    backoff_initial=0.2,
    backoff_max=0.5,
    poll_period=4.0,
    renew_margin=1.0,
    keepalive_interval=0.8,
)


class Rig(PtyRig):
    emulator: PhilipsIntellivueEmulator
    handler: PhilipsIntellivueHandler

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(
            tmp_path,
            PhilipsIntellivueEmulator(
                numeric_period=0.25, mds_resend_interval=0.5, rng=random.Random(1)
            ),
            PhilipsIntellivueHandler("monitor", timings=TIMINGS),
        )

    def on_replug(self) -> None:
        self.emulator.reset_link()  # a new cable: no half frame left over

    def after_stop(self) -> None:
        # Read-only: the monitor never saw anything but association control and polls.
        assert not self.emulator.forbidden
        assert set(self.emulator.requests) <= READ_ONLY_KINDS

    def describe(self) -> str:
        return (
            f"availability {self.availability()}, phase {self.handler.phase}, "
            f"last {self.session.stats.last_rejection!r}"
        )


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


async def test_readings_arrive_and_every_corrupt_frame_is_survived(rig: Rig) -> None:
    async with rig.running():
        await rig.connected_with_readings()
        assert rig.values(Metric.HR)[0] == 72
        assert rig.values(Metric.SPO2)[0] == 98
        assert rig.values(Metric.ETCO2)[0] == 36
        assert rig.handler.phase is Phase.POLLING
        await rig.survives_each(
            [
                (Fault.BAD_CHECKSUM, "FCS"),
                (Fault.WRONG_LENGTH, "length field"),
                (Fault.GARBAGE, ""),
                (Fault.MID_FRAME, ""),
            ]
        )
        rig.vitals.hr = 90
        await rig.fresh_hr(90)
        assert rig.availability() == [Availability.CONNECTED]
        assert rig.handler.associations == 1  # the same association all along
        assert rig.values(Metric.NIBP_SYS) == [121]  # one cuff measurement, reported once


async def test_refused_association_is_stale_until_the_monitor_accepts(rig: Rig) -> None:
    rig.emulator.faults.add(Fault.REFUSE)
    async with rig.running():
        await rig.until(lambda: rig.availability() == [Availability.STALE])
        assert rig.handler.refusals >= 2 and not rig.values(Metric.HR)
        rig.emulator.faults.discard(Fault.REFUSE)
        await rig.connected_with_readings()
        assert rig.availability() == [Availability.STALE, Availability.CONNECTED]


async def test_abort_mid_session_reconnects(rig: Rig) -> None:
    async with rig.running():
        await rig.connected_with_readings()
        rig.emulator.faults.add(Fault.ABORT)
        await rig.until(lambda: rig.handler.aborts >= 1)
        rig.emulator.faults.discard(Fault.ABORT)
        rig.vitals.hr = 88
        await rig.fresh_hr(88)
        assert rig.handler.associations >= 2 and rig.emulator.associations >= 2
        assert rig.handler.phase is Phase.POLLING


async def test_silence_goes_stale_then_recovers(rig: Rig) -> None:
    async with rig.running():
        await rig.connected_with_readings()
        rig.emulator.faults.add(Fault.SILENCE)
        await rig.until(lambda: rig.availability()[-1] is Availability.STALE)
        await rig.until(lambda: rig.handler.timeouts >= 1)  # silence: released, backing off
        rig.emulator.faults.discard(Fault.SILENCE)
        rig.vitals.hr = 77
        await rig.fresh_hr(77)
        assert rig.availability()[-1] is Availability.CONNECTED
        assert rig.availability() == [
            Availability.CONNECTED,
            Availability.STALE,
            Availability.CONNECTED,
        ]


async def test_demo_mode_is_flagged_never_valid(rig: Rig) -> None:
    async with rig.running():
        await rig.connected_with_readings()
        rig.emulator.faults.add(Fault.DEMO_MODE)
        await rig.until(lambda: rig.conditions()[-1] == {Condition.DEMO_DATA})
        mark = len(rig.readings)
        await rig.until(lambda: len(rig.readings) > mark + 10)
        demo = [r for r in rig.readings[mark:] if isinstance(r, VitalReading)]
        assert demo and all(r.validity is not Validity.VALID for r in demo)
        rig.emulator.faults.discard(Fault.DEMO_MODE)
        await rig.until(lambda: rig.conditions()[-1] == frozenset())
        await rig.until(lambda: rig.vitals_of(Metric.HR)[-1].validity is Validity.VALID)


async def test_unplug_and_plug_back_reassociates(rig: Rig) -> None:
    async with rig.running():
        await rig.connected_with_readings()
        rig.link.unplug()
        await rig.until(lambda: rig.availability()[-1] is Availability.DISCONNECTED)
        rig.link.plug()  # a new pty behind the same path; the monitor still holds the old
        rig.vitals.hr = 81  # association: refused, released, and associated again
        await rig.fresh_hr(81)
        assert rig.availability()[-1] is Availability.CONNECTED
        assert rig.session.stats.opens == 2 and rig.emulator.associations == 2
