"""Drivers by stable name, imported lazily (after python-can's interface registry).

Names are part of the user interface (``vigil serve --device masimo-ascii=/dev/ttyUSB0``) and
never change once published.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from drivers.errors import DriverUsageError
from drivers.handlers.base import Handler

#: name -> (module, class, one-line description)
DRIVERS: dict[str, tuple[str, str, str]] = {
    "masimo-ascii": (
        "drivers.handlers.masimo_ascii",
        "MasimoAsciiHandler",
        "Masimo Radical-7 / Rad-8 / Rad-97 pulse oximeter, serial ASCII 1 (9600 8N1)",
    ),
    "ge-dri": (
        "drivers.handlers.ge_dri",
        "GeDriHandler",
        "GE CARESCAPE / Datex-Ohmeda S/5 monitor, DRI computer interface (19200 8E1 RTS/CTS)",
    ),
    "bbraun-bcc": (
        "drivers.handlers.bbraun_bcc",
        "BbraunBccHandler",
        "B. Braun Space rack (SpaceCom) pumps, BCC read-only (9600 8N1 or socket://host:4001)",
    ),
    "alaris-asena": (
        "drivers.handlers.alaris_asena",
        "AlarisAsenaHandler",
        "Alaris / CareFusion Asena GH/CC/GS syringe pump, ASENA read-only (38400 8N1)",
    ),
    "philips-intellivue": (
        "drivers.handlers.philips_intellivue",
        "PhilipsIntellivueHandler",
        "Philips IntelliVue MP/MX monitor, Data Export over MIB/RS232 (115200 8N1)",
    ),
}


def driver_names() -> list[str]:
    return sorted(DRIVERS)


def handler_factory(name: str) -> Callable[[str], Handler]:
    """The handler class of driver ``name``; call it with the source name."""
    try:
        module_name, class_name, _ = DRIVERS[name]
    except KeyError:
        known = ", ".join(driver_names())
        raise DriverUsageError(f"unknown driver {name!r}; known drivers: {known}") from None
    module = importlib.import_module(module_name)
    return cast(Callable[[str], Handler], getattr(module, class_name))


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    driver: str
    url: str
    #: The source name readings carry; defaults to the driver name.
    source: str

    def __str__(self) -> str:
        return f"{self.driver}={self.url}"


def parse_device_spec(text: str) -> DeviceSpec:
    """Parse ``DRIVER=URL`` or ``SOURCE:DRIVER=URL``.

    Example: ``monitor:ge-dri=/dev/vigil/monitor``.
    """
    left, sep, url = text.partition("=")
    if not sep or not left.strip() or not url.strip():
        raise DriverUsageError(
            f"device spec {text!r} is not DRIVER=URL (e.g. masimo-ascii=/dev/ttyUSB0); "
            f"drivers: {', '.join(driver_names())}"
        )
    source, colon, driver = left.strip().rpartition(":")
    driver = driver.strip()
    if driver not in DRIVERS:
        raise DriverUsageError(
            f"unknown driver {driver!r} in {text!r}; known drivers: {', '.join(driver_names())}"
        )
    return DeviceSpec(driver=driver, url=url.strip(), source=(source.strip() if colon else driver))
