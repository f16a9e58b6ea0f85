"""Drivers by stable name, imported lazily (after python-can's interface registry).

Names are part of the user interface (``vigil serve --device masimo-ascii=/dev/ttyUSB0``) and
never change once published.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from drivers.errors import DriverUsageError
from drivers.handlers.base import Handler
from drivers.options import DriverOption, OptionValue, parse_option_text, validate_options

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


def driver_options(name: str) -> tuple[DriverOption, ...]:
    """The options driver ``name`` declares (its handler class's ``OPTIONS``)."""
    return tuple(getattr(handler_factory(name), "OPTIONS", ()))


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    driver: str
    url: str
    #: The source name readings carry; defaults to the driver name.
    source: str
    #: Options as written (``KEY=VALUE``), sorted by key; checked by ``option_values``.
    options: tuple[tuple[str, str], ...] = field(default=())

    def __str__(self) -> str:
        extra = "".join(f";{key}={value}" for key, value in self.options)
        return f"{self.driver}={self.url}{extra}"

    def option_values(self) -> dict[str, OptionValue]:
        """Every option of the driver, typed: the given ones checked, the rest defaults."""
        return validate_options(self.driver, driver_options(self.driver), dict(self.options))


def build_handler(spec: DeviceSpec) -> Handler:
    """The handler for ``spec``, its options passed as keyword arguments."""
    factory = cast(Callable[..., Handler], handler_factory(spec.driver))
    return factory(spec.source, **spec.option_values())


def parse_device_spec(text: str, options: Mapping[str, str] | None = None) -> DeviceSpec:
    """Parse ``DRIVER=URL``, ``SOURCE:DRIVER=URL``, either followed by ``;KEY=VALUE`` options.

    Examples: ``monitor:ge-dri=/dev/vigil/monitor``,
    ``pump:bbraun-bcc=/dev/vigil/pump;stuffing=off;bed_id=3``. ``options`` (from a TOML
    ``options`` table) add to those written in the text; every option is checked against the
    driver's declared options, with an error that names it.
    """
    text, _, option_text = text.partition(";")
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
    raw = parse_option_text(option_text, text)
    for key, value in (options or {}).items():
        if key in raw:
            raise DriverUsageError(f"device option {key!r} given twice for {text.strip()!r}")
        raw[key] = value
    spec = DeviceSpec(
        driver=driver,
        url=url.strip(),
        source=(source.strip() if colon else driver),
        options=tuple(sorted(raw.items())),
    )
    spec.option_values()  # fails now, naming the option, rather than when the port opens
    return spec
