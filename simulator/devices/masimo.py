"""Emulated Masimo Rad-8 in serial "ASCII 1" mode.

Written from the published line format (docs/protocols.md §Masimo, real Rad-8 lines from the
yahnatan/pulseox README): one line per second, 9600 8N1, CR LF::

    MM/DD/YY HH:MM:SS SN=nnnnnnnnnn SPO2=nnn% BPM=nnn PI=nn.nn% SPCO=--.-% SPMET=--.-% \
DESAT=-- PIDELTA=+-- ALARM=0000 EXC=nnnnnn

Values are zero-padded to the widths the real lines show; a missing value is written as dashes of
the same width. EXC bits (Rad-8 manual): 001 no sensor, 020 sensor off, 400 low signal IQ,
800 SET mode (always set, as on the real device).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from simulator.devices.base import Fault
from simulator.model import PumpModelState, Vitals

EXC_NO_SENSOR = 0x001
EXC_SENSOR_OFF = 0x020
EXC_LOW_SIGNAL_IQ = 0x400
EXC_SET_MODE = 0x800


def _int_field(value: float | None, width: int) -> str:
    return "-" * width if value is None else f"{round(value):0{width}d}"


def format_line(
    when: datetime,
    serial: str,
    spo2: float | None,
    bpm: float | None,
    pi: float | None,
    exc: int,
    alarm: int = 0,
) -> bytes:
    """One Rad-8 AS1 line, CR LF included."""
    pi_text = "--.--" if pi is None else f"{pi:05.2f}"
    text = (
        f"{when:%m/%d/%y %H:%M:%S} SN={serial} SPO2={_int_field(spo2, 3)}% "
        f"BPM={_int_field(bpm, 3)} PI={pi_text}% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- "
        f"ALARM={alarm:04X} EXC={exc:06X}\r\n"
    )
    return text.encode("ascii")


class MasimoRad8Emulator:
    driver: ClassVar[str] = "masimo-ascii"
    period: ClassVar[float] = 1.0

    def __init__(
        self,
        serial: str = "0000056661",
        epoch: datetime | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.serial = serial
        self.epoch = epoch or datetime.now(UTC).replace(tzinfo=None)
        self.faults: set[Fault] = set()
        self._rng = rng or random.Random(0)

    def transmit(self, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        exc = EXC_SET_MODE
        spo2, bpm, pi = vitals.spo2, vitals.pulse_rate, vitals.perfusion_index
        if vitals.no_sensor:
            exc |= EXC_NO_SENSOR
            spo2 = bpm = pi = None
        elif vitals.sensor_off:
            exc |= EXC_SENSOR_OFF
            spo2 = bpm = pi = None
        if vitals.low_signal_iq:
            exc |= EXC_LOW_SIGNAL_IQ
        if Fault.ABSURD_VALUE in self.faults:
            spo2 = 300
        line = format_line(self.epoch + timedelta(seconds=t), self.serial, spo2, bpm, pi, exc)
        if Fault.MID_FRAME in self.faults:
            self.faults.discard(Fault.MID_FRAME)
            line = line[len(line) // 2 :]
        if Fault.GARBAGE in self.faults:
            noise = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(1, 40)))
            line = noise + b"\r\n" + line  # a burst of line noise, then the next good line
        return line

    def receive(self, data: bytes, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        return b""  # the oximeter ignores anything sent to it
