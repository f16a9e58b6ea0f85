"""Masimo AS1: the EXC bit table, the field formats, ranges and limits, pinned against the sources.

Sources (docs/protocols.md, "masimo-ascii", and reference/protocols.md §3.1):

* the EXC bit table of the Rad-8 operator's manual, as quoted in remkolems/masimo-datacapture
  ``masimo-capture.py``: 001 no sensor, 002 defective sensor, 004 low perfusion, 008 pulse
  search, 010 interference, 020 sensor off, 040 ambient light, 080 unrecognized sensor,
  400 low signal IQ, 800 SET mode — other bits are kept as ``unknown_exception_bits``;
* the line format: ``MM/DD/YY HH:MM:SS`` then ``KEY=VALUE`` tokens; a value of dashes (with
  ``.``, ``+``, ``%``) is no value; ``PI`` may lack its ``%``; ``ALARM`` is a hexadecimal bitfield
  whose bits are not published (kept raw); impossible values (SpO2 outside 0-100, pulse outside
  0-350, PI outside 0-100) drop that field only; a line longer than 400 bytes is rejected.

Every expected value is a literal from those documents, checked both ways.
"""

from __future__ import annotations

from datetime import datetime

import pytest

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

HEAD = "02/22/16 22:47:45"

#: The Rad-8 manual's EXC table: bit -> the codec's member.
EXC_DOC: dict[int, str] = {
    0x001: "NO_SENSOR",
    0x002: "DEFECTIVE_SENSOR",
    0x004: "LOW_PERFUSION",
    0x008: "PULSE_SEARCH",
    0x010: "INTERFERENCE",
    0x020: "SENSOR_OFF",
    0x040: "AMBIENT_LIGHT",
    0x080: "UNRECOGNIZED_SENSOR",
    0x400: "LOW_SIGNAL_IQ",
    0x800: "SET_MODE",
}
#: Bits the manual does not name.
UNDOCUMENTED = [0x100, 0x200, 0x1000, 0x2000, 0x8000, 0x10000, 0x800000]


def line(*tokens: str, head: str = HEAD) -> bytes:
    return " ".join([head, *tokens]).encode("ascii")


def record(*tokens: str) -> MasimoRecord:
    return decode_line(line("SPO2=098%", "BPM=070", *tokens))


def feed(data: bytes, *chunks: int) -> list[MasimoEvent]:
    codec = MasimoAsciiCodec()
    out: list[MasimoEvent] = []
    at = 0
    for size in chunks:
        codec.receive(data[at : at + size])
        out += codec.events()
        at += size
    codec.receive(data[at:])
    return out + list(codec.events())


@pytest.mark.parametrize(("bit", "member"), EXC_DOC.items())
def test_every_documented_exception_bit(bit: int, member: str) -> None:
    decoded = record(f"EXC={bit:06X}")
    assert decoded.exceptions == MasimoException[member]
    assert int(decoded.exceptions) == bit and decoded.unknown_exception_bits == 0
    assert not decoded.problems


@pytest.mark.parametrize("bit", UNDOCUMENTED)
def test_undocumented_exception_bits_are_kept_apart(bit: int) -> None:
    decoded = record(f"EXC={bit | 0x800:06x}")
    assert decoded.exceptions == MasimoException.SET_MODE
    assert decoded.unknown_exception_bits == bit


def test_every_exception_the_codec_knows_is_documented() -> None:
    assert {m.name: int(m) for m in MasimoException} == {v: k for k, v in EXC_DOC.items()}


def test_all_exception_bits_at_once() -> None:
    decoded = record("EXC=FFFFFF")
    assert int(decoded.exceptions) == sum(EXC_DOC)
    assert decoded.unknown_exception_bits == 0xFFFFFF & ~sum(EXC_DOC)


