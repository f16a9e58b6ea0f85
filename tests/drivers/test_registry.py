"""Device specs: clear errors for wrong input."""

from __future__ import annotations

import pytest

from drivers.errors import DriverUsageError
from drivers.registry import DeviceSpec, driver_names, handler_factory, parse_device_spec


def test_masimo_is_registered_and_loads() -> None:
    assert "masimo-ascii" in driver_names()
    handler = handler_factory("masimo-ascii")("x")
    assert handler.name == "masimo-ascii"


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("masimo-ascii=/dev/ttyUSB0", DeviceSpec("masimo-ascii", "/dev/ttyUSB0", "masimo-ascii")),
        (
            "monitor:masimo-ascii=/dev/vigil/monitor",
            DeviceSpec("masimo-ascii", "/dev/vigil/monitor", "monitor"),
        ),
        (
            " masimo-ascii = socket://10.0.0.5:4001 ",
            DeviceSpec("masimo-ascii", "socket://10.0.0.5:4001", "masimo-ascii"),
        ),
    ],
)
def test_good_specs(text: str, spec: DeviceSpec) -> None:
    assert parse_device_spec(text) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/dev/ttyUSB0", "is not DRIVER=URL"),
        ("masimo-ascii=", "is not DRIVER=URL"),
        ("nonin=/dev/ttyUSB0", "unknown driver 'nonin'"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(DriverUsageError, match=message) as info:
        parse_device_spec(text)
    assert "masimo-ascii" in str(info.value)  # the error lists the known drivers
