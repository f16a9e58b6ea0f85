"""Device emulators, one per driver name, each written from the vendor's document."""

from simulator.devices.base import Emulator, Fault

__all__ = ["Emulator", "Fault"]
