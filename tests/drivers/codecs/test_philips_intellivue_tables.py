"""Philips IntelliVue: every code, bit, attribute id and limit the codec knows, pinned against the
sources, and a fuzzer of plausible poll replies.

Sources: Philips *Data Export Interface Programming Guide* 4535 642 59271 as summarised in
reference/protocols.md §1 (framing, FLOAT-Type and its specials, MeasurementState bits from
VSCaptureMP ``Class2.cs`` ``MeasurementState``, the physio id and unit table) and §9 (association
time-out), and docs/protocols/philips-intellivue.md ("Framing", "Messages", "Attributes read",
"Mapping to readings"). Every expected value is a literal from those tables; poll replies are
built here with ``struct`` from the guide's layouts, never with the codec or the emulator.
"""

from __future__ import annotations

import struct
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs.base import FrameRejected
from drivers.codecs.philips_intellivue import PhilipsIntellivueCodec, decode_float, frame, nom
from drivers.codecs.philips_intellivue.events import (
    MessageKind,
    Observation,
    PollReply,
    RemoteError,
)
from drivers.codecs.philips_intellivue.pdu import decode_user_data
from drivers.errors import DriverUsageError, ProtocolError

MEASUREMENT_STATE_DOC = {
    0x8000: "INVALID",
    0x4000: "QUESTIONABLE",
    0x2000: "UNAVAILABLE",
    0x1000: "CALIBRATION_ONGOING",
    0x0800: "TEST_DATA",
    0x0400: "DEMO_DATA",
    0x0080: "VALIDATED_DATA",
    0x0040: "EARLY_INDICATION",
    0x0020: "MSMT_ONGOING",
    0x0002: "IN_ALARM",
    0x0001: "AL_INHIBITED",
}
UNIT_DOC = {
    0x0000: "NOS",
    0x0220: "PERCENT",
    0x09E0: "PER_MIN",
    0x0AA0: "BEAT_PER_MIN",
    0x0AC0: "PULS_PER_MIN",
    0x0AE0: "RESP_PER_MIN",
    0x0F03: "KILO_PASCAL",
    0x0F20: "MMHG",
    0x1140: "FAHR",
    0x17A0: "DEGC",
}
PHYSIO_DOC = {
    0x4182: "ECG_CARD_BEAT_RATE",
    0x4822: "PLETH_PULS_RATE",
    0x4A04: "PRESS_BLD_NONINV",
    0x4A05: "PRESS_BLD_NONINV_SYS",
    0x4A06: "PRESS_BLD_NONINV_DIA",
    0x4A07: "PRESS_BLD_NONINV_MEAN",
    0x4B48: "TEMP",
    0x4BB8: "PULS_OXIM_SAT_O2",
    0x500A: "RESP_RATE",
    0x5012: "AWAY_RESP_RATE",
    0x509C: "CONC_AWAY_CO2_ET",
    0x50AC: "AWAY_CO2",
    0x50B0: "AWAY_CO2_ET",
    0x50BA: "AWAY_CO2_INSP_MIN",
}
SPECIALS_DOC = {0x7FFFFF: "NAN", 0x800000: "NRES", 0x7FFFFE: "POS_INF", 0x800002: "NEG_INF"}
SESSION_DOC = {
    0x0D: "CONNECT",
    0x0E: "ACCEPT",
    0x0C: "REFUSE",
    0x09: "FINISH",
    0x0A: "DISCONNECT",
    0x19: "ABORT",
    0xE1: "DATA_EXPORT",
}
RO_DOC = {1: "INVOKE", 2: "RESULT", 3: "ERROR", 5: "LINKED_RESULT"}
COMMAND_DOC = {
    0: "EVENT_REPORT",
    1: "CONFIRMED_EVENT_REPORT",
    3: "GET",
    4: "SET",
    5: "CONFIRMED_SET",
    7: "CONFIRMED_ACTION",
}
LINKED_DOC = {1: "FIRST", 2: "NOT_FIRST_NOT_LAST", 3: "LAST"}
ERROR_DOC = {
    0: "NO_SUCH_OBJECT_CLASS",
    1: "NO_SUCH_OBJECT_INSTANCE",
    2: "ACCESS_DENIED",
    7: "GET_LIST_ERROR",
    8: "SET_LIST_ERROR",
    9: "NO_SUCH_ACTION",
    10: "PROCESSING_FAILURE",
    15: "INVALID_ARGUMENT_VALUE",
    16: "INVALID_SCOPE",
    17: "INVALID_OBJECT_INSTANCE",
}
NOM_DOC = {
    "NOM_PART_OBJ": 1,
    "NOM_PART_SCADA": 2,
    "NOM_MOC_VMO_METRIC_NU": 6,
    "NOM_MOC_VMO_METRIC_SA_RT": 9,
    "NOM_MOC_VMS_MDS": 0x21,
    "NOM_MOC_VMO_AL_MON": 0x36,
    "NOM_NOTI_MDS_CREAT": 0x0D06,
    "NOM_ACT_POLL_MDIB_DATA": 0x0C16,
    "NOM_ACT_POLL_MDIB_DATA_EXT": 0xF13B,
    "NOM_POLL_PROFILE_SUPPORT": 0x0001,
    "NOM_ATTR_POLL_PROFILE_EXT": 0xF001,
    "NOM_ATTR_ID_LABEL": 0x0924,
    "NOM_ATTR_ID_LABEL_STRING": 0x0927,
    "NOM_ATTR_ID_TYPE": 0x092F,
    "NOM_ATTR_MODE_OP": 0x0946,
    "NOM_ATTR_NU_CMPD_VAL_OBS": 0x094B,
    "NOM_ATTR_NU_VAL_OBS": 0x0950,
    "NOM_ATTR_TIME_ABS": 0x0987,
    "NOM_ATTR_TIME_REL": 0x098F,
    "NOM_ATTR_TIME_STAMP_ABS": 0x0990,
    "NOM_ATTR_TIME_STAMP_REL": 0x0991,
    "NOM_ATTR_VMS_MDS_STAT": 0x09A7,
    "NOM_ATTR_TIME_PD_POLL": 0xF13E,
    "NOM_ATTR_GRP_SYS_PROD": 0x080C,
    "OPMODE_MONITORING": 0x4000,
    "OPMODE_DEMO": 0x2000,
    "MDDL_VERSION1": 0x80000000,
    "NOMEN_VERSION": 0x40000000,
    "SYST_CLIENT": 0x80000000,
    "SYST_SERVER": 0x00800000,
    "HOT_START": 0x80000000,
    "WARM_START": 0x40000000,
    "COLD_START": 0x20000000,
    "POLL_PROFILE_REV_0": 0x80000000,
    "P_OPT_DYN_CREATE_OBJECTS": 0x40000000,
    "P_OPT_DYN_DELETE_OBJECTS": 0x20000000,
    "POLL_EXT_PERIOD_NU_1SEC": 0x80000000,
    "POLL_EXT_PERIOD_NU_AVG_12SEC": 0x40000000,
    "POLL_EXT_PERIOD_NU_AVG_60SEC": 0x20000000,
    "POLL_EXT_PERIOD_NU_AVG_300SEC": 0x10000000,
    "POLL_EXT_PERIOD_RTSA": 0x08000000,
    "POLL_EXT_BIT_26": 0x04000000,
    "TICKS_PER_SECOND": 8000,
    "RELATIVE_TIME_MODULUS": 1 << 32,
    "SESSION_ID": 0xE100,
    "P_CONTEXT_ID": 2,
    "SETTING_LABEL_PREFIX": 0x0402,
}


