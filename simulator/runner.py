"""Run emulators on pseudo-terminals in real (or scaled) time.

One ``SimulatedDevice`` = one emulator + one ``PtyLink``. The runner calls the emulator at its
period, passes it whatever the driver wrote, and applies line faults (unplug, silence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from simulator.devices.base import Emulator, Fault
from simulator.model import PumpModelState, Vitals
from simulator.pty_link import PtyLink

log = logging.getLogger(__name__)


class Scenario(Protocol):
    name: str

    def state(self, t: float) -> tuple[Vitals, PumpModelState]: ...

    def active_faults(self, t: float, device: str) -> set[Fault]: ...


#: Emulator faults the runner handles itself rather than passing to the emulator.
_LINE_FAULTS = {Fault.UNPLUG, Fault.SILENCE}


@dataclass
class SimulatedDevice:
    name: str  # "monitor", "pump"
    emulator: Emulator
    link: PtyLink
    bytes_out: int = 0
    bytes_in: int = 0
    _next_tx: float = 0.0
    _manual_faults: set[Fault] = field(default_factory=set)

    def set_fault(self, fault: Fault, on: bool) -> None:
        """Switch a fault by hand (tests, the demo's control API)."""
        if on:
            self._manual_faults.add(fault)
        else:
            self._manual_faults.discard(fault)

    def step(self, t: float, scenario: Scenario) -> None:
        faults = scenario.active_faults(t, self.name) | self._manual_faults
        if Fault.UNPLUG in faults:
            if self.link.plugged:
                log.info("%s: cable unplugged", self.name)
                self.link.unplug()
            return
        if not self.link.plugged:
            log.info("%s: cable plugged in at %s", self.name, self.link.slave_path or "?")
            self.link.plug()
        # Faults the emulator implements: scenario windows plus manual ones. One-shot faults
        # (mid-frame) are consumed by the emulator itself.
        wanted = faults - _LINE_FAULTS
        self.emulator.faults = set(wanted) | (self.emulator.faults & {Fault.MID_FRAME})
        vitals, pump = scenario.state(t)
        data = self.link.read()
        if data:
            self.bytes_in += len(data)
            reply = self.emulator.receive(data, t, vitals, pump)
            if reply and Fault.SILENCE not in faults:
                self.bytes_out += self.link.write(reply)
        if t >= self._next_tx:
            self._next_tx = t + self.emulator.period
            out = self.emulator.transmit(t, vitals, pump)
            if out and Fault.SILENCE not in faults:
                self.bytes_out += self.link.write(out)


class Simulator:
    """Several simulated devices driven by one scenario, in scaled real time."""

    def __init__(
        self,
        scenario: Scenario,
        devices: list[SimulatedDevice],
        *,
        speed: float = 1.0,
        tick: float = 0.02,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scenario = scenario
        self.devices = devices
        self.speed = speed
        self.tick = tick
        self._monotonic = monotonic
        self._start = monotonic()

    @property
    def t(self) -> float:
        """Simulator time in seconds since start."""
        return (self._monotonic() - self._start) * self.speed

    def step(self) -> None:
        t = self.t
        for device in self.devices:
            try:
                device.step(t, self.scenario)
            except Exception:  # an emulator bug must not stop the other devices
                log.exception("%s: emulator failed at t=%.1f", device.name, t)

    async def run(self) -> None:
        try:
            while True:
                self.step()
                await asyncio.sleep(self.tick)
        finally:
            self.close()

    def close(self) -> None:
        for device in self.devices:
            with contextlib.suppress(Exception):
                device.link.close()


def make_device(name: str, driver: str, link_dir: Path | None, **kwargs: object) -> SimulatedDevice:
    """An emulator for ``driver`` on a new pty (with a stable link ``link_dir/name`` if given)."""
    from simulator.devices import catalogue

    emulator = catalogue.create(driver, **kwargs)
    link = PtyLink(link_dir / name if link_dir else None)
    return SimulatedDevice(name=name, emulator=emulator, link=link)
