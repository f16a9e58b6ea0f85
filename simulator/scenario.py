"""Scenarios: what the emulated patient and pump do over time, and which faults happen when.

This is the constant-values scenario of the walking skeleton; the ketamine patient model comes
with ``simulator.physiology``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.devices.base import Fault
from simulator.model import PumpModelState, Vitals


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """``fault`` is active for simulator seconds ``start <= t < start + duration``."""

    fault: Fault
    start: float
    duration: float
    #: Device name ("monitor", "pump") the fault applies to; "" for every device.
    device: str = ""

    def active(self, t: float) -> bool:
        return self.start <= t < self.start + self.duration

    @classmethod
    def parse(cls, text: str) -> FaultWindow:
        """``FAULT@START[+DURATION][:DEVICE]``.

        Examples: ``unplug@30+20``, ``garbage@10+5:monitor``.
        """
        spec, _, device = text.partition(":")
        name, at, timing = spec.partition("@")
        try:
            fault = Fault(name.strip())
        except ValueError:
            known = ", ".join(f.value for f in Fault)
            raise ValueError(f"unknown fault {name!r}; known faults: {known}") from None
        if not at:
            raise ValueError(f"fault {text!r} needs a start time: FAULT@SECONDS[+DURATION]")
        start, _, duration = timing.partition("+")
        try:
            return cls(fault, float(start), float(duration) if duration else 1e12, device.strip())
        except ValueError:
            raise ValueError(
                f"bad fault timing in {text!r}: use FAULT@SECONDS[+DURATION]"
            ) from None


@dataclass(slots=True)
class ConstantScenario:
    """Steady vitals and an idle pump; faults from a list of windows."""

    vitals: Vitals = field(default_factory=Vitals)
    pump: PumpModelState = field(default_factory=PumpModelState)
    faults: list[FaultWindow] = field(default_factory=list)
    name: str = "constant"

    def state(self, t: float) -> tuple[Vitals, PumpModelState]:
        return self.vitals, self.pump

    def active_faults(self, t: float, device: str) -> set[Fault]:
        return {w.fault for w in self.faults if w.active(t) and w.device in ("", device)}