@pytest.mark.parametrize(
    ("enum", "doc"),
    [
        (nom.MeasurementState, MEASUREMENT_STATE_DOC),
        (nom.Unit, UNIT_DOC),
        (nom.Physio, PHYSIO_DOC),
        (nom.SessionType, SESSION_DOC),
        (nom.RoType, RO_DOC),
        (nom.Command, COMMAND_DOC),
        (nom.LinkedState, LINKED_DOC),
        (nom.ErrorValue, ERROR_DOC),
        (nom.FloatSpecial, SPECIALS_DOC),
    ],
    ids=lambda x: getattr(x, "__name__", "doc"),
)
def test_every_code_both_ways(enum: type, doc: dict[int, str]) -> None:
    assert {m.value: m.name for m in enum} == doc  # type: ignore[attr-defined]
    for value, name in doc.items():
        assert enum(value).name == name


@pytest.mark.parametrize(("name", "value"), NOM_DOC.items())
def test_every_nomenclature_constant(name: str, value: int) -> None:
    assert getattr(nom, name) == value


def test_no_value_states_are_the_top_three_bits() -> None:
    assert int(nom.NO_VALUE_STATES) == 0x8000 | 0x4000 | 0x2000


def test_framing_constants() -> None:
    assert (frame.BOF, frame.EOF, frame.ESCAPE) == (0xC0, 0xC1, 0x7D)
    assert (frame.PROTOCOL_ID, frame.MESSAGE_TYPE) == (0x11, 0x01)
    assert frame.ABORT_SEQUENCE == b"\x7d\xc1"
    assert frame.escape(b"\xc0\xc1\x7d\x01") == b"\x7d\xe0\x7d\xe1\x7d\x5d\x01"
    assert frame.MAX_USER_DATA == 4096 and frame.MAX_WIRE_FRAME == 2 * (4 + 4096 + 2)