def test_exception_field_formats() -> None:
    assert record("EXC=0000C00").exceptions == (
        MasimoException.SET_MODE | MasimoException.LOW_SIGNAL_IQ
    )  # Radical-7: seven digits
    assert record("EXC=000800").exceptions == MasimoException.SET_MODE
    none = record("EXC=------")
    assert none.exceptions == MasimoException(0) and none.unknown_exception_bits == 0
    assert not none.problems
    bad = record("EXC=00G800")
    assert bad.exceptions == MasimoException(0) and bad.problems == ("EXC=00G800: not hexadecimal",)
    assert record().exceptions == MasimoException(0)  # no EXC field at all


def test_alarm_is_kept_raw_as_hexadecimal() -> None:
    assert record("ALARM=0000").alarm == 0
    assert record("ALARM=000000").alarm == 0
    assert record("ALARM=0010").alarm == 0x10
    assert record("ALARM=00A1").alarm == 0xA1
    assert record("ALARM=ffff").alarm == 0xFFFF
    assert record().alarm is None  # no ALARM field
    no_value = record("ALARM=----")
    assert no_value.alarm is None and not no_value.problems
    bad = record("ALARM=zz")
    assert bad.alarm is None and bad.problems == ("ALARM=zz: not hexadecimal",)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("02/22/16 22:47:45", datetime(2016, 2, 22, 22, 47, 45)),
        ("12/31/99 23:59:59", datetime(1999, 12, 31, 23, 59, 59)),
        ("01/01/00 00:00:00", datetime(2000, 1, 1, 0, 0, 0)),
        ("05/15/07 08:12:21", datetime(2007, 5, 15, 8, 12, 21)),
        ("13/01/16 10:00:00", None),  # month 13: a wrong clock, the line is still used
        ("02/30/16 10:00:00", None),
        ("02/22/16 24:00:00", None),
        ("02/22/16 10:60:00", None),
    ],
)
def test_device_date_and_time(head: str, expected: datetime | None) -> None:
    decoded = decode_line(line("SPO2=097%", "BPM=061", head=head))
    assert decoded.device_time == expected
    assert (decoded.spo2, decoded.pulse_rate) == (97.0, 61.0)


@pytest.mark.parametrize(
    "head", ["2/22/16 22:47:45", "02/22/2016 22:47:45", "02-22-16 22:47:45", "02/22/16 22:47"]
)
def test_a_line_must_start_with_the_date_and_time(head: str) -> None:
    with pytest.raises(ProtocolError, match="date"):
        decode_line(line("SPO2=097%", "BPM=061", head=head))


def test_the_time_must_be_followed_by_a_space() -> None:
    with pytest.raises(ProtocolError, match="date"):
        decode_line(b"02/22/16 22:47:45SPO2=097% BPM=061")


# (key, attribute, lowest, highest, just above) — ranges of docs/protocols.md
RANGES = [
    ("SPO2", "spo2", "000%", "100%", "101%"),
    ("BPM", "pulse_rate", "000", "350", "351"),
    ("PI", "perfusion_index", "00.00%", "100.00%", "100.01%"),
]


@pytest.mark.parametrize(("key", "attribute", "low", "high", "above"), RANGES)
def test_range_edges(key: str, attribute: str, low: str, high: str, above: str) -> None:
    def decoded(value: str) -> MasimoRecord:
        tokens = {"SPO2": "SPO2=098%", "BPM": "BPM=070", key: f"{key}={value}"}
        return decode_line(line(*tokens.values()))

    assert getattr(decoded(low), attribute) == 0.0 and not decoded(low).problems
    assert getattr(decoded(high), attribute) == float(high.rstrip("%"))
    out = decoded(above)
    assert getattr(out, attribute) is None
    assert out.problems == (f"{key}={above}: outside 0..{high.rstrip('%').split('.')[0]}",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("03.60%", 3.6),
        ("00.55", 0.55),  # PI may lack its %
        ("+4", 4.0),
        ("--.--%", None),
        ("+--", None),
        ("---", None),
        ("-", None),
    ],
)
def test_number_and_no_value_formats(value: str, expected: float | None) -> None:
    decoded = record(f"PI={value}")
    assert decoded.perfusion_index == expected and not decoded.problems


