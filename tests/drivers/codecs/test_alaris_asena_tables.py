"""Alaris ASENA: the frame, the fields of every reply, the ranges and formats, pinned against the
sources, plus a fuzzer of plausible replies.

Sources (docs/protocols/alaris-asena.md): mdpnp ``Asena.java`` (38400 8N1, the command constants,
the order of the 14 ``INF`` fields, rates 0.1-1200 mL/h), jaj42/infupy ``alaris.py`` (``!`` message
``|`` CRC CR, CRC-16/CCITT-FALSE as 4 upper-case hex digits, ``^`` separators, ESC abandons a
frame), the real replies quoted in OpenICE sources (``24+`` for 24 h or more). Frames here are
built with a CRC written in this file (bit by bit), never with the codec's encoder; expected
values are literals.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs.alaris_asena import (
    MAX_FRAME,
    AlarisAsenaCodec,
    AlarmStatus,
    AsenaReply,
    InfStatus,
    ProtocolVersion,
    SerialNumber,
    VtbiStatus,
    crc16,
    decode_frame,
)
from drivers.codecs.base import FrameRejected
from drivers.errors import ProtocolError


def ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE bit by bit: poly 0x1021, init 0xFFFF, no reflection, xorout 0."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def wire(message: str) -> bytes:
    text = message.encode("ascii")
    return b"!" + text + b"|" + f"{ccitt_false(text):04X}".encode() + b"\r"


def inf(**fields: str) -> InfStatus:
    """An INF reply: the real one of docs/protocols/alaris-asena.md with some fields replaced."""
    real = [
        "INF",
        "8002-51733",
        "A",
        "HLD",
        "0.00",
        "ml/h",
        "",
        "0.969",
        "ml",
        "530.15",
        "mmHg",
        "00:04:09",
        "EVENT",
        "214725",
    ]
    names = [
        "",
        "serial",
        "alarm",
        "mode",
        "rate",
        "rate_unit",
        "drug",
        "volume",
        "volume_unit",
        "pressure",
        "pressure_unit",
        "time",
        "log_type",
        "log_id",
    ]
    for name, value in fields.items():
        real[names.index(name)] = value
    status = decode_frame(wire("^".join(real)))
    assert isinstance(status, InfStatus)
    return status


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_crc_is_ccitt_false(data: bytes) -> None:
    assert crc16(data) == ccitt_false(data)


@pytest.mark.parametrize(
    ("command", "crc"),
    [
        ("INF", "4961"),
        ("INST_SERIALNO", "457D"),
        ("COMMS_PROTOCOL", "E8DA"),
        ("INF_VTBI", "8456"),
        ("ALARM", "50B2"),
    ],
)
def test_request_crcs_of_the_document(command: str, crc: str) -> None:
    assert f"{ccitt_false(command.encode()):04X}" == crc  # the test's CRC agrees with Asena.java


# Asena.java ~line 597: index -> the InfStatus attribute
INF_FIELDS_DOC = {
    1: "serial",
    2: "alarm",
    3: "mode",
    4: "rate",
    5: "rate_unit",
    6: "drug",
    7: "volume_infused",
    8: "volume_unit",
    9: "pressure",
    10: "pressure_unit",
    11: "time_remaining_s",
    12: "log_type",
    13: "log_id",
}


def test_every_inf_field_lands_in_its_attribute() -> None:
    fields = [
        "INF",
        "S-1",
        "X",
        "MOD",
        "12.5",
        "ml/h",
        "Keta",
        "3.25",
        "ml",
        "-12.5",
        "cmH2O",
        "01:02:03",
        "ALARM",
        "99",
    ]
    status = decode_frame(wire("^".join(fields)))
    assert isinstance(status, InfStatus)
    expected = {
        "serial": "S-1",
        "alarm": "X",
        "mode": "MOD",
        "rate": 12.5,
        "rate_unit": "ml/h",
        "drug": "Keta",
        "volume_infused": 3.25,
        "volume_unit": "ml",
        "pressure": -12.5,
        "pressure_unit": "cmH2O",
        "time_remaining_s": 3723.0,
        "log_type": "ALARM",
        "log_id": "99",
    }
    assert {INF_FIELDS_DOC[i]: expected[INF_FIELDS_DOC[i]] for i in INF_FIELDS_DOC} == expected
    for name, value in expected.items():
        assert getattr(status, name) == value, name
    assert status.problems == ()
    assert set(InfStatus.__dataclass_fields__) == set(INF_FIELDS_DOC.values()) | {"problems"}


@pytest.mark.parametrize("count", [12, 13, 15, 16])
def test_an_inf_reply_has_exactly_14_fields(count: int) -> None:
    fields = ["INF", *["1"] * (count - 1)]
    with pytest.raises(ProtocolError, match=f"{count} fields"):
        decode_frame(wire("^".join(fields)))


# (field, low, high, just below, just above) — docs/protocols/alaris-asena.md
RANGES_DOC = [
    ("rate", "rate", "0.00", "1200.00", "-0.01", "1200.01"),
    ("volume", "volume_infused", "0.000", "9999.999", "-0.001", "10000"),
    ("pressure", "pressure", "-1000", "2000", "-1000.01", "2000.01"),
]


@pytest.mark.parametrize(("field", "attribute", "low", "high", "below", "above"), RANGES_DOC)
def test_range_edges(
    field: str, attribute: str, low: str, high: str, below: str, above: str
) -> None:
    for text in (low, high):
        status = inf(**{field: text})
        assert getattr(status, attribute) == float(text) and not status.problems
    for text in (below, above):
        status = inf(**{field: text})
        assert getattr(status, attribute) is None
        assert len(status.problems) == 1 and "outside" in status.problems[0]


@pytest.mark.parametrize("text", ["", " ", "-", "--"])
def test_empty_numbers_are_no_value_without_a_problem(text: str) -> None:
    status = inf(rate=text, volume=text, pressure=text)
    assert (status.rate, status.volume_infused, status.pressure) == (None, None, None)
    assert status.problems == ()


@pytest.mark.parametrize("text", ["1.2.3", "abc", "1e3", "+1", "1234567", "1.23456", ".5", "5."])
def test_malformed_numbers_are_dropped_with_a_problem(text: str) -> None:
    status = inf(rate=text)
    assert status.rate is None and status.problems == (f"rate={text!r}: not a number",)


def test_numbers_with_padding() -> None:
    assert inf(rate=" 2.50 ").rate == 2.5
    assert inf(rate="123456.1234").rate is None  # six digits, four decimals: a number, too high


@pytest.mark.parametrize(
    ("unit", "rate"), [("ml/h", 2.5), ("mg/h", None), ("ML/H", None), ("", None)]
)
def test_rate_only_in_ml_per_hour(unit: str, rate: float | None) -> None:
    status = inf(rate="2.50", rate_unit=unit)
    assert status.rate == rate and status.rate_unit == unit
    assert len(status.problems) == (rate is None)


@pytest.mark.parametrize(("unit", "volume"), [("ml", 1.5), ("l", None), ("mg", None), ("", None)])
def test_volume_only_in_ml(unit: str, volume: float | None) -> None:
    status = inf(volume="1.500", volume_unit=unit)
    assert status.volume_infused == volume
    assert len(status.problems) == (volume is None)


def test_an_empty_rate_in_another_unit_is_no_problem() -> None:
    assert inf(rate="", rate_unit="mg/h").problems == ()


@pytest.mark.parametrize(
    ("text", "seconds", "problem"),
    [
        ("00:00:00", 0.0, False),
        ("00:04:09", 249.0, False),
        ("01:23:45", 5025.0, False),
        ("23:59:59", 86399.0, False),
        ("24+", None, False),  # 24 h or more
        ("", None, False),
        (" 00:00:01 ", 1.0, False),
        ("24:00:00", None, True),
        ("99:00:00", None, True),
        ("00:60:00", None, True),
        ("00:00:60", None, True),
        ("0:04:09", None, True),
        ("00:04", None, True),
        ("25+", None, True),
    ],
)
def test_time_remaining(text: str, seconds: float | None, problem: bool) -> None:
    status = inf(time=text)
    assert status.time_remaining_s == seconds
    assert len(status.problems) == int(problem)


def test_drug_field() -> None:
    assert inf(drug="").drug is None and inf(drug="  ").drug is None
    assert inf(drug=" Ketamine ").drug == "Ketamine"


@pytest.mark.parametrize(
    ("message", "event"),
    [
        ("INF_VTBI^ACTIV^11.000^ml^STOP", VtbiStatus("ACTIV", 11.0, "ml", "STOP")),
        ("INF_VTBI^ACTIV^11.000^^KVO", VtbiStatus("ACTIV", 11.0, "", "KVO")),
        ("INF_VTBI^DEACT^^^", VtbiStatus("DEACT", None, "", "")),
        ("INF_VTBI^DEACT", VtbiStatus("DEACT", None, "", "")),
        ("INF_VTBI", VtbiStatus("", None, "", "")),
        ("INF_VTBI^ACTIV^0^ml^STOP", VtbiStatus("ACTIV", 0.0, "ml", "STOP")),
        ("INF_VTBI^ACTIV^9999.999^ml^STOP", VtbiStatus("ACTIV", 9999.999, "ml", "STOP")),
    ],
)
def test_vtbi_replies(message: str, event: VtbiStatus) -> None:
    assert decode_frame(wire(message)) == event


def test_vtbi_problems_and_field_count() -> None:
    other_unit = decode_frame(wire("INF_VTBI^ACTIV^11.000^mg^STOP"))
    assert isinstance(other_unit, VtbiStatus) and other_unit.vtbi is None
    assert len(other_unit.problems) == 1
    too_big = decode_frame(wire("INF_VTBI^ACTIV^10000^ml^STOP"))
    assert isinstance(too_big, VtbiStatus) and too_big.vtbi is None and len(too_big.problems) == 1
    with pytest.raises(ProtocolError, match="at most 5"):
        decode_frame(wire("INF_VTBI^ACTIV^1^ml^STOP^X"))


@pytest.mark.parametrize(
    ("message", "event"),
    [
        ("ALARM^AL_OCCLU^OCCLUSION^ ", AlarmStatus("AL_OCCLU", "OCCLUSION")),
        ("ALARM^AL_NOALM", AlarmStatus("AL_NOALM", "")),
        ("ALARM^ AL_EOIST ^ End ", AlarmStatus("AL_EOIST", "End")),
        ("INST_SERIALNO^ 8002-51740 ", SerialNumber("8002-51740")),
        ("COMMS_PROTOCOL^Asena Rev 2.1.5", ProtocolVersion("Asena Rev 2.1.5")),
        ("INST_SERIALNO", AsenaReply("INST_SERIALNO", ())),
        ("INST_SERIALNO^ ", AsenaReply("INST_SERIALNO", (" ",))),
        ("INST_SERIALNO^a^b", AsenaReply("INST_SERIALNO", ("a", "b"))),
        ("COMMS_PROTOCOL^", AsenaReply("COMMS_PROTOCOL", ("",))),
        ("COMMS_PROTOCOL^a^b", AsenaReply("COMMS_PROTOCOL", ("a", "b"))),
        ("REMOTE_CTRL^ENABLED", AsenaReply("REMOTE_CTRL", ("ENABLED",))),
        ("A", AsenaReply("A", ())),
        ("X" + "Y" * 31, AsenaReply("X" + "Y" * 31, ())),
    ],
)
def test_other_replies(message: str, event: object) -> None:
    assert decode_frame(wire(message)) == event


@pytest.mark.parametrize(
    "message", ["ALARM", "ALARM^", "ALARM^ ^x", "inf^1", "1INF", "X" * 33, "", "INF-X"]
)
def test_replies_the_codec_refuses(message: str) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(wire(message))


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"!A|D1A2", "'!' to CR"),
        (b"A|D1A2\r", "'!' to CR"),
        (b"!|\r", "'!' to CR"),
        (b"!AD1A2\r", "'|'"),
        (b"!A|D1A\r", "4 upper-case"),
        (b"!A|d1a2\r", "4 upper-case"),
        (b"!A|D1A2X\r", "4 upper-case"),
        (b"!A\x7f|D1A2\r", "non-printable"),
        (b"!A\x1f|D1A2\r", "non-printable"),
    ],
)
def test_framing_faults(frame: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_frame(frame)


def test_printable_edges_and_the_last_bar() -> None:
    assert decode_frame(wire("A^ ~")) == AsenaReply("A", (" ~",))
    assert decode_frame(wire("A^x|y")) == AsenaReply("A", ("x|y",))  # the CRC follows the last |
    assert ccitt_false(b"A") == 0xB915 and decode_frame(b"!A|B915\r") == AsenaReply("A", ())


def frame_of(length: int) -> bytes:
    base = wire("A^")
    text = "A^" + "x" * (length - len(base))
    return wire(text)


@pytest.mark.parametrize("chunk", [None, 1000, 7])
def test_max_frame_is_1024_bytes(chunk: int | None) -> None:
    assert MAX_FRAME == 1024
    for length, ok in ((1024, True), (1025, False)):
        data = frame_of(length) + wire("A")
        assert len(frame_of(length)) == length
        codec = AlarisAsenaCodec()
        events: list[object] = []
        for at in range(0, len(data), chunk or len(data)):
            codec.receive(data[at : at + (chunk or len(data))])
            events += codec.events()
        assert [type(e) for e in events] == ([AsenaReply] if ok else [FrameRejected]) + [AsenaReply]


def test_garbage_longer_than_a_frame_is_one_rejection_then_the_codec_recovers() -> None:
    codec = AlarisAsenaCodec()
    codec.receive(b"x" * 1025)
    (event,) = list(codec.events())
    assert isinstance(event, FrameRejected) and event.reason == "bytes outside a frame"
    codec.receive(b"x" * 10 + wire("A"))
    assert [type(e) for e in codec.events()] == [FrameRejected, AsenaReply]
    codec.receive(b"x" * 1024)
    assert list(codec.events()) == []  # exactly a frame's worth is still waited on


# --- plausible INF replies with random values -------------------------------------------------


@st.composite
def number(draw: st.DrawFn, low: float, high: float, places: int) -> tuple[str, float | None, int]:
    kind = draw(st.sampled_from(["in", "edge", "out", "empty", "bad"]))
    if kind == "empty":
        return draw(st.sampled_from(["", "-", "--"])), None, 0
    if kind == "bad":
        return draw(st.sampled_from(["x", "1..2", "1e3", "+3"])), None, 1
    scale = 10**places
    if kind == "edge":
        units = draw(st.sampled_from([int(low * scale), int(high * scale)]))
    elif kind == "in":
        units = draw(st.integers(int(low * scale), int(high * scale)))
    else:
        units = draw(
            st.one_of(
                st.integers(int(high * scale) + 1, int(high * scale) + 10**6),
                st.integers(int(low * scale) - 10**5, int(low * scale) - 1),
            )
        )
    text = f"{units / scale:.{places}f}"
    value = float(text)
    if low <= value <= high:
        return text, value, 0
    return text, None, 1


@settings(max_examples=150, deadline=None)
@given(
    number(0, 1200, 2),
    number(0, 9999.999, 3),
    number(-1000, 2000, 2),
    st.one_of(st.none(), st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))),
    st.sampled_from(["ml/h", "mg/h"]),
    st.lists(st.integers(1, 40), max_size=6),
)
def test_plausible_inf_replies_decode_to_their_values(
    rate: tuple[str, float | None, int],
    volume: tuple[str, float | None, int],
    pressure: tuple[str, float | None, int],
    hms: tuple[int, int, int] | None,
    unit: str,
    sizes: list[int],
) -> None:
    time = "24+" if hms is None else f"{hms[0]:02d}:{hms[1]:02d}:{hms[2]:02d}"
    message = "^".join(
        [
            "INF",
            "8002-1",
            "-",
            "INF",
            rate[0],
            unit,
            "",
            volume[0],
            "ml",
            pressure[0],
            "mmHg",
            time,
            "EVENT",
            "1",
        ]
    )
    data = b"\r\n" + wire(message) + b"\n"
    codec = AlarisAsenaCodec()
    events: list[object] = []
    at = 0
    for size in sizes:
        codec.receive(data[at : at + size])
        events += codec.events()
        at += size
    codec.receive(data[at:])
    events += codec.events()
    (status,) = events
    assert isinstance(status, InfStatus)
    expected_rate = rate[1] if unit == "ml/h" else None
    unit_problem = int(unit != "ml/h" and rate[1] is not None)
    assert status.rate == expected_rate
    assert status.volume_infused == volume[1]
    assert status.pressure == pressure[1]
    assert status.time_remaining_s == (
        None if hms is None else hms[0] * 3600 + hms[1] * 60 + hms[2]
    )
    assert len(status.problems) == rate[2] + unit_problem + volume[2] + pressure[2]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_corrupted_byte_is_rejected_or_harmless(data: st.DataObject) -> None:
    frame = bytearray(
        b"!INF^8002-51733^A^HLD^0.00^ml/h^^0.969^ml^530.15^mmHg^00:04:09^EVENT^214725|DB9D\r"
    )
    at = data.draw(st.integers(0, len(frame) - 1))
    frame[at] = data.draw(st.integers(0, 255))
    codec = AlarisAsenaCodec()
    codec.receive(bytes(frame))
    for event in codec.events():
        if isinstance(event, InfStatus):  # only a change that keeps the CRC right can pass
            assert event.rate is None or 0 <= event.rate <= 1200
            assert event.volume_infused is None or 0 <= event.volume_infused <= 9999.999


def test_the_encoder_takes_every_printable_byte_but_the_framing_ones() -> None:
    from drivers.codecs.alaris_asena import encode_frame
    from drivers.errors import DriverUsageError

    assert encode_frame("A^ ~") == wire("A^ ~")
    for bad in ("A^\x7f", "A^\x1f", "A^!", "A^|", "A^\r"):
        with pytest.raises(DriverUsageError):
            encode_frame(bad)


def test_problem_texts_name_their_field() -> None:
    assert inf(volume="x").problems == ("volume infused='x': not a number",)
    assert inf(pressure="x").problems == ("pressure='x': not a number",)
    assert inf(rate="x").problems == ("rate='x': not a number",)
    vtbi = decode_frame(wire("INF_VTBI^ACTIV^x^ml^STOP"))
    assert isinstance(vtbi, VtbiStatus) and vtbi.problems == ("VTBI='x': not a number",)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"!|FFF\r", "frame does not run from '!' to CR"),  # 6 bytes
        (b"!|FFFF\r", "'' is not an ASENA command"),  # 7 bytes, empty message, valid CRC
    ],
)
def test_the_shortest_frames(frame: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        decode_frame(frame)
    assert str(raised.value) == reason


def stream(*chunks: bytes) -> list[list[str]]:
    """The events after each chunk, as type names and reasons."""
    codec = AlarisAsenaCodec()
    out = []
    for chunk in chunks:
        codec.receive(chunk)
        out.append(
            [e.reason if isinstance(e, FrameRejected) else type(e).__name__ for e in codec.events()]
        )
    return out


def test_streaming_edges() -> None:
    good = wire("A")
    assert stream(good + b"x" * 1016, b"y") == [["AsenaReply"], []]  # garbage waits for a "!"
    assert stream(b"x" * 1025, b"y" * 100) == [["bytes outside a frame"], []]
    assert stream(b"abc\r", good) == [[], ["bytes outside a frame", "AsenaReply"]]
    assert stream(b"!\r" + good) == [["frame does not run from '!' to CR", "AsenaReply"]]
    assert stream(b"!abc!") == [["frame cut short by '!'"]]
    assert stream(b"!" + good) == [["frame cut short by '!'", "AsenaReply"]]
    assert stream(b"!ab\x1b" + good) == [["frame abandoned by ESC", "AsenaReply"]]


def test_unterminated_frame_limit_and_line_ends() -> None:
    assert stream(b"!" + b"x" * 1023, b"x", b"x" * 500) == [
        [],  # 1024 bytes: may still end in a CR
        ["frame longer than 1024 bytes"],
        [],  # the rest of it is dropped once
    ]
    good = wire("A")
    assert stream(b"\r\n\n\r" + good) == [["AsenaReply"]]
    assert stream(b"XX\r\n" + good) == [["bytes outside a frame", "AsenaReply"]]


def test_esc_right_after_the_start() -> None:
    good = wire("A")
    assert stream(b"!\x1b" + good) == [["frame abandoned by ESC", "AsenaReply"]]
    assert stream(b"!\x1b!\x1b", good) == [["frame abandoned by ESC"] * 2, ["AsenaReply"]]