@pytest.mark.parametrize(
    ("period", "timeout"),
    [
        (0.0, 10.0),
        (1.0, 10.0),
        (3.29, 10.0),
        (3.3, 9.9),
        (10.0, 30.0),
        (43.0, 129.0),
        (43.01, 130.0),
        (100.0, 130.0),
    ],
)
def test_association_timeout_table(period: float, timeout: float) -> None:
    assert nom.association_timeout(period) == pytest.approx(timeout)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0x00000001, 1.0),
        (0x00FFFFFF, -1.0),
        (0x00800001, -8388607.0),
        (0x007FFFFD, 8388605.0),
        (0x7F000001, 1e127),
        (0x80000001, 1e-128),
        (0xFE000019, 0.25),
        (0x03000002, 2000.0),
        (0xFD00007B, 0.123),
    ],
)
def test_float_type_signs_and_exponents(raw: int, value: float) -> None:
    assert decode_float(raw) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("exponent", [0x00, 0x01, 0x7F, 0x80, 0xFF])
@pytest.mark.parametrize(("mantissa", "name"), SPECIALS_DOC.items())
def test_float_specials_with_any_exponent(exponent: int, mantissa: int, name: str) -> None:
    assert decode_float(exponent << 24 | mantissa) is nom.FloatSpecial[name]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20 26 01 01 09 00 00 00", datetime(2026, 1, 1, 9, 0)),
        ("20 00 02 29 00 00 00 99", datetime(2000, 2, 29)),
        ("19 00 02 29 00 00 00 00", None),  # 1900 is not a leap year
        ("20 26 00 01 00 00 00 00", None),
        ("20 26 01 32 00 00 00 00", None),
        ("20 26 01 01 24 00 00 00", None),
        ("20 26 01 01 23 60 00 00", None),
        ("20 26 01 01 23 59 60 00", None),
        ("20 26 01 01 23 59 59", None),  # seven bytes
        ("A0 26 01 01 00 00 00 00", None),  # high nibble not BCD
        ("20 26 01 01 00 0A 00 00", None),  # low nibble not BCD
        ("09 99 12 31 23 59 59 FF", datetime(999, 12, 31, 23, 59, 59)),
    ],
)
def test_absolute_time_bcd(raw: str, expected: datetime | None) -> None:
    assert nom.decode_absolute_time(bytes.fromhex(raw)) == expected


def test_message_kinds() -> None:
    assert {k.name: k.value for k in MessageKind} == {
        name: name.lower()
        for name in (
            "ASSOCIATION_REQUEST",
            "ASSOCIATION_RESULT",
            "REFUSE",
            "ABORT",
            "RELEASE_REQUEST",
            "RELEASE_RESULT",
            "MDS_CREATE_EVENT",
            "EVENT_REPORT",
            "MDS_CREATE_RESULT",
            "SINGLE_POLL",
            "EXTENDED_POLL",
            "OTHER_REQUEST",
            "POLL_RESULT",
            "ERROR",
            "OTHER_RESULT",
        )
    }


# --- poll replies built from the guide's layouts --------------------------------------------------

ABS = bytes.fromhex("2026010109000000")


