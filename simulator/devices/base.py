"""The shape every emulator has.

An emulator is a pure object: the runner calls ``transmit(t, ...)`` at its ``period`` to get the
bytes the device sends by itself, and ``receive(data, t, ...)`` with the bytes a driver wrote, to
get the reply. ``t`` is simulator time in seconds. Line-level faults (silence, unplug) are the
runner's; protocol-level faults (garbage, bad checksum, ...) are the emulator's, switched on and
off through ``faults``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Protocol

from simulator.model import PumpModelState, Vitals


class Fault(StrEnum):
    UNPLUG = "unplug"  # the cable is pulled: the pty disappears (runner)
    SILENCE = "silence"  # connected but sending nothing (runner)
    GARBAGE = "garbage"  # random bytes between frames
    BAD_CHECKSUM = "bad_checksum"
    WRONG_LENGTH = "wrong_length"
    MID_FRAME = "mid_frame"  # the next transmission starts in the middle of a frame
    ABSURD_VALUE = "absurd_value"  # e.g. SpO2 300 %
    REFUSE = "refuse"  # the device refuses to associate (IntelliVue Association Refuse)
    ABORT = "abort"  # the device aborts the running session (IntelliVue Association Abort)
    DEMO_MODE = "demo_mode"  # the device runs in demo mode: simulated data flagged as such


class Emulator(Protocol):
    driver: ClassVar[str]
    #: Seconds between spontaneous transmissions (or between checks of a request-driven device).
    period: ClassVar[float]
    faults: set[Fault]

    def transmit(self, t: float, vitals: Vitals, pump: PumpModelState) -> bytes: ...

    def receive(self, data: bytes, t: float, vitals: Vitals, pump: PumpModelState) -> bytes: ...
