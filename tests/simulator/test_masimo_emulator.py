"""The Masimo emulator writes exactly the published line format (golden bytes, not the codec)."""

from __future__ import annotations

from datetime import datetime

from simulator.devices.base import Fault
from simulator.devices.masimo import MasimoRad8Emulator, format_line
from simulator.model import PumpModelState, Vitals

# Written by hand from the real Rad-8 line of the yahnatan/pulseox README.
GOLDEN_NORMAL = (
    b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% "
    b"DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
)
GOLDEN_NO_SENSOR = (
    b"03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% SPMET=--.-% "
    b"DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000801\r\n"
)


def test_format_line_matches_the_real_rad8_line() -> None:
    line = format_line(datetime(2016, 2, 22, 22, 47, 45), "0000056661", 98, 97, 3.6, 0x800)
    assert line == GOLDEN_NORMAL


def test_no_sensor_line() -> None:
    emulator = MasimoRad8Emulator(serial="0000093112", epoch=datetime(2016, 3, 19, 13, 37, 12))
    line = emulator.transmit(0.0, Vitals(no_sensor=True), PumpModelState())
    assert line == GOLDEN_NO_SENSOR


def test_emulator_line_uses_vitals_and_device_clock() -> None:
    emulator = MasimoRad8Emulator(epoch=datetime(2016, 2, 22, 22, 47, 40))
    vitals = Vitals(spo2=98, pulse_rate=97, perfusion_index=3.6)
    assert emulator.transmit(5.0, vitals, PumpModelState()) == GOLDEN_NORMAL


def test_faults_change_the_bytes() -> None:
    emulator = MasimoRad8Emulator(epoch=datetime(2016, 2, 22, 22, 47, 45))
    vitals = Vitals(spo2=98, pulse_rate=97, perfusion_index=3.6)
    emulator.faults = {Fault.ABSURD_VALUE}
    assert b"SPO2=300%" in emulator.transmit(0.0, vitals, PumpModelState())
    emulator.faults = {Fault.MID_FRAME}
    half = emulator.transmit(0.0, vitals, PumpModelState())
    assert GOLDEN_NORMAL.endswith(half) and len(half) < len(GOLDEN_NORMAL)
    assert Fault.MID_FRAME not in emulator.faults  # one-shot
    emulator.faults = {Fault.GARBAGE}
    noisy = emulator.transmit(0.0, vitals, PumpModelState())
    assert noisy.endswith(b"\r\n" + GOLDEN_NORMAL)


def test_emulator_ignores_what_it_is_sent() -> None:
    assert MasimoRad8Emulator().receive(b"anything", 0, Vitals(), PumpModelState()) == b""