def attribute(attribute_id: int, value: bytes) -> bytes:
    return struct.pack(">HH", attribute_id, len(value)) + value


def nu_obs(physio: int, state: int, unit: int, raw: int) -> bytes:
    return struct.pack(">HHHI", physio, state, unit, raw)


def poll_reply(
    observations: list[tuple[int, list[bytes]]],
    *,
    extended: bool = True,
    invoke: int = 1,
    ro_type: int = 2,
    linked: tuple[int, int] | None = None,
) -> bytes:
    obs = b""
    for handle, attrs in observations:
        body = b"".join(attrs)
        obs += struct.pack(">HHH", handle, len(attrs), len(body)) + body
    context = struct.pack(">HHH", 0, len(observations), len(obs)) + obs
    info = struct.pack(">HH", 1, len(context)) + context
    reply = struct.pack(">H", 1) + (struct.pack(">H", 4) if extended else b"")
    reply += struct.pack(">I", 0x0ABD00) + ABS + struct.pack(">HHH", 1, 6, 0) + info
    action = struct.pack(">HHHHH", 0x21, 0, 0, 0xF13B if extended else 0x0C16, len(reply)) + reply
    ro = (bytes(linked) if linked else b"") + struct.pack(">HHH", invoke, 7, len(action)) + action
    return struct.pack(">HHHH", 0xE100, 2, ro_type, len(ro)) + ro


def single(observation: list[bytes]) -> Observation:
    reply = decode_user_data(poll_reply([(0x0101, observation)]))
    assert isinstance(reply, PollReply)
    (obs,) = reply.observations
    return obs


@pytest.mark.parametrize("state", [*MEASUREMENT_STATE_DOC, 0x0000, 0xFFFF])
def test_every_measurement_state_reaches_the_numeric(state: int) -> None:
    obs = single([attribute(0x0950, nu_obs(0x4182, state, 0x0AA0, 72))])
    (numeric,) = obs.numerics
    assert int(numeric.state) == state and numeric.value == 72.0 and numeric.unit == 0x0AA0
    assert numeric.physio_id == 0x4182 and not obs.compound


def test_every_attribute_lands_in_its_field() -> None:
    label = "NBP".encode("utf-16-be") + b"\0\0"
    obs = single(
        [
            attribute(0x092F, struct.pack(">HH", 2, 0x4A04)),
            attribute(0x0924, struct.pack(">I", 0x00024A04)),
            attribute(0x0927, struct.pack(">H", len(label)) + label),
            attribute(0x0990, ABS),
            attribute(0x0991, struct.pack(">I", 0x36A00)),
            attribute(0x0946, struct.pack(">H", 0x2000)),
            attribute(
                0x094B,
                struct.pack(">HH", 3, 30)
                + nu_obs(0x4A05, 0, 0x0F20, 120)
                + nu_obs(0x4A06, 0, 0x0F20, 80)
                + nu_obs(0x4A07, 0x0400, 0x0F20, 0xFF0003A2),
            ),
            attribute(0x1234, b"ignored"),
        ]
    )
    assert (obs.type_code, obs.label, obs.label_string) == (0x4A04, 0x00024A04, "NBP")
    assert (obs.abs_time, obs.rel_time, obs.operating_mode) == (
        datetime(2026, 1, 1, 9),
        0x36A00,
        0x2000,
    )
    assert obs.compound and [(n.physio_id, n.value) for n in obs.numerics] == [
        (0x4A05, 120.0),
        (0x4A06, 80.0),
        (0x4A07, 93.0),
    ]
    assert int(obs.numerics[2].state) == 0x0400


def test_the_other_time_attributes() -> None:
    obs = single([attribute(0x0987, ABS), attribute(0x098F, struct.pack(">I", 5))])
    assert (obs.abs_time, obs.rel_time) == (datetime(2026, 1, 1, 9), 5)


@pytest.mark.parametrize(("mantissa", "name"), SPECIALS_DOC.items())
def test_a_special_float_has_no_value(mantissa: int, name: str) -> None:
    (numeric,) = single([attribute(0x0950, nu_obs(0x4BB8, 0, 0x0220, mantissa))]).numerics
    assert numeric.value is None and numeric.special is nom.FloatSpecial[name]


