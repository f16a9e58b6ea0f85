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


def test_options_follow_the_url_and_are_checked_against_the_driver() -> None:
    spec = parse_device_spec("monitor:masimo-ascii=/dev/ttyUSB0")
    assert spec.options == ()
    assert str(spec) == "masimo-ascii=/dev/ttyUSB0"
    with pytest.raises(DriverUsageError, match="unknown option 'stuffing'"):
        parse_device_spec("masimo-ascii=/dev/ttyUSB0;stuffing=off")
    with pytest.raises(DriverUsageError, match="is not KEY=VALUE"):
        parse_device_spec("masimo-ascii=/dev/ttyUSB0;stuffing")


def test_option_parsing_names_the_option_and_what_is_allowed() -> None:
    from drivers.options import DriverOption, parse_option_text, validate_options

    declared = (
        DriverOption("stuffing", "bool", True, "character stuffing"),
        DriverOption("bed_id", "int", 1, "bed", minimum=1, maximum=99),
        DriverOption("poll_s", "float", 1.0, "poll", minimum=0.2),
        DriverOption(
            "waves", "set", frozenset({"pleth"}), "waves", choices=("pleth", "ecg", "co2")
        ),
        DriverOption("mode", "choice", "a", "mode", choices=("a", "b")),
    )
    raw = parse_option_text("stuffing=OFF; bed_id=3;waves=pleth+co2", "spec")
    assert validate_options("x", declared, raw) == {
        "stuffing": False,
        "bed_id": 3,
        "poll_s": 1.0,
        "waves": frozenset({"pleth", "co2"}),
        "mode": "a",
    }
    assert validate_options("x", declared, {"waves": "none", "stuffing": "true"})["waves"] == (
        frozenset()
    )
    for text, message in [
        ("stuffing=maybe", "stuffing='maybe' is not valid: on/off"),
        ("bed_id=0", "bed_id='0' is not valid: a whole number from 1 to 99"),
        ("bed_id=2.5", "bed_id='2.5'"),
        ("poll_s=nan", "poll_s='nan'"),
        ("poll_s=0.1", "a number of at least 0.2"),
        ("waves=pleth+resp", "any of pleth, ecg, co2"),
        ("mode=c", "one of a, b"),
        ("speed=3", "unknown option 'speed'"),
    ]:
        with pytest.raises(DriverUsageError, match=message):
            validate_options("x", declared, parse_option_text(text, "spec"))
    with pytest.raises(DriverUsageError, match="given twice"):
        parse_option_text("a=1;a=2", "spec")
