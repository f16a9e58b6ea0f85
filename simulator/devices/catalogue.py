"""Emulators by the driver name they emulate (lazy imports)."""

from __future__ import annotations

import importlib
from typing import Any, cast

from simulator.devices.base import Emulator

EMULATORS: dict[str, tuple[str, str]] = {
    "masimo-ascii": ("simulator.devices.masimo", "MasimoRad8Emulator"),
    "ge-dri": ("simulator.devices.ge_dri", "GeDriEmulator"),
    "bbraun-bcc": ("simulator.devices.bbraun_bcc", "BbraunSpaceEmulator"),
    "alaris-asena": ("simulator.devices.alaris_asena", "AlarisAsenaEmulator"),
    "philips-intellivue": ("simulator.devices.philips_intellivue", "PhilipsIntellivueEmulator"),
}

MONITORS = ("masimo-ascii", "ge-dri", "philips-intellivue")
PUMPS = ("bbraun-bcc", "alaris-asena")


def available() -> list[str]:
    out = []
    for name, (module, _) in EMULATORS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        out.append(name)
    return out


def create(driver: str, **kwargs: Any) -> Emulator:
    try:
        module_name, class_name = EMULATORS[driver]
    except KeyError:
        raise ValueError(
            f"no emulator for driver {driver!r}; emulators: {', '.join(available())}"
        ) from None
    module = importlib.import_module(module_name)
    return cast(Emulator, getattr(module, class_name)(**kwargs))