def test_a_compound_value_must_fill_its_length() -> None:
    bad = attribute(0x094B, struct.pack(">HH", 2, 10) + nu_obs(0x4A05, 0, 0x0F20, 1))
    with pytest.raises(ProtocolError, match="compound value"):
        decode_user_data(poll_reply([(1, [bad])]))


def test_single_and_extended_replies_and_errors() -> None:
    reply = decode_user_data(poll_reply([], extended=False, invoke=9))
    assert isinstance(reply, PollReply)
    assert (reply.extended, reply.sequence_no, reply.invoke_id, reply.rel_time) == (
        False,
        None,
        9,
        0x0ABD00,
    )
    assert (reply.abs_time, reply.partition, reply.obj_class, reply.attr_group) == (
        datetime(2026, 1, 1, 9),
        1,
        6,
        0,
    )
    extended = decode_user_data(poll_reply([]))
    assert isinstance(extended, PollReply) and extended.sequence_no == 4
    error = struct.pack(">HHHH", 0xE100, 2, 3, 6) + struct.pack(">HHH", 7, 9, 0)
    assert decode_user_data(error) == RemoteError(7, 9)


@pytest.mark.parametrize("state", [0, 4, 6, 255])
def test_an_unknown_linked_state_is_refused(state: int) -> None:
    with pytest.raises(ProtocolError, match="linked result state"):
        decode_user_data(poll_reply([], ro_type=5, linked=(state, 1)))


@pytest.mark.parametrize("ro_type", [0, 4, 6])
def test_an_unknown_operation_type_is_refused(ro_type: int) -> None:
    with pytest.raises(ProtocolError, match="remote operation type"):
        decode_user_data(poll_reply([], ro_type=ro_type))


def test_session_id_and_unknown_session_headers() -> None:
    data = bytearray(poll_reply([]))
    data[1] = 0x01
    with pytest.raises(ProtocolError, match="session id"):
        decode_user_data(bytes(data))
    for first in (0x00, 0x0B, 0x1A, 0xE0, 0xE2):
        with pytest.raises(ProtocolError, match="session header"):
            decode_user_data(bytes([first, 0]))


# --- plausible poll replies with random values ----------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(PHYSIO_DOC)),
            st.sampled_from([*MEASUREMENT_STATE_DOC, 0]),
            st.sampled_from(sorted(UNIT_DOC)),
            st.integers(-128, 127),
            st.integers(-(2**23), 2**23 - 1),
        ),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.integers(1, 80), max_size=8),
)
def test_plausible_poll_replies_decode_to_their_values(
    numerics: list[tuple[int, int, int, int, int]], sizes: list[int]
) -> None:
    observations = [
        (
            n + 1,
            [
                attribute(
                    0x0950,
                    nu_obs(physio, state, unit, (exponent & 0xFF) << 24 | (mantissa & 0xFFFFFF)),
                )
            ],
        )
        for n, (physio, state, unit, exponent, mantissa) in enumerate(numerics)
    ]
    wire = frame.encode_frame(poll_reply(observations))
    codec = PhilipsIntellivueCodec()
    events: list[object] = []
    at = 0
    for size in sizes:
        codec.receive(wire[at : at + size])
        events += codec.events()
        at += size
    codec.receive(wire[at:])
    events += codec.events()
    (reply,) = events
    assert isinstance(reply, PollReply)
    for obs, (physio, state, unit, exponent, mantissa) in zip(
        reply.observations, numerics, strict=True
    ):
        (numeric,) = obs.numerics
        assert (numeric.physio_id, int(numeric.state), numeric.unit) == (physio, state, unit)
        raw = mantissa & 0xFFFFFF
        if raw in SPECIALS_DOC:
            assert numeric.value is None and numeric.special is nom.FloatSpecial[SPECIALS_DOC[raw]]
        else:
            assert numeric.special is None
            assert numeric.value == pytest.approx(mantissa * 10.0**exponent, rel=1e-9)


