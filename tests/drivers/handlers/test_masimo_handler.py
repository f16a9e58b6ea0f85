"""The Masimo handler: codec events to readings, conditions reported on change."""

from __future__ import annotations

from datetime import UTC, datetime

from drivers.handlers.masimo_ascii import MasimoAsciiHandler
from drivers.readings import Condition, DeviceConditions, Metric, Validity, VitalReading
from tests.support import FIXTURES

LINES = (FIXTURES / "masimo" / "radical-lines.txt").read_bytes().splitlines()
AT = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def feed(handler: MasimoAsciiHandler, *lines: bytes) -> list[object]:
    out = handler.on_data(b"".join(line + b"\r\n" for line in lines), 0.0, AT)
    return list(out.readings)


def test_line_becomes_three_vitals_and_an_initial_condition_set() -> None:
    handler = MasimoAsciiHandler("oximeter")
    readings = feed(handler, LINES[0])
    vitals = [r for r in readings if isinstance(r, VitalReading)]
    assert [(v.metric, v.value, v.validity) for v in vitals] == [
        (Metric.SPO2, 98.0, Validity.VALID),
        (Metric.PULSE_RATE, 97.0, Validity.VALID),
        (Metric.PERFUSION_INDEX, 3.6, Validity.VALID),
    ]
    assert all(v.source == "oximeter" and v.measured_at == AT for v in vitals)
    assert readings[-1] == DeviceConditions("oximeter", frozenset(), AT)
    assert not any(isinstance(r, DeviceConditions) for r in feed(handler, LINES[1]))


def test_no_sensor_gives_invalid_values_and_a_condition() -> None:
    handler = MasimoAsciiHandler("oximeter")
    feed(handler, LINES[0])
    readings = feed(handler, LINES[5])
    assert [r.validity for r in readings if isinstance(r, VitalReading)] == [Validity.INVALID] * 3
    assert readings[-1] == DeviceConditions("oximeter", frozenset({Condition.NO_SENSOR}), AT)


def test_low_signal_iq_makes_values_questionable() -> None:
    readings = feed(MasimoAsciiHandler("m"), LINES[6])
    spo2 = next(r for r in readings if isinstance(r, VitalReading) and r.metric is Metric.SPO2)
    assert spo2.validity is Validity.QUESTIONABLE and spo2.value == 98.0


def test_rejections_and_field_problems_are_counted() -> None:
    handler = MasimoAsciiHandler("m")
    out = handler.on_data(b"garbage\r\n" + LINES[0].replace(b"098%", b"300%") + b"\r\n", 0.0, AT)
    assert out.frames_ok == 1
    assert len(out.rejected) == 1
    assert out.problems == ["SPO2=300%: outside 0..100"]


def test_reopen_drops_a_half_line() -> None:
    handler = MasimoAsciiHandler("m")
    handler.on_data(LINES[0][:40], 0.0, AT)
    handler.on_open(1.0, AT)
    out = handler.on_data(LINES[1] + b"\r\n", 1.0, AT)
    assert out.frames_ok == 1 and not out.rejected