@pytest.mark.parametrize("value", ["3.6.1", "abc", "%", "4%%", "-4", "1e3", ".5"])
def test_malformed_numbers_drop_the_field(value: str) -> None:
    decoded = record(f"PI={value}")
    assert decoded.perfusion_index is None
    assert decoded.problems == (f"PI={value}: not a number",)


def test_serial_number() -> None:
    assert record("SN=0000056661").serial == "0000056661"
    assert record("SN=----------").serial is None
    assert record().serial is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (line("SPO2=098%"), "no SPO2 or no BPM"),
        (line("BPM=070"), "no SPO2 or no BPM"),
        (line("SPO2=098%", "BPM="), "KEY=VALUE"),
        (line("SPO2=098%", "BPM=070", "=5"), "KEY=VALUE"),
        (line("SPO2=098%", "BPM=070", "spo2=5"), "KEY=VALUE"),
        (line("SPO2=098%", "BPM=070", "1X=5"), "KEY=VALUE"),
        (line("SPO2=098%", "BPM=070", "BPM=071"), "twice"),
        (line("SPO2=098%", "BPM=070", "SN=a\x7fb"), "non-printable"),
        (line("SPO2=098%", "BPM=070", "SN=a\x1fb"), "non-printable"),
    ],
)
def test_structural_faults_reject_the_line(text: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_line(text)


def test_printable_edges_are_accepted() -> None:
    decoded = record("SN=~!", "X9=~")  # 0x7E and 0x21; 0x20 separates the tokens
    assert decoded.serial == "~!" and ("X9", "~") in decoded.fields


# --- MAX_LINE: 400 bytes ---------------------------------------------------------------------


def line_of(length: int) -> bytes:
    base = line("SPO2=098%", "BPM=070", "PAD=")
    return base + b"x" * (length - len(base))


def test_max_line_is_400() -> None:
    assert MAX_LINE == 400


@pytest.mark.parametrize("chunks", [(), (400,), (200, 200, 1)])
def test_a_line_of_exactly_400_bytes_is_decoded(chunks: tuple[int, ...]) -> None:
    events = feed(line_of(400) + b"\r\n" + line_of(60) + b"\r\n", *chunks)
    assert [type(e) for e in events] == [MasimoRecord, MasimoRecord]


@pytest.mark.parametrize("chunks", [(), (401,), (200, 201, 1)])
def test_a_line_of_401_bytes_is_rejected_once(chunks: tuple[int, ...]) -> None:
    events = feed(line_of(401) + b"\r\n" + line_of(60) + b"\r\n", *chunks)
    assert [type(e) for e in events] == [FrameRejected, MasimoRecord]
    assert isinstance(events[0], FrameRejected) and "longer than 400" in events[0].reason


def test_an_endless_line_is_reported_at_once_and_memory_stays_bounded() -> None:
    codec = MasimoAsciiCodec()
    codec.receive(b"x" * 401)
    (event,) = list(codec.events())
    assert isinstance(event, FrameRejected) and event.data == b"x" * 64
    for _ in range(20):
        codec.receive(b"y" * 399)
        assert list(codec.events()) == []
        assert len(codec._buffer) <= MAX_LINE  # the discarded line is not kept
    codec.receive(b"end\n" + line_of(60) + b"\n")
    assert [type(e) for e in codec.events()] == [MasimoRecord]


def test_blank_lines_and_lone_line_ends_are_ignored() -> None:
    events = feed(b"\r\n\n\r" + line_of(60) + b"\r\r\n\n" + line_of(70) + b"\n")
    assert [type(e) for e in events] == [MasimoRecord, MasimoRecord]