VALID_MESSAGES = [
    struct.pack(">HHHH", 0xE100, 2, 3, 6) + struct.pack(">HHH", 7, 9, 0),
    poll_reply([]),
    poll_reply([(1, [attribute(0x0950, nu_obs(0x4182, 0, 0x0AA0, 0xC0C1_7D))])]),
]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(VALID_MESSAGES), st.data())
def test_a_corrupted_byte_of_a_frame_is_rejected(payload: bytes, data: st.DataObject) -> None:
    """Any single changed byte of a framed message is caught (FCS, escape or framing)."""
    codec = PhilipsIntellivueCodec()
    codec.receive(frame.encode_frame(payload))
    assert not any(isinstance(e, FrameRejected) for e in codec.events())
    wire = bytearray(frame.encode_frame(payload))
    at = data.draw(st.integers(1, len(wire) - 2))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != wire[at]))
    wire[at] = value
    codec = PhilipsIntellivueCodec()
    codec.receive(bytes(wire))
    events = list(codec.events())
    assert events and all(isinstance(e, FrameRejected) for e in events)


# --- the frame decoder's reports and the association length indicator -----------------------------


def test_garbage_is_counted_and_previewed() -> None:
    good = frame.encode_frame(VALID_MESSAGES[0])
    codec = PhilipsIntellivueCodec()
    codec.receive(b"\x55" * 100)
    assert list(codec.events()) == []  # reported when the next frame starts
    codec.receive(b"\x66" * 5 + good + b"\x01\x02" + good)
    events = list(codec.events())
    assert [type(e) for e in events] == [FrameRejected, RemoteError, FrameRejected, RemoteError]
    first, second = events[0], events[2]
    assert isinstance(first, FrameRejected) and isinstance(second, FrameRejected)
    assert first.reason == "105 byte(s) outside a frame (started mid-frame?)"
    assert first.data == b"\x55" * 64
    assert second.reason == "2 byte(s) outside a frame (started mid-frame?)"
    assert second.data == b"\x01\x02"


def test_frame_header_checks() -> None:
    body = VALID_MESSAGES[0]
    for header, reason in (
        (struct.pack(">BBH", 0x11, 0x02, len(body)), "not 11 01"),
        (struct.pack(">BBH", 0x12, 0x01, len(body)), "not 11 01"),
        (struct.pack(">BBH", 0x11, 0x01, len(body) + 1), "length field"),
        (struct.pack(">BBH", 0x11, 0x01, len(body) - 1), "length field"),
    ):
        with pytest.raises(ProtocolError, match=reason):
            frame.decode_frame(frame.wrap(header + body)[1:-1])
    assert (
        frame.decode_frame(frame.wrap(struct.pack(">BBH", 0x11, 0x01, len(body)) + body)[1:-1])
        == body
    )
    with pytest.raises(ProtocolError, match="shorter than its header"):
        frame.decode_frame(frame.wrap(b"\x11\x01\x00")[1:-1])
    with pytest.raises(ProtocolError, match="no room for an FCS"):
        frame.unwrap(b"\x01\x02")
    assert frame.decode_frame(frame.wrap(b"\x11\x01\x00\x00")[1:-1]) == b""


def test_user_data_limit() -> None:
    assert len(frame.encode_frame(bytes(4096))) > 4096
    with pytest.raises(DriverUsageError, match="4097 bytes exceeds 4096"):
        frame.encode_frame(bytes(4097))


@pytest.mark.parametrize("length", [0, 1, 254, 255, 300])
def test_association_length_indicator(length: int) -> None:
    li = bytes([length]) if length <= 254 else b"\xff" + struct.pack(">H", length)
    message = bytes([0x0C]) + li + bytes(length)  # a Refuse with a body of that length
    assert type(decode_user_data(message)).__name__ == "AssociationRefused"
    with pytest.raises(ProtocolError, match="length indicator"):
        decode_user_data(bytes([0x0C]) + li + bytes(length + 1))


def test_negative_exponents_divide_exactly() -> None:
    # value = m x 10^e; with e < 0 the guide's value is m / 10^-e: 3e-1 is 0.3, not 3 x 0.1
    assert decode_float(0xFF000003) == 0.3
    assert decode_float(0xFE000007) == 0.07
    assert decode_float(0x00000003) == 3.0


def test_bcd_digits_above_nine_are_not_time() -> None:
    assert nom.decode_absolute_time(bytes.fromhex("20A5010100000000")) is None  # high nibble A
    assert nom.decode_absolute_time(bytes.fromhex("200A010100000000")) is None  # low nibble A
    assert nom.decode_absolute_time(bytes.fromhex("2099010100000000")) == datetime(2099, 1, 1)


