"""Philips IntelliVue codec: FCS and transparency vectors, golden frames both ways, FLOAT-Type,
linked results, every frame whole / split at every offset / byte by byte, each cable fault, fuzz.

No RS232 capture of an IntelliVue is public (protocols.md §1, §5): the vectors are the mdpnp FCS
test vectors, protocols.md's computed frames, VSCaptureMP's canned client messages, and monitor
messages written here by hand from the guide's layouts (annotated field by field).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import string
import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.codecs.base import FrameRejected
from drivers.codecs.philips_intellivue import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRefused,
    AssociationRequest,
    FloatSpecial,
    IntellivueEvent,
    MdsCreateEvent,
    MdsCreateResult,
    MeasurementState,
    MessageKind,
    NumericValue,
    PhilipsIntellivueCodec,
    PollReply,
    PollRequest,
    ReleaseRequest,
    ReleaseResult,
    RemoteError,
    decode_absolute_time,
    decode_float,
    decode_message,
    encode_association_request,
    encode_extended_poll,
    encode_frame,
    encode_keep_alive,
    encode_mds_create_result,
    encode_release_request,
    encode_single_poll,
    fcs16,
    message_kind,
    unwrap,
    wrap,
)
from drivers.codecs.philips_intellivue.events import MDS_OBJECT, ManagedObject
from drivers.codecs.philips_intellivue.frame import MAX_WIRE_FRAME, escape, unescape
from drivers.codecs.philips_intellivue.nom import association_timeout
from drivers.codecs.philips_intellivue.pdu import AARQ_PRESENTATION, decode_user_data
from drivers.errors import DriverUsageError, ProtocolError
from drivers.handlers.philips_intellivue import Phase, PhilipsIntellivueHandler
from drivers.readings import VitalReading, plausible
from simulator.devices import philips_intellivue as monitor
from simulator.model import Vitals


def hexbytes(text: str) -> bytes:
    """Hex pairs; on each line, everything from the first word that is not a pair is a comment."""
    out = bytearray()
    for line in text.splitlines():
        for token in line.split():
            if len(token) != 2 or any(c not in string.hexdigits for c in token):
                break
            out.append(int(token, 16))
    return bytes(out)


# --- FCS and transparency (protocols.md §1) ----------------------------------------------------


def test_fcs_check_value() -> None:
    assert fcs16(b"123456789") == 0x906E  # CRC-16/X-25 check value


# mdpnp TestFCSOutputStream.java: the bytes between BOF and EOF, FCS appended; the second one
# has an FCS byte (C1) that must itself be escaped.
FCS_VECTORS = [("3A 71", "C0 3A 71 9B 26 C1"), ("3A 91", "C0 3A 91 95 7D E1 C1")]


@pytest.mark.parametrize(("body", "wire"), FCS_VECTORS)
def test_mdpnp_fcs_and_transparency_vectors(body: str, wire: str) -> None:
    assert wrap(hexbytes(body)) == hexbytes(wire)
    assert unwrap(hexbytes(wire)[1:-1]) == hexbytes(body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fcs_matches_the_emulators_table_driven_crc(data: bytes) -> None:
    assert fcs16(data) == monitor.fcs(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_escaping_round_trips_and_hides_every_delimiter(data: bytes) -> None:
    escaped = escape(data)
    assert 0xC0 not in escaped and 0xC1 not in escaped
    assert unescape(escaped) == data
    assert escaped == monitor.stuff(data)


def test_the_fcs_is_escaped_too() -> None:
    # VSCaptureMP's WriteBuffer bug (protocols.md §1): an FCS byte C0/C1/7D sent raw.
    body = hexbytes("3A 91")
    raw_fcs = b"\xc0" + body + struct.pack("<H", fcs16(body)) + b"\xc1"
    assert raw_fcs == hexbytes("C0 3A 91 95 C1 C1")
    codec = PhilipsIntellivueCodec()
    codec.receive(raw_fcs)
    assert all(isinstance(e, FrameRejected) for e in codec.events())


# --- golden client frames -----------------------------------------------------------------------

#: protocols.md §1, computed: the MDS Create Event Result (VSCaptureMP ``mds_create_resp_msg``).
MDS_CREATE_RESULT = """
    C0 11 01 00 1C
    E1 00 00 02                  SPpdu: session 0xE100, presentation context 2
    00 02 00 14                  ROapdus: RORS_APDU, 20 bytes
    00 01 00 01 00 0E            RORSapdu: invoke 1, CMD_CONFIRMED_EVENT_REPORT, 14 bytes
    00 21 00 00 00 00            EventReportResult: NOM_MOC_VMS_MDS, context 0, handle 0
    00 0A BD 00                  current time (RelativeTime, the event's time echoed)
    0D 06 00 00                  NOM_NOTI_MDS_CREAT, no data
    39 17 C1                     FCS (LE), EOF
"""
#: protocols.md §1, computed: extended numeric poll (VSCaptureMP ``ext_poll_request_msg5``).
EXTENDED_POLL = """
    C0 11 01 00 30
    E1 00 00 02                  SPpdu
    00 01 00 28                  ROIV_APDU, 40 bytes
    00 01 00 07 00 22            invoke 1, CMD_CONFIRMED_ACTION, 34 bytes
    00 21 00 00 00 00            ActionArgument: the MDS
    00 00 00 00                  scope 0
    F1 3B 00 14                  NOM_ACT_POLL_MDIB_DATA_EXT, 20 bytes
    00 01                        poll_number 1
    00 01 00 06                  NOM_PART_OBJ / NOM_MOC_VMO_METRIC_NU
    00 00                        attribute group: all
    00 01 00 08                  poll_ext_attr: 1 attribute, 8 bytes
    F1 3E 00 04 00 03 A9 80      NOM_ATTR_TIME_PD_POLL = 240000 ticks of 1/8 ms = 30 s
    58 71 C1
"""
#: VSCaptureMP ``aarq_msg`` (user data), field by field; framed by our encoder.
AARQ = """
    0D EC                        CN_SPDU (Association Request), LI 236
    05 08 13 01 00 16 01 02 80 00 14 02 00 02     session data
    C1 DC                        presentation header, LI 220
    31 80 A0 80 80 01 01 00 00 A2 80 A0 03 00 00 01 A4 80 30 80 02 01 01 06 04 52 01 00 01
    30 80 06 02 51 01 00 00 00 00 30 80 02 01 02 06 0C 2A 86 48 CE 14 02 01 00 00 00 01 01
    30 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 02 01 00 00 00 00 00 00 61 80 30 80 02 01 01
    A0 80 60 80 A1 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 03 01 00 00
    BE 80 28 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 01 01 02 01 02 81
                                 user-information EXTERNAL, indirect ref 2, single-ASN1-type
    48                           ASN.1 length 72: MDSEUserInfoStd
    80 00 00 00                  protocol_version MDDL_VERSION1
    40 00 00 00                  nomenclature_version NOMEN_VERSION
    00 00 00 00                  functional_units
    80 00 00 00                  system_type SYST_CLIENT
    20 00 00 00                  startup_mode COLD_START
    00 00 00 00                  option_list: empty
    00 01 00 2C                  supported_aprofiles: 1 attribute, 44 bytes
    00 01 00 28                  NOM_POLL_PROFILE_SUPPORT, 40 bytes
    80 00 00 00                  poll_profile_revision POLL_PROFILE_REV_0
    00 00 09 C4                  min_poll_period 2500 ticks = 312.5 ms
    00 00 09 C4                  max_mtu_rx 2500
    00 00 03 E8                  max_mtu_tx 1000
    FF FF FF FF                  max_bw_tx: no estimate
    60 00 00 00                  options: P_OPT_DYN_CREATE_OBJECTS | P_OPT_DYN_DELETE_OBJECTS
    00 01 00 0C                  optional_packages: 1 attribute, 12 bytes
    F0 01 00 08                  NOM_ATTR_POLL_PROFILE_EXT, 8 bytes
    8C 00 00 00                  POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA | 0x04000000
    00 00 00 00                  ext_attr: empty
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00      presentation trailer
"""
#: VSCaptureMP ``keep_alive_msg``: single poll of the MDS, System Production attribute group.
KEEP_ALIVE = """
    E1 00 00 02 00 01 00 1C      SPpdu, ROIV_APDU, 28 bytes
    00 01 00 07 00 16            invoke 1, CMD_CONFIRMED_ACTION, 22 bytes
    00 21 00 00 00 00 00 00 00 00    the MDS, scope 0
    0C 16 00 08                  NOM_ACT_POLL_MDIB_DATA, 8 bytes
    00 01 00 01 00 21 08 0C      poll 1, NOM_PART_OBJ / NOM_MOC_VMS_MDS, NOM_ATTR_GRP_SYS_PROD
"""
#: VSCaptureMP ``poll_request_msg``: single poll of the numerics (invoke id 0).
SINGLE_POLL = """
    E1 00 00 02 00 01 00 1C 00 00 00 07 00 16 00 21 00 00 00 00 00 00 00 00
    0C 16 00 08 00 01 00 01 00 06 00 00
"""
#: VSCaptureMP ``rlrq_msg``: FN_SPDU, the presentation header, the trailer.
RELEASE = "09 18 C1 16 61 80 30 80 02 01 01 A0 80 62 80 80 01 00 00 00 00 00 00 00 00 00"


def test_mds_create_result_golden_frame() -> None:
    event = MdsCreateEvent(1, MDS_OBJECT, 0x000ABD00, None, None, None)
    assert encode_mds_create_result(event) == hexbytes(MDS_CREATE_RESULT)
    decoded = decode_message(hexbytes(MDS_CREATE_RESULT))
    assert decoded == MdsCreateResult(1, MDS_OBJECT, 0x000ABD00, 0x0D06)


def test_extended_poll_golden_frame() -> None:
    assert encode_extended_poll(1, period_s=30.0) == hexbytes(EXTENDED_POLL)
    assert decode_message(hexbytes(EXTENDED_POLL)) == PollRequest(1, True, 1, 1, 6, 0, 240000)


def test_association_request_golden_bytes() -> None:
    wire = encode_association_request()
    assert wire == encode_frame(hexbytes(AARQ))
    assert len(hexbytes(AARQ)) == 238 and AARQ_PRESENTATION in hexbytes(AARQ)
    request = decode_message(wire)
    assert isinstance(request, AssociationRequest) and request.user_info is not None
    profile = request.user_info.poll_profile
    assert profile is not None
    assert (profile.min_poll_period, profile.max_mtu_rx, profile.max_mtu_tx) == (2500, 2500, 1000)
    assert profile.min_poll_period_s == 0.3125 and profile.ext_options == 0x8C000000
    assert request.user_info.system_type == 0x80000000


def test_single_polls_keep_alive_and_release_golden_bytes() -> None:
    assert encode_keep_alive(1) == encode_frame(hexbytes(KEEP_ALIVE))
    assert encode_single_poll(0) == encode_frame(hexbytes(SINGLE_POLL))
    assert encode_release_request() == encode_frame(hexbytes(RELEASE))
    assert decode_message(encode_keep_alive(1)) == PollRequest(1, False, 1, 1, 0x21, 0x080C, None)
    assert decode_message(encode_release_request()) == ReleaseRequest()


def test_every_client_message_has_a_kind() -> None:
    kinds = [
        message_kind(decode_message(wire))
        for wire in (
            encode_association_request(),
            hexbytes(MDS_CREATE_RESULT),
            encode_single_poll(3),
            encode_extended_poll(4),
            encode_release_request(),
        )
    ]
    assert kinds == [
        MessageKind.ASSOCIATION_REQUEST,
        MessageKind.MDS_CREATE_RESULT,
        MessageKind.SINGLE_POLL,
        MessageKind.EXTENDED_POLL,
        MessageKind.RELEASE_REQUEST,
    ]


@pytest.mark.parametrize("invoke_id", [-1, 0x10000])
def test_encoders_refuse_values_that_do_not_fit(invoke_id: int) -> None:
    with pytest.raises(DriverUsageError):
        encode_single_poll(invoke_id)
    with pytest.raises(DriverUsageError):
        encode_frame(bytes(5000))


# --- golden monitor messages (hand-written from the guide's layouts) ----------------------------

#: The Association Result the emulator sends to the AARQ above: its own minimum poll period
#: 1 s, the receive MTU capped at RS232's 1000 bytes, real-time numerics and waves accepted.
ASSOCIATION_RESULT = """
    0E CE                        AC_SPDU (Association Result), LI 206
    05 08 13 01 00 16 01 02 80 00 14 02 00 02     session data
    C1 BE                        presentation header, LI 190
    31 80 A0 80 80 01 01 00 00 A2 80 A0 03 00 00 01 A5 80 30 80 80 01 00 81 02 51 01 00 00
    30 80 80 01 00 81 0C 2A 86 48 CE 14 02 01 00 00 00 02 01 00 00 00 00 61 80 30 80 02 01
    01 A0 80 61 80 A1 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 03 01 00 00 A2 03 02 01 00 A3
    05 A1 03 02 01 00 BE 80 28 80 02 01 02 81
    48                           MDSEUserInfoStd, 72 bytes
    80 00 00 00 40 00 00 00 00 00 00 00
    00 80 00 00                  system_type SYST_SERVER
    40 00 00 00                  startup_mode WARM_START
    00 00 00 00                  option_list: empty
    00 01 00 2C 00 01 00 28      NOM_POLL_PROFILE_SUPPORT, 40 bytes
    80 00 00 00                  POLL_PROFILE_REV_0
    00 00 1F 40                  min_poll_period 8000 ticks = 1 s
    00 00 03 E8 00 00 03 E8      max_mtu_rx 1000, max_mtu_tx 1000
    FF FF FF FF 60 00 00 00
    00 01 00 0C F0 01 00 08      NOM_ATTR_POLL_PROFILE_EXT
    88 00 00 00 00 00 00 00      real-time numerics | waves, no ext_attr
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00      presentation trailer
"""
REFUSE = "0C 03 32 01 00"
ABORT = """
    19 2E 11 01 03 C1 29 A0 80 A0 80 30 80 02 01 01 06 02 51 01 00 00 00 00 61 80 30 80 02
    01 01 A0 80 64 80 80 01 01 00 00 00 00 00 00 00 00 00 00
"""
RELEASE_RESULT = "0A 18 C1 16 61 80 30 80 02 01 01 A0 80 63 80 80 01 00 00 00 00 00 00 00 00 00"
#: The MDS Create Event Report at power-on time 0x000ABD00, 2026-01-01 09:00:00 by its clock.
MDS_CREATE_EVENT = """
    E1 00 00 02 00 01 00 3E      SPpdu, ROIV_APDU, 62 bytes
    00 01 00 01 00 38            invoke 1, CMD_CONFIRMED_EVENT_REPORT, 56 bytes
    00 21 00 00 00 00            EventReportArgument: the MDS
    00 0A BD 00                  event_time
    0D 06 00 2A                  NOM_NOTI_MDS_CREAT, 42 bytes
    00 21 00 00 00 00            MDSCreateInfo: the MDS
    00 04 00 20                  4 attributes, 32 bytes
    09 87 00 08 20 26 01 01 09 00 00 00      NOM_ATTR_TIME_ABS (BCD)
    09 8F 00 04 00 0A BD 00                  NOM_ATTR_TIME_REL
    09 46 00 02 40 00                        NOM_ATTR_MODE_OP: MONITORING
    09 A7 00 02 00 06                        NOM_ATTR_VMS_MDS_STAT: OPERATING
"""
#: The first reply to the extended poll above: HR 72/min and an NIBP of 120/80 (93) mmHg taken
#: a minute earlier, each with its label and time stamps.
POLL_REPLY = """
    E1 00 00 02 00 02 00 CE      SPpdu, RORS_APDU, 206 bytes
    00 01 00 07 00 C8            invoke 1, CMD_CONFIRMED_ACTION, 200 bytes
    00 21 00 00 00 00 F1 3B 00 BE    ActionResult: the MDS, NOM_ACT_POLL_MDIB_DATA_EXT, 190 bytes
    00 01 00 00                  poll_number 1, sequence_no 0 (the confirmation)
    00 0A BD 00                  rel_time_stamp
    20 26 01 01 09 00 00 00      abs_time_stamp
    00 01 00 06 00 00            NOM_PART_OBJ / NOM_MOC_VMO_METRIC_NU, attribute group 0
    00 01 00 A4                  PollInfoList: 1 context, 164 bytes
    00 00 00 02 00 9E            SingleContextPoll: context 0, 2 observations, 158 bytes
    01 01 00 06 00 3C            handle 0x0101, 6 attributes, 60 bytes
      09 2F 00 04 00 02 41 82    NOM_ATTR_ID_TYPE: NOM_PART_SCADA / NOM_ECG_CARD_BEAT_RATE
      09 24 00 04 00 02 41 82    NOM_ATTR_ID_LABEL: NLS_NOM_ECG_CARD_BEAT_RATE
      09 27 00 06 00 04 00 48 00 52          NOM_ATTR_ID_LABEL_STRING "HR" (UTF-16)
      09 50 00 0A 41 82 00 00 0A A0 00 00 00 48   NU_VAL_OBS: HR, valid, bpm, 72
      09 90 00 08 20 26 01 01 09 00 00 00    NOM_ATTR_TIME_STAMP_ABS
      09 91 00 04 00 0A BD 00                NOM_ATTR_TIME_STAMP_REL
    01 04 00 06 00 56            handle 0x0104, 6 attributes, 86 bytes
      09 2F 00 04 00 02 4A 04    NOM_PRESS_BLD_NONINV
      09 24 00 04 00 02 4A 04
      09 27 00 08 00 06 00 4E 00 42 00 50    "NBP"
      09 4B 00 22 00 03 00 1E    NU_CMPD_VAL_OBS: 3 members, 30 bytes
        4A 05 00 00 0F 20 00 00 00 78        sys 120 mmHg
        4A 06 00 00 0F 20 00 00 00 50        dia 80
        4A 07 00 00 0F 20 00 00 00 5D        mean 93
      09 90 00 08 20 26 01 01 08 59 00 00    measured 08:59:00
      09 91 00 04 00 03 6A 00                ... 480000 ticks (60 s) before the reply
"""
REMOTE_ERROR = "E1 00 00 02 00 03 00 06 00 07 00 09 00 00"  # ROER: invoke 7, NO_SUCH_ACTION

NOON = datetime(2026, 1, 1, 9, 0)


def test_association_result_decodes_to_its_poll_profile() -> None:
    accepted = decode_user_data(hexbytes(ASSOCIATION_RESULT))
    assert isinstance(accepted, AssociationAccepted) and accepted.user_info is not None
    assert accepted.user_info.system_type == 0x00800000
    profile = accepted.user_info.poll_profile
    assert profile is not None and profile.min_poll_period_s == 1.0
    assert (profile.max_mtu_rx, profile.ext_options) == (1000, 0x88000000)
    assert association_timeout(profile.min_poll_period_s) == 10.0


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (REFUSE, AssociationRefused()),
        (ABORT, AssociationAborted()),
        (RELEASE_RESULT, ReleaseResult()),
        (REMOTE_ERROR, RemoteError(7, 9)),
    ],
)
def test_short_monitor_messages(wire: str, expected: object) -> None:
    assert decode_user_data(hexbytes(wire)) == expected


def test_mds_create_event_decodes_with_its_clocks() -> None:
    event = decode_user_data(hexbytes(MDS_CREATE_EVENT))
    assert event == MdsCreateEvent(1, MDS_OBJECT, 0x000ABD00, NOON, 0x000ABD00, 0x4000)
    assert isinstance(event, MdsCreateEvent)
    assert encode_mds_create_result(event) == hexbytes(MDS_CREATE_RESULT)  # answer = golden


def test_poll_reply_decodes_numerics_labels_and_time_stamps() -> None:
    reply = decode_user_data(hexbytes(POLL_REPLY))
    assert isinstance(reply, PollReply)
    assert (reply.invoke_id, reply.extended, reply.poll_number, reply.sequence_no) == (
        1,
        True,
        1,
        0,
    )
    assert (reply.rel_time, reply.abs_time, reply.obj_class) == (0x000ABD00, NOON, 6)
    hr, nibp = reply.observations
    assert (hr.handle, hr.label, hr.label_string, hr.type_code) == (0x0101, 0x24182, "HR", 0x4182)
    assert hr.numerics == (NumericValue(0x4182, MeasurementState(0), 0x0AA0, 72.0, None),)
    assert not hr.compound and hr.abs_time == NOON and hr.rel_time == 0x000ABD00
    assert nibp.compound and nibp.label_string == "NBP"
    assert [(n.physio_id, n.value, n.unit) for n in nibp.numerics] == [
        (0x4A05, 120.0, 0x0F20),
        (0x4A06, 80.0, 0x0F20),
        (0x4A07, 93.0, 0x0F20),
    ]
    assert nibp.abs_time == NOON - timedelta(minutes=1) and nibp.rel_time == 0x36A00


@pytest.mark.parametrize(
    "wire", [ASSOCIATION_RESULT, MDS_CREATE_EVENT, POLL_REPLY, REFUSE, ABORT, RELEASE_RESULT]
)
def test_truncating_a_monitor_message_is_a_protocol_error(wire: str) -> None:
    data = hexbytes(wire)
    for cut in range(1, len(data)):
        with pytest.raises(ProtocolError):
            decode_user_data(data[:cut])


def test_length_fields_are_checked() -> None:
    data = bytearray(hexbytes(POLL_REPLY))
    data[7] += 1  # ROapdus length one too long
    with pytest.raises(ProtocolError, match="ROapdus"):
        decode_user_data(bytes(data))
    data = bytearray(hexbytes(POLL_REPLY))
    data[61] += 2  # the first observation's attribute list length (offset 60, u16)
    with pytest.raises(ProtocolError):
        decode_user_data(bytes(data))


# --- FLOAT-Type, AbsoluteTime --------------------------------------------------------------------

FLOATS = [
    # mindleaving IntellivueFloatTest.cs
    (0xFD007D00, 32.0),
    (0xFF000140, 32.0),
    (0x01000140, 3200.0),
    (0x02000020, 3200.0),
    # exponent -1 divides: exactly 98.5, not 98.50000000000001
    (0xFF0003D9, 98.5),
    (0xFFFFFF9C, -10.0),  # a negative mantissa
    (0x00000000, 0.0),
    (0x00000048, 72.0),
]


@pytest.mark.parametrize(("raw", "value"), FLOATS)
def test_float_type_vectors(raw: int, value: float) -> None:
    assert decode_float(raw) == value


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x007FFFFF, FloatSpecial.NAN),
        (0x00800000, FloatSpecial.NRES),
        (0x007FFFFE, FloatSpecial.POS_INF),
        (0x00800002, FloatSpecial.NEG_INF),
        (0xFE7FFFFF, FloatSpecial.NAN),  # any exponent
    ],
)
def test_float_type_specials(raw: int, special: FloatSpecial) -> None:
    assert decode_float(raw) is special


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-99999, max_value=99999), st.integers(min_value=0, max_value=3))
def test_float_type_round_trips_through_the_emulators_encoder(mantissa: int, places: int) -> None:
    value = mantissa / 10**places
    assert decode_float(monitor.float_type(value)) == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20 26 01 01 09 00 00 00", datetime(2026, 1, 1, 9, 0)),
        ("19 99 12 31 23 59 59 00", datetime(1999, 12, 31, 23, 59, 59)),
        ("FF FF FF FF FF FF FF FF", None),  # the monitor's clock is not set
        ("20 26 13 01 00 00 00 00", None),  # month 13
        ("20 2A 01 01 00 00 00 00", None),  # not BCD
    ],
)
def test_absolute_time_is_bcd(raw: str, expected: datetime | None) -> None:
    assert decode_absolute_time(hexbytes(raw)) == expected


# --- streaming: every frame whole, split at every offset, byte by byte ---------------------------

MONITOR_MESSAGES = [ASSOCIATION_RESULT, MDS_CREATE_EVENT, POLL_REPLY, REMOTE_ERROR, ABORT]
STREAM = b"".join(encode_frame(hexbytes(m)) for m in MONITOR_MESSAGES)
EXPECTED = [decode_user_data(hexbytes(m)) for m in MONITOR_MESSAGES]


def decode(chunks: Iterable[bytes]) -> list[IntellivueEvent]:
    codec = PhilipsIntellivueCodec()
    out: list[IntellivueEvent] = []
    for chunk in chunks:
        codec.receive(chunk)
        out += codec.events()
    return out


def test_the_stream_decodes_whole() -> None:
    assert decode([STREAM]) == EXPECTED


def test_the_stream_split_in_two_at_every_offset() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_the_stream_one_byte_at_a_time() -> None:
    assert decode(STREAM[i : i + 1] for i in range(len(STREAM))) == EXPECTED


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=40))
def test_the_stream_in_random_chunks(sizes: list[int]) -> None:
    chunks, at = [], 0
    for size in sizes * (len(STREAM) // sum(sizes) + 1):
        chunks.append(STREAM[at : at + size])
        at += size
    assert decode(chunks) == EXPECTED


# --- linked results (protocols.md §9: first, not-first-not-last, last, then one RORS) -----------


def linked_stream(mtu: int = 200) -> tuple[list[bytes], PollReply]:
    """An emulator reply split into linked parts, and the same reply in one piece."""
    emulator = monitor.PhilipsIntellivueEmulator(epoch=0.0)
    observations = emulator.numerics(1.0, Vitals(nibp=(120, 80, 93), nibp_at=0.0, temp_c=36.6))
    header = monitor.PollHeader(5, True, 1, 3, 8000, datetime(2026, 1, 1), 6, 0)
    parts = monitor.split_poll_result(header, observations, mtu)
    whole = decode_user_data(monitor.poll_result(header, observations))
    assert isinstance(whole, PollReply)
    return parts, whole


def test_linked_results_are_joined_into_one_reply() -> None:
    parts, whole = linked_stream()
    assert len(parts) >= 4  # first, at least one middle, last, closing RORS
    events = decode(monitor.frame(part) for part in parts)
    assert events == [dataclasses.replace(whole, parts=len(parts))]


def test_linked_results_one_byte_at_a_time_and_split_at_every_offset() -> None:
    parts, whole = linked_stream()
    wire = b"".join(monitor.frame(part) for part in parts)
    expected = [dataclasses.replace(whole, parts=len(parts))]
    assert decode(wire[i : i + 1] for i in range(len(wire))) == expected
    for cut in range(0, len(wire) + 1, 7):
        assert decode([wire[:cut], wire[cut:]]) == expected, cut


def test_a_lost_linked_part_is_rejected_and_the_next_reply_decodes() -> None:
    parts, whole = linked_stream()
    events = decode(monitor.frame(part) for part in [*parts[:1], *parts[2:], *parts])
    rejected = [e.reason for e in events if isinstance(e, FrameRejected)]
    assert "linked result 5 (1 part(s)) was never completed" in rejected
    assert any("out of sequence" in reason for reason in rejected)
    # The orphaned closing RORS carries no observations; the next sequence decodes whole.
    replies = [e for e in events if isinstance(e, PollReply) and e.observations]
    assert len(replies) == 1 and replies[0].observations == whole.observations


def test_a_result_before_the_last_part_is_rejected() -> None:
    parts, _ = linked_stream()
    events = decode(monitor.frame(part) for part in [parts[0], parts[-1]])
    assert len(events) == 1 and isinstance(events[0], FrameRejected)
    assert "before the last part" in events[0].reason


def test_all_parts_without_the_closing_result_are_delivered_on_the_next_message() -> None:
    parts, whole = linked_stream()
    events = decode(monitor.frame(p) for p in [*parts[:-1], hexbytes(REMOTE_ERROR)])
    assert isinstance(events[0], PollReply) and events[0].observations == whole.observations
    assert events[1] == RemoteError(7, 9)


def test_too_many_linked_parts_are_rejected() -> None:
    parts, _ = linked_stream(mtu=120)
    codec = PhilipsIntellivueCodec(max_linked_parts=2)
    codec.receive(b"".join(monitor.frame(p) for p in parts))
    events = list(codec.events())
    assert any(isinstance(e, FrameRejected) and "more than 2" in e.reason for e in events)
    assert not any(isinstance(e, PollReply) and e.parts > 2 for e in events)


# --- cable faults ---------------------------------------------------------------------------------

GOOD = encode_frame(hexbytes(REMOTE_ERROR))


def kinds(events: list[IntellivueEvent]) -> list[str]:
    return ["rejected" if isinstance(e, FrameRejected) else type(e).__name__ for e in events]


def test_garbage_before_between_and_after_frames() -> None:
    events = decode([b"\x00\xff\x12" + GOOD + b"garbage" + GOOD + b"\x01\x02"])
    assert kinds(events) == ["rejected", "RemoteError", "rejected", "RemoteError"]
    assert "outside a frame" in events[0].reason  # type: ignore[union-attr]


def test_start_in_the_middle_of_a_frame() -> None:
    events = decode([GOOD[len(GOOD) // 2 :] + GOOD])
    assert kinds(events) == ["rejected", "RemoteError"]


def test_bad_fcs_is_rejected_then_the_next_frame_decodes() -> None:
    bad = bytearray(GOOD)
    bad[6] ^= 0x01
    events = decode([bytes(bad) + GOOD])
    assert kinds(events) == ["rejected", "RemoteError"]
    assert "FCS" in events[0].reason  # type: ignore[union-attr]


def test_frame_cut_short_by_a_new_bof() -> None:
    events = decode([GOOD[:8] + GOOD])
    assert kinds(events) == ["rejected", "RemoteError"]
    assert "cut short" in events[0].reason  # type: ignore[union-attr]


def test_abort_sequence_drops_the_frame() -> None:
    events = decode([GOOD[:8] + b"\x7d\xc1" + GOOD])
    assert kinds(events) == ["rejected", "RemoteError"]
    assert "aborted" in events[0].reason  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [b"\x7d\x00", b"\x7d\x7d\x5d", b"\x7d\xe2"])
def test_invalid_escape_is_rejected(bad: bytes) -> None:
    events = decode([GOOD[:8] + bad + GOOD[8:] + GOOD])
    assert kinds(events) == ["rejected", "RemoteError"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [(b"\x12\x01", "header"), (b"\x11\x02", "header"), (b"\x11\x01\x00\x07", "length field")],
)
def test_wrong_header_or_length_with_a_valid_fcs(header: bytes, reason: str) -> None:
    user_data = hexbytes(REMOTE_ERROR)
    body = header + (b"" if len(header) == 4 else struct.pack(">H", len(user_data))) + user_data
    events = decode([wrap(body) + GOOD])
    assert kinds(events) == ["rejected", "RemoteError"]
    assert reason in events[0].reason  # type: ignore[union-attr]


def test_an_empty_or_tiny_frame_is_rejected() -> None:
    assert kinds(decode([b"\xc0\xc1" + b"\xc0\x01\xc1" + GOOD])) == [
        "rejected",
        "rejected",
        "RemoteError",
    ]


def test_a_frame_that_never_ends_is_rejected_once_then_the_codec_resyncs() -> None:
    endless = b"\xc0" + b"\x55" * (MAX_WIRE_FRAME + 100)
    events = decode([endless[:5000], endless[5000:], b"\x55\xc1", GOOD])
    assert kinds(events) == ["rejected", "RemoteError"]
    assert "longer than" in events[0].reason  # type: ignore[union-attr]


def test_a_valid_frame_with_a_malformed_message_is_rejected() -> None:
    events = decode([encode_frame(b"\xe1\x00\x00\x02\x00\x09\x00\x00") + GOOD])
    assert kinds(events) == ["rejected", "RemoteError"]
    assert "remote operation type" in events[0].reason  # type: ignore[union-attr]


# --- fuzz -------------------------------------------------------------------------------------

EXPECTED_TYPES = tuple(
    {type(e) for e in EXPECTED}
    | {AssociationRefused, ReleaseResult, ReleaseRequest, AssociationRequest, PollRequest}
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    for event in decode([data]):
        assert isinstance(event, (FrameRejected, *EXPECTED_TYPES))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_only_protocol_error_escapes_the_strict_decoder(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_user_data(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_monitor_messages(data: st.DataObject) -> None:
    """Bit flips and splices inside valid messages (with a valid FCS: past the frame check)."""
    base = bytearray(hexbytes(data.draw(st.sampled_from(MONITOR_MESSAGES))))
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        at = data.draw(st.integers(min_value=0, max_value=len(base) - 1))
        base[at] = data.draw(st.integers(min_value=0, max_value=255))
    with contextlib.suppress(ProtocolError):
        decode_user_data(bytes(base))
    codec = PhilipsIntellivueCodec()
    codec.receive(encode_frame(bytes(base)))
    list(codec.events())  # never raises


def polling_handler() -> PhilipsIntellivueHandler:
    """A handler that has associated and answered the MDS Create Event."""
    handler = PhilipsIntellivueHandler("monitor")
    wall = datetime(2026, 1, 1, 9, tzinfo=UTC)
    handler.on_open(0.0, wall)
    handler.on_data(encode_frame(hexbytes(ASSOCIATION_RESULT)), 0.1, wall)
    handler.on_data(encode_frame(hexbytes(MDS_CREATE_EVENT)), 0.2, wall)
    assert handler.phase is Phase.POLLING
    return handler


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_no_implausible_value_reaches_a_reading(data: st.DataObject) -> None:
    """Random values, states and units in a real poll reply: whatever the handler reports as a
    value is plausible, and an INVALID reading has no value."""
    rng = random.Random(data.draw(st.integers(min_value=0, max_value=2**32)))
    message = bytearray(hexbytes(POLL_REPLY))
    value_offsets = [i for i in range(len(message) - 10) if message[i : i + 2] == b"\x0f\x20"]
    value_offsets.append(message.index(b"\x0a\xa0"))
    for at in value_offsets:
        struct.pack_into(">I", message, at + 2, rng.getrandbits(32))  # any FLOAT
        if rng.random() < 0.3:
            struct.pack_into(">H", message, at - 2, rng.getrandbits(16))  # any state
        if rng.random() < 0.2:
            struct.pack_into(">H", message, at, rng.choice([0x0F03, 0x0220, 0x1140, 0x1234]))
    handler = polling_handler()
    out = handler.on_data(encode_frame(bytes(message)), 1.0, datetime(2026, 1, 1, tzinfo=UTC))
    for reading in out.readings:
        if isinstance(reading, VitalReading) and reading.value is not None:
            assert plausible(reading.metric, reading.value), reading


def test_managed_object_is_a_value() -> None:
    assert ManagedObject(0x21, 0, 0) == MDS_OBJECT
