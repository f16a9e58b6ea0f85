"""Masimo AS1: plausible lines with random field values, and the real fixture lines in full.

The fuzzer builds lines the way an oximeter writes them — a date and time, then KEY=VALUE tokens
in any order — with values inside and outside the documented ranges, no-value dashes, malformed
numbers and random EXC/ALARM bitfields, and checks what each decodes to (docs/protocols.md,
"masimo-ascii"), fed whole, in random chunks and with any line ending.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs.base import FrameRejected
from drivers.codecs.masimo_ascii import MasimoAsciiCodec, MasimoException, MasimoRecord, decode_line
from drivers.errors import ProtocolError

KNOWN_EXC = 0x001 | 0x002 | 0x004 | 0x008 | 0x010 | 0x020 | 0x040 | 0x080 | 0x400 | 0x800
LIMITS = {"SPO2": 100.0, "BPM": 350.0, "PI": 100.0}
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "masimo" / "radical-lines.txt"


@st.composite
def numeric_field(draw: st.DrawFn, key: str) -> tuple[str, float | None, bool]:
    """(text, expected value, whether a problem is expected) for SPO2, BPM or PI."""
    kind = draw(st.sampled_from(["in", "edge", "out", "none", "bad"]))
    limit = LIMITS[key]
    suffix = "%" if key != "BPM" and draw(st.booleans()) else ""
    if kind == "none":
        return draw(st.sampled_from(["---", "--.-", "--.--", "+--", "-"])) + suffix, None, False
    if kind == "bad":
        return draw(st.sampled_from(["9x8", "1.2.3", "abc", "-5", "1e2"])) + suffix, None, True
    if kind == "edge":
        value = draw(st.sampled_from([0.0, limit]))
    elif kind == "in":
        value = draw(st.integers(0, int(limit * 100))) / 100
    else:
        value = draw(st.integers(int(limit * 100) + 1, int(limit * 100) * 10)) / 100
    text = (
        f"{value:06.2f}" if key == "PI" else f"{value:03.0f}" if value == int(value) else str(value)
    )
    inside = value <= limit
    return text + suffix, (float(text) if inside else None), not inside


@st.composite
def plausible_line(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
    year, hour = draw(st.integers(0, 99)), draw(st.integers(0, 23))
    minute, second = draw(st.integers(0, 59)), draw(st.integers(0, 59))
    expected: dict[str, object] = {
        "device_time": datetime(
            2000 + year if year < 69 else 1900 + year, month, day, hour, minute, second
        )
    }
    tokens: list[str] = []
    problems = 0
    for key, attribute in (("SPO2", "spo2"), ("BPM", "pulse_rate"), ("PI", "perfusion_index")):
        if key == "PI" and not draw(st.booleans()):
            expected[attribute] = None
            continue
        text, value, problem = draw(numeric_field(key))
        tokens.append(f"{key}={text}")
        expected[attribute] = value
        problems += problem
    exc = draw(st.one_of(st.none(), st.integers(0, 0xFFFFFF)))
    if exc is not None:
        tokens.append(f"EXC={exc:0{draw(st.sampled_from([6, 7]))}X}")
    expected["exceptions"] = MasimoException((exc or 0) & KNOWN_EXC)
    expected["unknown_exception_bits"] = (exc or 0) & ~KNOWN_EXC
    alarm = draw(st.one_of(st.none(), st.integers(0, 0xFFFF)))
    if alarm is not None:
        tokens.append(f"ALARM={alarm:04x}")
    expected["alarm"] = alarm
    number = draw(st.one_of(st.none(), st.integers(0, 9_999_999_999)))
    serial = None if number is None else f"{number:010d}"
    if serial is not None:
        tokens.append(f"SN={serial}")
    expected["serial"] = serial
    for extra in draw(
        st.lists(
            st.sampled_from(["SPCO=--.-%", "SPMET=00.4%", "PVI=---", "DESAT=--", "PIDELTA=+--"]),
            unique=True,
        )
    ):
        tokens.append(extra)
    order = draw(st.permutations(tokens))
    head = f"{month:02d}/{day:02d}/{year:02d} {hour:02d}:{minute:02d}:{second:02d}"
    expected["problems"] = problems
    expected["keys"] = [t.split("=", 1)[0] for t in order]
    return " ".join([head, *order]).encode("ascii"), expected


def check(record: MasimoRecord, expected: dict[str, object]) -> None:
    for name in ("device_time", "spo2", "pulse_rate", "perfusion_index", "alarm", "serial"):
        assert getattr(record, name) == expected[name], name
    assert record.exceptions == expected["exceptions"]
    assert record.unknown_exception_bits == expected["unknown_exception_bits"]
    assert len(record.problems) == expected["problems"]
    assert [k for k, _ in record.fields] == expected["keys"]


@settings(max_examples=80, deadline=None)
@given(plausible_line())
def test_plausible_lines_decode_to_their_values(generated: tuple[bytes, dict[str, object]]) -> None:
    text, expected = generated
    check(decode_line(text), expected)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(plausible_line(), min_size=1, max_size=3),
    st.sampled_from([b"\r\n", b"\n", b"\r"]),
    st.lists(st.integers(1, 80), max_size=20),
)
def test_plausible_streams_in_any_chunking(
    lines: list[tuple[bytes, dict[str, object]]], ending: bytes, sizes: list[int]
) -> None:
    data = b"".join(text + ending for text, _ in lines)
    codec = MasimoAsciiCodec()
    events: list[object] = []
    at = 0
    for size in sizes:
        codec.receive(data[at : at + size])
        events += codec.events()
        at += size
    codec.receive(data[at:])
    events += codec.events()
    assert len(events) == len(lines)
    for event, (_, expected) in zip(events, lines, strict=True):
        assert isinstance(event, MasimoRecord)
        check(event, expected)


@settings(max_examples=60, deadline=None)
@given(plausible_line(), st.data())
def test_one_corrupted_byte_never_gives_a_wrong_value(
    generated: tuple[bytes, dict[str, object]], data: st.DataObject
) -> None:
    """A byte hit by line noise: the line is rejected, or what it yields is still plausible."""
    text, _ = generated
    at = data.draw(st.integers(0, len(text) - 1))
    corrupted = text[:at] + bytes([data.draw(st.integers(0, 255))]) + text[at + 1 :]
    try:
        decoded = decode_line(corrupted)
    except ProtocolError:
        return
    for key, attribute in (("SPO2", "spo2"), ("BPM", "pulse_rate"), ("PI", "perfusion_index")):
        value = getattr(decoded, attribute)
        assert value is None or 0 <= value <= LIMITS[key]
    assert int(decoded.exceptions) & ~KNOWN_EXC == 0


# --- every value of the real fixture lines --------------------------------------------------
# (device time, SN, SPO2, BPM, PI, ALARM, EXC, the raw tokens after the time)
FIXTURE_VALUES = [
    (datetime(2016, 2, 22, 22, 47, 45), "0000056661", 98.0, 97.0, 3.60, 0, 0x800),
    (datetime(2016, 2, 22, 22, 47, 46), "0000056661", 98.0, 96.0, 3.95, 0, 0x800),
    (datetime(2016, 2, 22, 22, 47, 47), "0000056661", 98.0, 96.0, 4.25, 0, 0x800),
    (datetime(2016, 2, 22, 22, 47, 48), "0000056661", 98.0, 96.0, 3.19, 0, 0x800),
    (datetime(2016, 2, 22, 22, 47, 49), "0000056661", 98.0, 97.0, 2.41, 0, 0x800),
    (datetime(2016, 3, 19, 13, 37, 12), "0000093112", None, None, None, 0, 0x001),
    (datetime(2016, 3, 17, 19, 19, 36), None, 98.0, 123.0, 0.55, 0, 0xC00),
    (datetime(2007, 5, 15, 8, 12, 21), "0000070986", None, None, None, 0, 0x000),
]
FIXTURE_FIELDS = [
    (
        "SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- "
        "PIDELTA=+-- ALARM=0000 EXC=000800"
    ),
    (
        "SN=0000056661 SPO2=098% BPM=096 PI=03.95% SPCO=--.-% SPMET=--.-% DESAT=-- "
        "PIDELTA=+-- ALARM=0000 EXC=000800"
    ),
    (
        "SN=0000056661 SPO2=098% BPM=096 PI=04.25% SPCO=--.-% SPMET=--.-% DESAT=-- "
        "PIDELTA=+-- ALARM=0000 EXC=000800"
    ),
    (
        "SN=0000056661 SPO2=098% BPM=096 PI=03.19% SPCO=--.-% SPMET=--.-% DESAT=-- "
        "PIDELTA=+-- ALARM=0000 EXC=000800"
    ),
    (
        "SN=0000056661 SPO2=098% BPM=097 PI=02.41% SPCO=--.-% SPMET=--.-% DESAT=-- "
        "PIDELTA=+-- ALARM=0000 EXC=000800"
    ),
    ("SN=0000093112 SPO2=---% BPM=--- DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000001"),
    (
        "SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- "
        "RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000"
    ),
    (
        "SN=0000070986 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% SPMET=--.-% DESAT=-- "
        "PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000"
    ),
]


@pytest.mark.parametrize("index", range(8))
def test_every_value_of_every_fixture_line(index: int) -> None:
    lines = FIXTURE.read_bytes().splitlines()
    assert len(lines) == 8
    decoded = decode_line(lines[index])
    time, serial, spo2, bpm, pi, alarm, exc = FIXTURE_VALUES[index]
    assert (decoded.device_time, decoded.serial) == (time, serial)
    assert (decoded.spo2, decoded.pulse_rate, decoded.perfusion_index) == (spo2, bpm, pi)
    assert (decoded.alarm, int(decoded.exceptions), decoded.unknown_exception_bits) == (
        alarm,
        exc,
        0,
    )
    assert decoded.problems == ()
    assert decoded.fields == tuple(tuple(t.split("=", 1)) for t in FIXTURE_FIELDS[index].split())


def test_the_fixture_stream_yields_exactly_its_lines() -> None:
    codec = MasimoAsciiCodec()
    codec.receive(FIXTURE.read_bytes())
    events = list(codec.events())
    assert not any(isinstance(e, FrameRejected) for e in events)
    assert [e.device_time for e in events if isinstance(e, MasimoRecord)] == [
        v[0] for v in FIXTURE_VALUES
    ]