def reasons(*chunks: bytes) -> list[str]:
    codec = PhilipsIntellivueCodec()
    out = []
    for chunk in chunks:
        codec.receive(chunk)
        out += [
            e.reason if isinstance(e, FrameRejected) else type(e).__name__ for e in codec.events()
        ]
    return out


def test_frame_decoder_bof_handling() -> None:
    good = frame.encode_frame(VALID_MESSAGES[0])
    cut = "frame cut short by a new BOF"
    assert reasons(b"\xc0abc\xc0") == [cut]  # reported at once, not when an EOF comes
    assert reasons(b"\xc0\xc0" + good) == ["RemoteError"]  # nothing between two BOFs
    assert reasons(b"\xc0a\xc0b" + good) == [cut, cut, "RemoteError"]
    endless = b"\xc0" + b"\x55" * (frame.MAX_WIRE_FRAME + 1)
    assert reasons(endless, good) == [
        f"frame longer than {frame.MAX_WIRE_FRAME} bytes",
        "RemoteError",
    ]


def test_unwrap_edges() -> None:
    with pytest.raises(ProtocolError, match="invalid escape"):
        frame.unescape(b"\x01\x7d\x00")
    assert frame.unescape(b"\x01\x02") == b"\x01\x02"
    one = b"\x01" + struct.pack("<H", frame.fcs16(b"\x01"))
    assert frame.unwrap(one) == b"\x01"  # three bytes: one of body and the FCS
    body = bytes([0x01, 0x02]) * 4101
    fcs = struct.pack("<H", frame.fcs16(body))
    assert not set(fcs) & {0xC0, 0xC1, 0x7D} and len(body + fcs) == frame.MAX_WIRE_FRAME
    assert frame.unwrap(body + fcs) == body  # exactly the longest frame
    with pytest.raises(ProtocolError, match="longer than"):
        frame.unwrap(b"\x01" + body + fcs)


# --- the client's encoders: defaults and value ranges (the guide's field sizes) ------------------


def test_encoder_ranges_and_defaults() -> None:
    from drivers.codecs.philips_intellivue import encode as enc
    from drivers.codecs.philips_intellivue.events import MdsCreateResult, PollRequest

    assert enc._encode_li(254) == b"\xfe" and enc._encode_li(255) == b"\xff\x00\xff"
    for value in (0, 0xFFFFFFFF):
        enc.association_request_pdu(min_poll_period=value, max_mtu_rx=value)
    for value in (-1, 1 << 32):
        with pytest.raises(DriverUsageError):
            enc.association_request_pdu(min_poll_period=value)
        with pytest.raises(DriverUsageError):
            enc.association_request_pdu(max_mtu_rx=value)
    for build in (enc.mds_create_result_pdu, enc.single_poll_pdu, enc.extended_poll_pdu):
        build(0)
        build(0xFFFF)
        for bad in (-1, 0x10000):
            with pytest.raises(DriverUsageError):
                build(bad)
    result = decode_user_data(enc.mds_create_result_pdu(3))
    assert isinstance(result, MdsCreateResult) and result.current_time == 0
    wrapped = decode_user_data(enc.mds_create_result_pdu(3, current_time=0xFFFFFFFF))
    assert isinstance(wrapped, MdsCreateResult) and wrapped.current_time == 0xFFFFFFFF
    single = decode_user_data(enc.single_poll_pdu(5))
    assert isinstance(single, PollRequest) and (single.poll_number, single.attr_group) == (1, 0)
    extended = decode_user_data(enc.extended_poll_pdu(5))
    assert isinstance(extended, PollRequest)
    assert (extended.poll_number, extended.period) == (1, 240000)
    for period in (1, 0xFFFFFFFF):
        request = decode_user_data(enc.extended_poll_pdu(5, period=period))
        assert isinstance(request, PollRequest) and request.period == period
    for period in (0, 1 << 32):
        with pytest.raises(DriverUsageError):
            enc.extended_poll_pdu(5, period=period)
    no_period = decode_user_data(enc.extended_poll_pdu(5, period=None))
    assert isinstance(no_period, PollRequest) and no_period.period is None
