"""GE DRI handler: request and re-request, mapping to readings, NIBP once, markers; no clock."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs.ge_dri import frame
from drivers.handlers.base import HandlerOutput
from drivers.handlers.ge_dri import GeDriHandler
from drivers.readings import (
    Condition,
    DeviceConditions,
    Metric,
    Validity,
    VitalReading,
    plausible,
)
from drivers.registry import handler_factory

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ge-carescape"
SESSION = (CAPTURES / "b650-2018-07-26-session.raw").read_bytes()
FIRST_21 = (CAPTURES / "b650-2018-07-26-first-21-frames.raw").read_bytes()
_FLAGS = [i for i, byte in enumerate(FIRST_21) if byte == 0x7E]
PHDB_FRAME = FIRST_21[: _FLAGS[1] + 1]
WAVE_FRAME = FIRST_21[_FLAGS[4] : _FLAGS[5] + 1]  # the third frame is a waveform record
RECORD = PHDB_FRAME[1:-1].replace(b"\x7d\x5e", b"\x7e").replace(b"\x7d\x5d", b"\x7d")[:-1]
R_TIME = 1532624765

# The first subrecord of the captured records is the basic class; offsets inside its block.
BASIC = 40 + 4
ECG, NIBP, T1, SPO2, CO2 = 0, 72, 86, 118, 132
REQUEST_10S = bytes.fromhex("7e31" + "00" * 20 + "ff" + "00" * 18 + "010a000e" + "00" * 5 + "497e")
WALL = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
ADULT_AUTO = 3 | 1 << 3
MEASURING, OLD = 1 << 5, 1 << 8


def phdb(
    *,
    values: dict[int, int] | None = None,
    status: dict[int, int] | None = None,
    nibp: tuple[int, int, int] | None = None,
    nibp_label: int = ADULT_AUTO,
    r_time: int = R_TIME,
) -> bytes:
    """The first captured PHDB record with fields patched (offsets from the spec layout)."""
    record = bytearray(RECORD)
    struct.pack_into("<I", record, 6, r_time)
    struct.pack_into("<H", record, BASIC + NIBP + 4, nibp_label)
    if nibp is not None:
        struct.pack_into("<3h", record, BASIC + NIBP + 6, *nibp)
    for offset, raw in (values or {}).items():
        struct.pack_into("<h", record, BASIC + offset, raw)
    for group, bits in (status or {}).items():
        struct.pack_into("<I", record, BASIC + group, bits)
    return frame(bytes(record))


def opened(mono: float = 100.0) -> GeDriHandler:
    handler = GeDriHandler("monitor")
    handler.on_open(mono, WALL)
    return handler


def vitals(out: HandlerOutput, metric: Metric | None = None) -> list[VitalReading]:
    return [
        r
        for r in out.readings
        if isinstance(r, VitalReading) and (metric is None or r.metric is metric)
    ]


def nibp_readings(out: HandlerOutput) -> list[tuple[Metric, float | None, Validity]]:
    return [
        (r.metric, r.value, r.validity)
        for r in vitals(out)
        if r.metric in (Metric.NIBP_SYS, Metric.NIBP_DIA, Metric.NIBP_MEAN)
    ]


def conditions(out: HandlerOutput) -> list[frozenset[Condition]]:
    return [r.active for r in out.readings if isinstance(r, DeviceConditions)]


# --- registry and link settings ------------------------------------------------------------


def test_registered_with_its_line_settings() -> None:
    assert handler_factory("ge-dri") is GeDriHandler
    assert GeDriHandler.name == "ge-dri"
    assert GeDriHandler.serial.describe() == "19200 8E1 RTS/CTS"
    assert 20 <= GeDriHandler.stale_after <= 30


# --- requesting ----------------------------------------------------------------------------


def test_open_requests_display_data_every_10_s_for_all_classes() -> None:
    handler = GeDriHandler("monitor")
    assert handler.next_deadline() is None
    out = handler.on_open(100.0, WALL)
    assert out.writes == [REQUEST_10S]
    assert handler.next_deadline() == 112.0


def test_request_is_sent_again_when_no_record_arrives() -> None:
    handler = opened(100.0)
    assert handler.on_tick(111.9, WALL).writes == []
    assert handler.on_tick(112.0, WALL).writes == [REQUEST_10S]
    assert handler.next_deadline() == 124.0
    handler.on_data(phdb(), 115.0, WALL)  # an answer moves the deadline
    assert handler.next_deadline() == 127.0
    assert handler.on_tick(126.0, WALL).writes == []
    assert handler.on_tick(127.0, WALL).writes == [REQUEST_10S]


def test_waveform_records_are_not_an_answer_to_the_request() -> None:
    handler = opened(100.0)
    out = handler.on_data(WAVE_FRAME, 105.0, WALL)
    assert out.frames_ok == 1
    assert out.readings == []
    assert handler.next_deadline() == 112.0


def test_reopen_drops_a_partial_frame_and_requests_again() -> None:
    handler = opened(100.0)
    handler.on_data(PHDB_FRAME[:500], 101.0, WALL)
    assert handler.on_open(200.0, WALL).writes == [REQUEST_10S]
    out = handler.on_data(PHDB_FRAME, 201.0, WALL)
    assert (out.frames_ok, out.rejected) == (1, [])


# --- the real capture ----------------------------------------------------------------------


def test_capture_maps_to_readings() -> None:
    out = opened().on_data(SESSION, 101.0, WALL)
    assert (out.frames_ok, out.rejected) == (213, [])

    def values(metric: Metric) -> list[float]:
        return [r.value for r in vitals(out, metric) if r.value is not None]

    assert len(values(Metric.HR)) == 107
    assert (min(values(Metric.HR)), max(values(Metric.HR))) == (76, 80)
    assert (min(values(Metric.SPO2)), max(values(Metric.SPO2))) == (95.71, 96.65)
    assert (min(values(Metric.PULSE_RATE)), max(values(Metric.PULSE_RATE))) == (74, 84)
    assert set(values(Metric.RESP_RATE)) == {15, 16, 17}
    etco2 = values(Metric.ETCO2)
    assert min(etco2) == pytest.approx(3.55 * 759.8 / 100)
    assert max(etco2) == pytest.approx(4.87 * 759.8 / 100)
    assert sorted(set(values(Metric.FICO2))) == pytest.approx([0.13 * 7.598, 0.26 * 7.598])
    assert values(Metric.TEMP) == []  # the monitor has no temperature module
    assert all(r.validity is Validity.VALID for r in vitals(out))
    assert all(r.measured_at == WALL for r in vitals(out))  # 2018 clock vs 2026: not trusted
    # NIBP 93/48 (69) once, fresh in the first record; later records say "older than 60 s"
    assert nibp_readings(out) == [
        (Metric.NIBP_SYS, 93, Validity.VALID),
        (Metric.NIBP_DIA, 48, Validity.VALID),
        (Metric.NIBP_MEAN, 69, Validity.VALID),
    ]
    assert conditions(out) == [frozenset()]


def test_record_time_dates_readings_when_the_clocks_agree() -> None:
    stamped = datetime.fromtimestamp(R_TIME, UTC)
    for wall, expected in [
        (stamped + timedelta(seconds=3), stamped),
        (stamped - timedelta(seconds=3), stamped - timedelta(seconds=3)),  # never in the future
        (stamped + timedelta(minutes=5), stamped + timedelta(minutes=5)),  # clock off: receive time
    ]:
        out = GeDriHandler("monitor").on_data(phdb(), 1.0, wall)
        assert {r.measured_at for r in vitals(out)} == {expected}


# --- NIBP: once per measurement ----------------------------------------------------------


def test_nibp_is_reported_once_per_measurement() -> None:
    handler = opened()
    steps: list[tuple[bytes, list[tuple[Metric, float | None, Validity]]]] = [
        (phdb(nibp=(12000, 8000, 9300)), [
            (Metric.NIBP_SYS, 120, Validity.VALID),
            (Metric.NIBP_DIA, 80, Validity.VALID),
            (Metric.NIBP_MEAN, 93, Validity.VALID),
        ]),
        (phdb(nibp=(12000, 8000, 9300)), []),  # the same measurement 10 s later
        (phdb(nibp=(12000, 8000, 9300), nibp_label=ADULT_AUTO | OLD), []),  # it ages
        # the old bit clears with equal values: a new measurement that read the same
        (phdb(nibp=(12000, 8000, 9300)), [
            (Metric.NIBP_SYS, 120, Validity.VALID),
            (Metric.NIBP_DIA, 80, Validity.VALID),
            (Metric.NIBP_MEAN, 93, Validity.VALID),
        ]),
        (phdb(nibp=(12000, 8000, 9300), nibp_label=ADULT_AUTO | MEASURING), []),  # cuff inflating
        (phdb(nibp=(12000, 8000, 9300)), [  # ...and done: same values, still a new measurement
            (Metric.NIBP_SYS, 120, Validity.VALID),
            (Metric.NIBP_DIA, 80, Validity.VALID),
            (Metric.NIBP_MEAN, 93, Validity.VALID),
        ]),
        (phdb(nibp=(11000, 7000, 8300)), [  # new values
            (Metric.NIBP_SYS, 110, Validity.VALID),
            (Metric.NIBP_DIA, 70, Validity.VALID),
            (Metric.NIBP_MEAN, 83, Validity.VALID),
        ]),
        (phdb(nibp=(-32767, -32767, -32767), nibp_label=ADULT_AUTO | MEASURING), []),
        (phdb(nibp=(-32767, -32767, -32767)), [  # the measurement failed: no values, once
            (Metric.NIBP_SYS, None, Validity.INVALID),
            (Metric.NIBP_DIA, None, Validity.INVALID),
            (Metric.NIBP_MEAN, None, Validity.INVALID),
        ]),
        (phdb(nibp=(-32767, -32767, -32767)), []),
    ]  # fmt: skip
    for mono, (data, expected) in enumerate(steps):
        assert nibp_readings(handler.on_data(data, 101.0 + 10 * mono, WALL)) == expected, mono


def test_old_nibp_seen_first_is_reported_once_as_questionable() -> None:
    handler = opened()
    old = phdb(nibp=(12000, 8000, 9300), nibp_label=ADULT_AUTO | OLD)
    assert nibp_readings(handler.on_data(old, 101.0, WALL)) == [
        (Metric.NIBP_SYS, 120, Validity.QUESTIONABLE),
        (Metric.NIBP_DIA, 80, Validity.QUESTIONABLE),
        (Metric.NIBP_MEAN, 93, Validity.QUESTIONABLE),
    ]
    assert nibp_readings(handler.on_data(old, 111.0, WALL)) == []


def test_nibp_is_not_re_reported_after_a_reconnect() -> None:
    handler = opened()
    assert len(nibp_readings(handler.on_data(phdb(), 101.0, WALL))) == 3
    handler.on_open(150.0, WALL)
    assert nibp_readings(handler.on_data(phdb(), 151.0, WALL)) == []


# --- markers, impossible values, modules ---------------------------------------------------


def test_invalid_markers_become_readings_without_value() -> None:
    out = opened().on_data(phdb(values={SPO2 + 6: -32767, ECG + 6: -32766}), 101.0, WALL)
    for metric in (Metric.SPO2, Metric.HR):
        [reading] = vitals(out, metric)
        assert (reading.value, reading.validity) == (None, Validity.INVALID)
    [pulse] = vitals(out, Metric.PULSE_RATE)
    assert pulse.validity is Validity.VALID


def test_impossible_values_are_invalid_and_noted() -> None:
    out = opened().on_data(phdb(values={ECG + 6: 30000, SPO2 + 6: 30000}), 101.0, WALL)
    for metric in (Metric.HR, Metric.SPO2):
        [reading] = vitals(out, metric)
        assert (reading.value, reading.validity) == (None, Validity.INVALID)
    assert len([r for r in out.rejected if "not plausible" in r]) == 2


def test_absent_module_yields_no_readings_and_a_condition_on_change() -> None:
    handler = opened()
    out = handler.on_data(phdb(status={SPO2: 0}), 101.0, WALL)
    assert vitals(out, Metric.SPO2) == []
    assert vitals(out, Metric.PULSE_RATE) == []
    assert conditions(out) == [frozenset({Condition.MODULE_ABSENT})]
    assert conditions(handler.on_data(phdb(status={SPO2: 0}), 111.0, WALL)) == []
    assert conditions(handler.on_data(phdb(), 121.0, WALL)) == [frozenset()]


def test_inactive_module_yields_invalid_readings() -> None:
    out = opened().on_data(phdb(status={SPO2: 0b01}), 101.0, WALL)
    assert [(r.value, r.validity) for r in vitals(out, Metric.SPO2)] == [(None, Validity.INVALID)]
    assert conditions(out) == [frozenset({Condition.MODULE_ABSENT})]


def test_temperature_when_a_channel_is_present() -> None:
    out = opened().on_data(phdb(status={T1: 0b11}, values={T1 + 6: 3690}), 101.0, WALL)
    assert [(r.value, r.validity) for r in vitals(out, Metric.TEMP)] == [(36.9, Validity.VALID)]


def test_without_co2_module_rr_comes_from_ecg_impedance() -> None:
    out = opened().on_data(phdb(status={CO2: 0}, values={ECG + 14: 21}), 101.0, WALL)
    assert [r.value for r in vitals(out, Metric.RESP_RATE)] == [21]
    assert vitals(out, Metric.ETCO2) == []


def test_etco2_needs_the_ambient_pressure() -> None:
    out = opened().on_data(phdb(values={CO2 + 12: -32767}), 101.0, WALL)
    for metric in (Metric.ETCO2, Metric.FICO2):
        assert [(r.value, r.validity) for r in vitals(out, metric)] == [(None, Validity.INVALID)]


def test_rejected_frames_are_counted() -> None:
    out = opened().on_data(b"\x7e\x01\x02\x7e" + PHDB_FRAME, 101.0, WALL)
    assert out.frames_ok == 1
    assert len(out.rejected) == 1


# --- fuzz: no impossible value ever reaches a reading ---------------------------------------


def assert_sane(out: HandlerOutput) -> None:
    for reading in vitals(out):
        if reading.value is None:
            assert reading.validity is Validity.INVALID
        else:
            assert plausible(reading.metric, reading.value), reading


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=270, max_size=270), st.integers(0, 2**32 - 1))
def test_any_basic_block_with_a_valid_frame_gives_only_plausible_values(
    block: bytes, r_time: int
) -> None:
    record = bytearray(RECORD)
    record[BASIC : BASIC + 270] = block
    struct.pack_into("<I", record, 6, r_time)
    handler = opened()
    out = handler.on_data(frame(bytes(record)), 101.0, WALL)
    assert out.frames_ok == 1
    assert_sane(out)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(FIRST_21) - 1), st.integers(0, 255)), max_size=30),
    st.integers(0, len(FIRST_21)),
)
def test_corrupted_capture_through_the_handler(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(FIRST_21)
    for at, value in flips:
        data[at] = value
    handler = opened()
    assert_sane(handler.on_data(bytes(data[:cut]), 101.0, WALL))
    assert_sane(handler.on_data(bytes(data[cut:]), 102.0, WALL))
