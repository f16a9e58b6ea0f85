"""Alaris ASENA codec: golden frames ⇄ encoders and events, every chunking, faults, fuzz."""

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
    encode_alarm,
    encode_comms_protocol,
    encode_frame,
    encode_inf,
    encode_inf_vtbi,
    encode_inst_serialno,
)
from drivers.codecs.base import FrameRejected
from drivers.errors import DriverUsageError, ProtocolError

# Request constants of mdpnp Asena.java (reference/protocols.md §4.2).
INF = b"!INF|4961\r"
INST_SERIALNO = b"!INST_SERIALNO|457D\r"
COMMS_PROTOCOL = b"!COMMS_PROTOCOL|E8DA\r"
INF_VTBI = b"!INF_VTBI|8456\r"
ALARM = b"!ALARM|50B2\r"  # OpenICE AlarisMITM.java compares requests with this string

# Replies logged from real pumps, quoted in OpenICE sources (SingleSimAlaris.java, AlarisMITM.java).
SERIAL_REPLY = b"!INST_SERIALNO^8002-51740|050B\r"
PROTOCOL_REPLY = b"!COMMS_PROTOCOL^Asena Rev 2.1.5|661A\r"
INF_REAL = b"!INF^8002-51733^A^HLD^0.00^ml/h^^0.969^ml^530.15^mmHg^00:04:09^EVENT^214725|DB9D\r"
ALARM_NONE_REPLY = b"!ALARM^AL_NOALM^ ^ |C73B\r"  # as OpenICE's pump simulators answer
# Hand-written from the field order of Asena.java (CRC worked out by hand, CCITT-FALSE).
INF_INFUSING = b"!INF^8002-51740^-^INF^2.50^ml/h^^12.345^ml^17.91^mmHg^01:23:45^EVENT^127905|B4A2\r"
VTBI_REPLY = b"!INF_VTBI^ACTIV^11.000^ml^STOP|4433\r"  # format of Asena.java's VTBISET
VTBI_NONE = b"!INF_VTBI^DEACT^^^|F6D0\r"
ALARM_OCCLUSION = b"!ALARM^AL_OCCLU^OCCLUSION^ |6502\r"


def events(data: bytes, chunk: int | None = None) -> list[object]:
    codec = AlarisAsenaCodec()
    if chunk is None:
        codec.receive(data)
    else:
        for i in range(0, len(data), chunk):
            codec.receive(data[i : i + chunk])
    return list(codec.events())


def test_crc_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1  # the catalogued check value of CRC-16/CCITT-FALSE
    assert crc16(b"") == 0xFFFF


@pytest.mark.parametrize(
    ("encoded", "golden"),
    [
        (encode_inf(), INF),
        (encode_inst_serialno(), INST_SERIALNO),
        (encode_comms_protocol(), COMMS_PROTOCOL),
        (encode_inf_vtbi(), INF_VTBI),
        (encode_alarm(), ALARM),
        (encode_frame("INF_VTBI^ACTIV^11.000^ml^STOP"), VTBI_REPLY),
    ],
)
def test_encoders_match_golden_bytes(encoded: bytes, golden: bytes) -> None:
    assert encoded == golden


@pytest.mark.parametrize("message", ["INF|X", "A!B", "INF\r", "ÄNDERN"])
def test_encoder_refuses_what_the_framing_cannot_carry(message: str) -> None:
    with pytest.raises(DriverUsageError):
        encode_frame(message)


def test_real_inf_reply() -> None:
    status = decode_frame(INF_REAL)
    assert status == InfStatus(
        serial="8002-51733",
        alarm="A",
        mode="HLD",
        rate=0.0,
        rate_unit="ml/h",
        drug=None,
        volume_infused=0.969,
        volume_unit="ml",
        pressure=530.15,
        pressure_unit="mmHg",
        time_remaining_s=249.0,
        log_type="EVENT",
        log_id="214725",
    )


def test_hand_written_inf_reply() -> None:
    status = decode_frame(INF_INFUSING)
    assert isinstance(status, InfStatus)
    assert (status.alarm, status.mode, status.rate, status.volume_infused) == (
        "-",
        "INF",
        2.5,
        12.345,
    )
    assert status.time_remaining_s == 1 * 3600 + 23 * 60 + 45


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        (SERIAL_REPLY, SerialNumber("8002-51740")),
        (PROTOCOL_REPLY, ProtocolVersion("Asena Rev 2.1.5")),
        (ALARM_NONE_REPLY, AlarmStatus("AL_NOALM", "")),
        (ALARM_OCCLUSION, AlarmStatus("AL_OCCLU", "OCCLUSION")),
        (VTBI_REPLY, VtbiStatus("ACTIV", 11.0, "ml", "STOP")),
        (VTBI_NONE, VtbiStatus("DEACT", None, "", "")),
        (b"!INF_START|38F3\r", AsenaReply("INF_START", ())),
    ],
)
def test_golden_replies(frame: bytes, event: object) -> None:
    assert decode_frame(frame) == event


