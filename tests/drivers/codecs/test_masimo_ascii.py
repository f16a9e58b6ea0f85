"""Masimo AS1 codec: real lines as a table, every chunking, garbage, fuzz."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.codecs.base import FrameRejected
from drivers.codecs.masimo_ascii import (
    MAX_LINE,
    MasimoAsciiCodec,
    MasimoEvent,
    MasimoException,
    MasimoRecord,
    decode_line,
)
from drivers.errors import ProtocolError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REAL_LINES = (FIXTURES / "masimo" / "radical-lines.txt").read_bytes().splitlines()
SET = MasimoException.SET_MODE

# (line number in the fixture, SpO2, pulse, PI, exceptions, serial)
EXPECTED = [
    (0, 98.0, 97.0, 3.60, SET, "0000056661"),
    (1, 98.0, 96.0, 3.95, SET, "0000056661"),
    (2, 98.0, 96.0, 4.25, SET, "0000056661"),
    (3, 98.0, 96.0, 3.19, SET, "0000056661"),
    (4, 98.0, 97.0, 2.41, SET, "0000056661"),
    (5, None, None, None, MasimoException.NO_SENSOR, "0000093112"),
    (6, 98.0, 123.0, 0.55, SET | MasimoException.LOW_SIGNAL_IQ, None),
    (7, None, None, None, MasimoException(0), "0000070986"),
]


def decode_all(data: bytes, chunks: list[int] | None = None) -> list[MasimoEvent]:
    codec = MasimoAsciiCodec()
    out: list[MasimoEvent] = []
    if chunks is None:
        codec.receive(data)
    else:
        pos = 0
        for size in chunks:
            codec.receive(data[pos : pos + size])
            out += codec.events()
            pos += size
        codec.receive(data[pos:])
    out += codec.events()
    return out


@pytest.mark.parametrize(("index", "spo2", "bpm", "pi", "exc", "serial"), EXPECTED)
def test_every_real_line_decodes(
    index: int,
    spo2: float | None,
    bpm: float | None,
    pi: float | None,
    exc: MasimoException,
    serial: str | None,
) -> None:
    record = decode_line(REAL_LINES[index])
    assert (record.spo2, record.pulse_rate, record.perfusion_index) == (spo2, bpm, pi)
    assert record.exceptions == exc
    assert record.serial == serial
    assert record.unknown_exception_bits == 0
    assert record.problems == ()


def test_device_time_and_unknown_keys_are_kept() -> None:
    record = decode_line(REAL_LINES[6])
    assert record.device_time == datetime(2016, 3, 17, 19, 19, 36)
    keys = [k for k, _ in record.fields]
    assert keys[:3] == ["SN", "SPO2", "BPM"]
    assert "SPHB" in keys and "EXC1" in keys  # Radical-7 fields the Rad-8 lacks


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r"])
def test_stream_of_real_lines_with_any_line_ending(ending: bytes) -> None:
    data = ending.join(REAL_LINES) + ending
    events = decode_all(data)
    assert all(isinstance(e, MasimoRecord) for e in events)
    assert [e.spo2 for e in events if isinstance(e, MasimoRecord)] == [x[1] for x in EXPECTED]


def test_every_split_and_byte_by_byte_give_the_same_events() -> None:
    data = b"\r\n".join(REAL_LINES) + b"\r\n"
    whole = decode_all(data)
    for offset in range(1, len(data)):
        assert decode_all(data, [offset]) == whole, offset
    assert decode_all(data, [1] * len(data)) == whole


BAD_LINES = [
    (b"7 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800", "date"),
    (b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM", "KEY=VALUE"),
    (b"02/22/16 22:47:45 SN=1 SPO2=098% SPO2=097% BPM=097", "twice"),
    (b"02/22/16 22:47:45 SN=1 PI=03.60%", "no SPO2"),
    (b"02/22/16 22:47:45 SN=1 SPO2=0\x0098% BPM=097", "non-printable"),
    (b"\xff\xfe\x00garbage", "non-printable"),
    (b"hello world", "date"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_bad_lines_are_rejected_with_a_reason(line: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_line(line)
    events = decode_all(line + b"\r\n" + REAL_LINES[0] + b"\r\n")
    assert isinstance(events[0], FrameRejected)
    assert reason in events[0].reason
    assert isinstance(events[1], MasimoRecord) and events[1].spo2 == 98.0


@pytest.mark.parametrize(
    ("field", "problem"),
    [(b"SPO2=300%", "SPO2=300%: outside 0..100"), (b"SPO2=9x8%", "SPO2=9x8%: not a number")],
)
def test_absurd_values_drop_the_field_not_the_line(field: bytes, problem: str) -> None:
    line = REAL_LINES[0].replace(b"SPO2=098%", field)
    record = decode_line(line)
    assert record.spo2 is None
    assert record.pulse_rate == 97.0
    assert record.problems == (problem,)


def test_line_that_never_ends_is_rejected_once_and_the_codec_recovers() -> None:
    codec = MasimoAsciiCodec()
    codec.receive(b"A" * (MAX_LINE + 10))
    codec.receive(b"B" * 1000)
    codec.receive(b"tail of the endless line\r\n" + REAL_LINES[1] + b"\r\n")
    events = list(codec.events())
    assert len(events) == 2
    assert isinstance(events[0], FrameRejected) and "longer" in events[0].reason
    assert isinstance(events[1], MasimoRecord) and events[1].pulse_rate == 96.0


def test_unknown_exception_bits_are_kept_apart() -> None:
    record = decode_line(REAL_LINES[0].replace(b"EXC=000800", b"EXC=001820"))
    assert record.exceptions == SET | MasimoException.SENSOR_OFF
    assert record.unknown_exception_bits == 0x1000


@given(st.binary(max_size=2000))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    events = decode_all(data)
    for event in events:
        if isinstance(event, MasimoRecord):
            assert event.spo2 is None or 0 <= event.spo2 <= 100
            assert event.pulse_rate is None or 0 <= event.pulse_rate <= 350


@given(st.data())
def test_fuzz_corrupted_real_stream_only_yields_plausible_values(data: st.DataObject) -> None:
    stream = bytearray(b"\r\n".join(REAL_LINES) + b"\r\n")
    for _ in range(data.draw(st.integers(0, 20))):
        pos = data.draw(st.integers(0, len(stream) - 1))
        stream[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(stream)))
    sizes = data.draw(st.lists(st.integers(1, 64), max_size=50))
    for event in decode_all(bytes(stream[:cut]), sizes):
        assert isinstance(event, MasimoRecord | FrameRejected)
        if isinstance(event, MasimoRecord):
            assert event.spo2 is None or 0 <= event.spo2 <= 100
            assert event.perfusion_index is None or 0 <= event.perfusion_index <= 100