def test_time_remaining_over_24_hours_is_no_value() -> None:
    frame = encode_frame("INF^1^-^INF^1.00^ml/h^^0.000^ml^1.00^mmHg^24+^EVENT^1")
    status = decode_frame(frame)
    assert isinstance(status, InfStatus) and status.time_remaining_s is None and not status.problems


STREAMS = [
    INF_REAL,
    SERIAL_REPLY + PROTOCOL_REPLY + ALARM_NONE_REPLY,
    b"\r\n" + INF_INFUSING + b"\r\n" + VTBI_REPLY,
    b"noise" + INF_REAL[:30] + b"\x1b" + ALARM_OCCLUSION + INF_REAL[:20] + VTBI_NONE,
]


@pytest.mark.parametrize("data", STREAMS)
def test_split_at_every_offset_and_byte_by_byte(data: bytes) -> None:
    whole = events(data)
    assert events(data, chunk=1) == whole
    for cut in range(1, len(data)):
        codec = AlarisAsenaCodec()
        codec.receive(data[:cut])
        codec.receive(data[cut:])
        assert list(codec.events()) == whole, cut


def test_faults_are_rejected_and_the_stream_recovers() -> None:
    out = events(STREAMS[3])
    kinds = [FrameRejected, FrameRejected, AlarmStatus, FrameRejected, VtbiStatus]
    assert [type(e) for e in out] == kinds
    assert [getattr(e, "reason", "") for e in out][:2] == [
        "bytes outside a frame",
        "frame abandoned by ESC",
    ]
    assert "cut short" in getattr(out[3], "reason", "")
    assert out[-1] == VtbiStatus("DEACT", None, "", "")


def test_stray_line_ends_between_frames_are_not_rejections() -> None:
    assert [type(e) for e in events(b"\r\n\r\n" + INF_REAL + b"\n")] == [InfStatus]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (INF_REAL.replace(b"DB9D", b"DB9E"), "CRC"),
        (INF_REAL.replace(b"DB9D", b"db9d"), "upper-case"),
        (INF_REAL.replace(b"0.969", b"0.9\x069"), "non-printable"),
        (encode_frame("INF^1^-^INF^1.00^ml/h"), "fields"),
        (b"!INF4961\r", "'|'"),
    ],
)
def test_bad_frames(frame: bytes, reason: str) -> None:
    (event,) = events(frame)
    assert isinstance(event, FrameRejected) and reason in event.reason


def test_impossible_values_are_dropped_with_a_problem() -> None:
    frame = encode_frame("INF^1^-^INF^99999.99^ml/h^^-4^ml^x^mmHg^25:00:00^EVENT^1")
    status = decode_frame(frame)
    assert isinstance(status, InfStatus)
    assert (status.rate, status.volume_infused, status.pressure, status.time_remaining_s) == (
        None,
        None,
        None,
        None,
    )
    assert len(status.problems) == 4


def test_dose_units_are_not_taken_for_ml_per_hour() -> None:
    frame = encode_frame("INF^1^-^INF^3.00^mg/h^^1.000^ml^1.00^mmHg^^EVENT^1")
    status = decode_frame(frame)
    assert isinstance(status, InfStatus) and status.rate is None and status.problems


def test_frame_that_never_ends_is_rejected_and_the_codec_recovers() -> None:
    codec = AlarisAsenaCodec()
    codec.receive(b"!" + b"A" * (MAX_FRAME + 5))
    (event,) = list(codec.events())
    assert isinstance(event, FrameRejected) and "longer" in event.reason
    codec.receive(b"AAAA\r" + INF_REAL)  # the rest of the over-long frame, then a good one
    assert [type(e) for e in codec.events()] == [FrameRejected, InfStatus]


def test_strict_decode_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_frame(b"!^^|0000\r")


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_fuzz_only_events_come_out(data: bytes) -> None:
    codec = AlarisAsenaCodec()
    codec.receive(data)
    kinds = (InfStatus, VtbiStatus, AlarmStatus, SerialNumber, ProtocolVersion, AsenaReply)
    for event in codec.events():
        assert isinstance(event, (*kinds, FrameRejected))


@settings(max_examples=300)
@given(
    st.lists(
        st.text(alphabet="0123456789.:-+^ AHLDINFSETml/h", max_size=12), min_size=13, max_size=13
    )
)
def test_fuzz_inf_fields_never_out_of_range(fields: list[str]) -> None:
    message = "^".join(["INF", *fields])
    try:
        status = decode_frame(encode_frame(message))
    except ProtocolError:
        return
    if isinstance(status, InfStatus):
        assert status.rate is None or 0 <= status.rate <= 1200
        assert status.volume_infused is None or 0 <= status.volume_infused <= 9999.999
        assert status.time_remaining_s is None or 0 <= status.time_remaining_s < 86400
