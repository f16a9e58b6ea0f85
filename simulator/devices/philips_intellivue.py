"""Emulated Philips IntelliVue MP/MX monitor on its MIB/RS232 port (Data Export protocol).

Written from the *Data Export Interface Programming Guide* 4535 642 59271 as summarised in
reference/protocols.md §1 and §9 (and docs/protocols/philips-intellivue.md), with its own frame
builder, its own table-driven CRC and its own request parser: it shares no code with
``drivers.codecs`` or ``drivers.sessions``, so a mistake made twice cannot hide (both sides are
checked against the same golden bytes in the tests).

Behaviour (the monitor's side of the session):

* An Association Request (``0D``) from a client with ``SYST_CLIENT`` set is answered with an
  Association Result (``0E``) carrying the poll profile: ``min_poll_period`` is the larger of
  the client's and the monitor's own (``min_poll_period``), the MTU the smaller of the client's
  receive MTU and ``mtu``. A request while associated is refused (``0C``).
* Right after the result the MDS Create Event Report goes out; it is sent again every
  ``mds_resend_interval`` seconds until the client answers with the MDS Create Event Result,
  ``mds_attempts`` times in all, then the association is aborted (``19``). Polls before the
  result are ignored (§9).
* Single polls (``0C16``) and extended polls (``F13B``) of Numerics are answered with the values
  of ``Vitals``; an extended poll with ``NOM_ATTR_TIME_PD_POLL`` is confirmed with
  ``sequence_no`` 0, then answered every ``numeric_period`` with an incrementing sequence number
  until its period ends (§9). An MDS poll (the keep-alive) gets the MDS's operating mode and
  clocks. Replies larger than the negotiated MTU go out as linked results: ROLRS first,
  not-first-not-last, last, then one RORS with an empty poll list.
* A client silent for longer than the association time-out of §9 (10 s under a 3.3 s poll
  period, 3 × the period up to 43 s, else 130 s; ``association_timeout`` overrides it) is
  aborted. A Release Request is answered with a Release Result.

Faults (``simulator.devices.base.Fault``): REFUSE (every Association Request is refused), ABORT
(an operating association is aborted, again after each new one while the fault lasts), SILENCE
(nothing is sent), BAD_CHECKSUM, WRONG_LENGTH (a length field one too long, with a matching
FCS), GARBAGE (random bytes before each frame), MID_FRAME (the next frame loses its first half,
once), ABSURD_VALUE (SpO2 300 %), DEMO_MODE (every numeric carries DEMO_DATA and the MDS reports
the demo operating mode).
"""

from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

from simulator.devices.base import Fault
from simulator.model import PumpModelState, Vitals

# --- framing (protocols.md §1) ----------------------------------------------------------------

BOF, EOF, ESC, BIT5 = 0xC0, 0xC1, 0x7D, 0x20
FRAME_HEADER = bytes([0x11, 0x01])  # Data Export protocol id, message type


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def fcs(data: bytes) -> int:
    """RFC 1662 FCS-16, one table lookup per byte (the guide's algorithm)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def stuff(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in (BOF, EOF, ESC):
            out += bytes([ESC, byte ^ BIT5])
        else:
            out.append(byte)
    return bytes(out)


def frame(user_data: bytes, *, bad_fcs: bool = False, wrong_length: bool = False) -> bytes:
    """BOF | 11 01 | length | user data | FCS (LE) | EOF, everything between BOF/EOF escaped."""
    length = len(user_data) + (1 if wrong_length else 0)
    body = FRAME_HEADER + struct.pack(">H", length) + user_data
    check = fcs(body) ^ (0x5A5A if bad_fcs else 0)
    return bytes([BOF]) + stuff(body + struct.pack("<H", check)) + bytes([EOF])


class RequestReader:
    """Collects the client's frames; returns the user data of every valid one."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._in_frame = False
        self.bad_frames = 0

    def reset(self) -> None:
        self._pending.clear()
        self._in_frame = False

    def feed(self, data: bytes) -> list[bytes]:
        found = []
        for byte in data:
            if byte == BOF:
                if self._in_frame and self._pending:
                    self.bad_frames += 1
                self._pending.clear()
                self._in_frame = True
            elif byte == EOF and self._in_frame:
                user_data = self._check(bytes(self._pending))
                if user_data is None:
                    self.bad_frames += 1
                else:
                    found.append(user_data)
                self._pending.clear()
                self._in_frame = False
            elif self._in_frame:
                self._pending.append(byte)
        return found

    @staticmethod
    def _check(raw: bytes) -> bytes | None:
        data = bytearray()
        escaped = False
        for byte in raw:
            if escaped:
                if byte not in (BOF ^ BIT5, EOF ^ BIT5, ESC ^ BIT5):
                    return None
                data.append(byte ^ BIT5)
                escaped = False
            elif byte == ESC:
                escaped = True
            else:
                data.append(byte)
        if escaped or len(data) < 6:
            return None
        body, (check,) = bytes(data[:-2]), struct.unpack("<H", data[-2:])
        if fcs(body) != check or body[:2] != FRAME_HEADER:
            return None
        (length,) = struct.unpack(">H", body[2:4])
        return body[4:] if length == len(body) - 4 else None


# --- association PDUs (the guide's Association Control Protocol) ---------------------------------

CN, AC, RF, FN, DN, AB = 0x0D, 0x0E, 0x0C, 0x09, 0x0A, 0x19
SESSION_DATA = bytes.fromhex("0508130100160102800014020002")
#: The Association Result's presentation header after ``C1 LI``, ending in the user-information
#: EXTERNAL ``BE 80 28 80 02 01 02 81`` (the guide, as in mindleaving ``PresentationHeader``).
AARE_PRESENTATION = bytes.fromhex(
    "3180a0808001010000a280a003000001a58030808001008102510100003080800100810c2a8648ce14020100"
    "000002010000000061803080020101a0806180a180060c2a8648ce14020100000003010000a203020100a305"
    "a103020100be80288002010281"
)
RELEASE_RESULT = bytes.fromhex("0a18c11661803080020101a08063808001000000000000000000")
ABORT = bytes.fromhex(
    "192e110103c129a080a0803080020101060251010000000061803080020101a0806480800101000000000000"
    "00000000"
)
REFUSE = bytes.fromhex("0c03320100")  # RF_SPDU with a reason-code parameter (mindleaving)
USER_INFO_MARK = b"\xbe\x80\x28\x80"
USER_INFO_TAG = b"\x02\x01\x02\x81"

MDDL_VERSION1, NOMEN_VERSION = 0x80000000, 0x40000000
SYST_CLIENT, SYST_SERVER, WARM_START = 0x80000000, 0x00800000, 0x40000000
POLL_PROFILE_REV_0, P_OPT_DYN = 0x80000000, 0x60000000
POLL_EXT_PERIOD_NU_1SEC, POLL_EXT_PERIOD_RTSA = 0x80000000, 0x08000000
NOM_POLL_PROFILE_SUPPORT, NOM_ATTR_POLL_PROFILE_EXT = 0x0001, 0xF001
RS232_MAX_MTU = 1000  # the guide: the largest negotiable MTU on MIB/RS232

# --- Data Export (the guide's Data Export Protocol) ----------------------------------------------

SP_HEADER = bytes.fromhex("e1000002")  # session id 0xE100, presentation context 2
ROIV, RORS, ROER, ROLRS = 1, 2, 3, 5
CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT, CMD_GET, CMD_SET = 0, 1, 3, 4
CMD_CONFIRMED_SET, CMD_CONFIRMED_ACTION = 5, 7
RORLS_FIRST, RORLS_NOT_FIRST_NOT_LAST, RORLS_LAST = 1, 2, 3
NO_SUCH_ACTION, ACCESS_DENIED = 9, 2
NOM_MOC_VMO_METRIC_NU, NOM_MOC_VMS_MDS = 6, 0x21
NOM_NOTI_MDS_CREAT, NOM_ACT_POLL, NOM_ACT_POLL_EXT = 0x0D06, 0x0C16, 0xF13B
NOM_PART_OBJ, NOM_PART_SCADA = 1, 2
ATTR_LABEL, ATTR_LABEL_STRING, ATTR_TYPE, ATTR_MODE_OP = 0x0924, 0x0927, 0x092F, 0x0946
ATTR_CMPD, ATTR_VAL, ATTR_TIME_ABS, ATTR_TIME_REL = 0x094B, 0x0950, 0x0987, 0x098F
ATTR_STAMP_ABS, ATTR_STAMP_REL, ATTR_MDS_STAT, ATTR_PD_POLL = 0x0990, 0x0991, 0x09A7, 0xF13E
OPMODE_MONITORING, OPMODE_DEMO, MDS_OPERATING = 0x4000, 0x2000, 6
TICKS = 8000  # RelativeTime: 1/8 ms

# MeasurementState bits.
INVALID, QUESTIONABLE, UNAVAILABLE, DEMO_DATA, MSMT_ONGOING = 0x8000, 0x4000, 0x2000, 0x400, 0x20
FLOAT_NAN = 0x007FFFFF

# Units and physiological ids (protocols.md §1 table).
BPM, PERCENT, RPM, MMHG, DEGC = 0x0AA0, 0x0220, 0x0AE0, 0x0F20, 0x17A0
HR, PULSE, SPO2, NIBP, NIBP_SYS, NIBP_DIA, NIBP_MEAN = (
    0x4182,
    0x4822,
    0x4BB8,
    0x4A04,
    0x4A05,
    0x4A06,
    0x4A07,
)
RR_IMPEDANCE, RR_AIRWAY, CO2, ETCO2, FICO2, TEMP = 0x500A, 0x5012, 0x50AC, 0x50B0, 0x50BA, 0x4B48


def _u16(value: int) -> bytes:
    return struct.pack(">H", value)


def _u32(value: int) -> bytes:
    return struct.pack(">I", value & 0xFFFFFFFF)


def _li(length: int) -> bytes:
    return bytes([length]) if length <= 254 else b"\xff" + _u16(length)


def ava(attribute_id: int, value: bytes) -> bytes:
    return _u16(attribute_id) + _u16(len(value)) + value


def attribute_list(*avas: bytes) -> bytes:
    body = b"".join(avas)
    return _u16(len(avas)) + _u16(len(body)) + body


def float_type(value: float | None) -> int:
    """FLOAT-Type with the fewest decimals (0-3) that represent ``value``; None is NaN."""
    if value is None:
        return FLOAT_NAN
    decimals, mantissa = 0, round(value)
    for decimals in range(4):
        scaled: float = value * 10**decimals
        mantissa = round(scaled)
        if abs(mantissa - scaled) < 1e-6:
            break
    if not -0x7FFFFD <= mantissa <= 0x7FFFFD:
        return FLOAT_NAN
    exponent: int = -decimals & 0xFF
    return (exponent << 24) | (mantissa & 0xFFFFFF)


def bcd_time(when: datetime) -> bytes:
    """AbsoluteTime: century, year, month, day, hour, minute, second, fraction, each BCD."""
    parts = (
        when.year // 100,
        when.year % 100,
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
        0,
    )
    return bytes((p // 10) << 4 | p % 10 for p in parts)


def association_result(min_poll_ticks: int, mtu_rx: int, mtu_tx: int, ext_options: int) -> bytes:
    ext = ava(NOM_ATTR_POLL_PROFILE_EXT, _u32(ext_options) + attribute_list())
    profile = struct.pack(
        ">6I", POLL_PROFILE_REV_0, min_poll_ticks, mtu_rx, mtu_tx, 0xFFFFFFFF, P_OPT_DYN
    ) + attribute_list(ext)
    user_info = (
        struct.pack(">5I", MDDL_VERSION1, NOMEN_VERSION, 0, SYST_SERVER, WARM_START)
        + attribute_list()
        + attribute_list(ava(NOM_POLL_PROFILE_SUPPORT, profile))
    )
    presentation = AARE_PRESENTATION + bytes([len(user_info)]) + user_info + bytes(16)
    body = SESSION_DATA + b"\xc1" + _li(len(presentation)) + presentation
    return bytes([AC]) + _li(len(body)) + body


def data_export(ro_type: int, body: bytes) -> bytes:
    return SP_HEADER + _u16(ro_type) + _u16(len(body)) + body


MDS = _u16(NOM_MOC_VMS_MDS) + _u16(0) + _u16(0)  # ManagedObjectId of the MDS


def mds_attributes(when: datetime, rel_ticks: int, demo: bool) -> bytes:
    return attribute_list(
        ava(ATTR_TIME_ABS, bcd_time(when)),
        ava(ATTR_TIME_REL, _u32(rel_ticks)),
        ava(ATTR_MODE_OP, _u16(OPMODE_DEMO if demo else OPMODE_MONITORING)),
        ava(ATTR_MDS_STAT, _u16(MDS_OPERATING)),
    )


def mds_create_event(invoke_id: int, rel_ticks: int, when: datetime, demo: bool) -> bytes:
    info = MDS + mds_attributes(when, rel_ticks, demo)
    argument = MDS + _u32(rel_ticks) + _u16(NOM_NOTI_MDS_CREAT) + _u16(len(info)) + info
    body = _u16(invoke_id) + _u16(CMD_CONFIRMED_EVENT_REPORT) + _u16(len(argument)) + argument
    return data_export(ROIV, body)


def remote_error(invoke_id: int, error_value: int) -> bytes:
    return data_export(ROER, _u16(invoke_id) + _u16(error_value) + _u16(0))


@dataclass(frozen=True, slots=True)
class PollHeader:
    invoke_id: int
    extended: bool
    poll_number: int
    sequence_no: int
    rel_ticks: int
    when: datetime
    obj_class: int
    attr_group: int


def poll_result(
    header: PollHeader, observations: list[bytes], linked: tuple[int, int] | None = None
) -> bytes:
    """One RORS (or ROLRS part) with the given ObservationPoll blobs in one context (id 0)."""
    seq = _u16(header.sequence_no) if header.extended else b""
    polls = b"".join(observations)
    info = b""
    if observations:
        info = _u16(0) + _u16(len(observations)) + _u16(len(polls)) + polls
    reply = (
        _u16(header.poll_number)
        + seq
        + _u32(header.rel_ticks)
        + bcd_time(header.when)
        + _u16(NOM_PART_OBJ)
        + _u16(header.obj_class)
        + _u16(header.attr_group)
        + _u16(1 if observations else 0)
        + _u16(len(info))
        + info
    )
    action = NOM_ACT_POLL_EXT if header.extended else NOM_ACT_POLL
    result = MDS + _u16(action) + _u16(len(reply)) + reply
    body = _u16(header.invoke_id) + _u16(CMD_CONFIRMED_ACTION) + _u16(len(result)) + result
    if linked is None:
        return data_export(RORS, body)
    return data_export(ROLRS, bytes(linked) + body)


def split_poll_result(header: PollHeader, observations: list[bytes], mtu: int) -> list[bytes]:
    """The reply as one RORS, or as ROLRS parts that each fit ``mtu`` and a closing RORS."""
    whole = poll_result(header, observations)
    if len(whole) - 8 <= mtu or len(observations) <= 1:
        return [whole]
    overhead = len(poll_result(header, [])) - 8 + 2 + 6  # + RorlsId + context header
    groups: list[list[bytes]] = [[]]
    size = overhead
    for blob in observations:
        if groups[-1] and size + len(blob) > mtu:
            groups.append([])
            size = overhead
        groups[-1].append(blob)
        size += len(blob)
    parts = []
    for index, group in enumerate(groups):
        state = RORLS_NOT_FIRST_NOT_LAST
        if index == 0:
            state = RORLS_FIRST
        elif index == len(groups) - 1:
            state = RORLS_LAST
        parts.append(poll_result(header, group, (state, (index + 1) & 0xFF)))
    return [*parts, poll_result(header, [])]  # "last RORLSapdu, one RORSapdu to follow"


def numeric_object(
    handle: int,
    physio: int,
    label: str,
    members: list[tuple[int, int, float | None, int]],
    *,
    stamp: tuple[datetime, int] | None = None,
) -> bytes:
    """An ObservationPoll for a Numeric: type, label, value(s) and time stamps.

    ``members`` are (physio id, unit, value, MeasurementState); one member is sent as a
    NuObsValue, several as a compound value (NIBP, CO2).
    """
    values = [
        struct.pack(">HHHI", pid, state, unit, float_type(value))
        for pid, unit, value, state in members
    ]
    if len(values) == 1 and members[0][0] == physio:
        observed = ava(ATTR_VAL, values[0])
    else:
        block = b"".join(values)
        observed = ava(ATTR_CMPD, _u16(len(values)) + _u16(len(block)) + block)
    text = label.encode("utf-16-be")
    avas = [
        ava(ATTR_TYPE, _u16(NOM_PART_SCADA) + _u16(physio)),
        ava(ATTR_LABEL, _u32(0x00020000 | physio)),  # NLS_NOM_* TextIds (PERSEUS labels)
        ava(ATTR_LABEL_STRING, _u16(len(text)) + text),
        observed,
    ]
    if stamp is not None:
        avas += [ava(ATTR_STAMP_ABS, bcd_time(stamp[0])), ava(ATTR_STAMP_REL, _u32(stamp[1]))]
    return _u16(handle) + attribute_list(*avas)


# --- parsing the client's messages -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """What the client sent, as far as the monitor cares."""

    kind: str  # association_request, release_request, abort, mds_create_result, single_poll,
    # extended_poll, error, or a forbidden kind: get, set, action, event_report, other
    invoke_id: int = 0
    poll_number: int = 0
    obj_class: int = 0
    attr_group: int = 0
    period_ticks: int | None = None
    system_type: int = 0
    min_poll_ticks: int = 0
    mtu_rx: int = RS232_MAX_MTU
    mtu_tx: int = RS232_MAX_MTU
    ext_options: int = 0


#: What a read-only client may send; anything else is recorded in ``forbidden``.
READ_ONLY_KINDS = frozenset(
    {
        "association_request",
        "release_request",
        "abort",
        "mds_create_result",
        "single_poll",
        "extended_poll",
        "error",
    }
)


def _aarq(data: bytes) -> ClientMessage:
    mark = data.find(USER_INFO_MARK)
    tag = data.find(USER_INFO_TAG, mark) if mark >= 0 else -1
    if tag < 0:
        return ClientMessage("association_request")
    at = tag + len(USER_INFO_TAG) + 1  # one-byte ASN.1 length
    system_type = struct.unpack_from(">I", data, at + 12)[0]
    at += 20
    (options_length,) = struct.unpack_from(">H", data, at + 2)
    at += 4 + options_length
    count, _ = struct.unpack_from(">HH", data, at)
    at += 4
    for _ in range(count):
        attribute_id, length = struct.unpack_from(">HH", data, at)
        if attribute_id == NOM_POLL_PROFILE_SUPPORT:
            _rev, period, rx, tx = struct.unpack_from(">4I", data, at + 4)
            ext = 0
            packages_at = at + 4 + 24
            n_packages, _ = struct.unpack_from(">HH", data, packages_at)
            p = packages_at + 4
            for _ in range(n_packages):
                package_id, package_length = struct.unpack_from(">HH", data, p)
                if package_id == NOM_ATTR_POLL_PROFILE_EXT:
                    (ext,) = struct.unpack_from(">I", data, p + 4)
                p += 4 + package_length
            return ClientMessage(
                "association_request",
                system_type=system_type,
                min_poll_ticks=period,
                mtu_rx=rx,
                mtu_tx=tx,
                ext_options=ext,
            )
        at += 4 + length
    return ClientMessage("association_request", system_type=system_type)


def parse_client_message(data: bytes) -> ClientMessage | None:
    """Classify one user data block from the client; None if it cannot be parsed."""
    try:
        return _parse(data)
    except (struct.error, IndexError, ValueError):
        return None


def _parse(data: bytes) -> ClientMessage | None:
    first = data[0]
    if first == CN:
        return _aarq(data)
    if first == FN:
        return ClientMessage("release_request")
    if first == AB:
        return ClientMessage("abort")
    if first in (AC, RF, DN):
        return ClientMessage("other")
    if data[:2] != SP_HEADER[:2]:
        return None
    ro_type, _length, invoke_id, command, _ = struct.unpack_from(">HHHHH", data, 4)
    if ro_type == ROER:
        return ClientMessage("error", invoke_id)
    if ro_type == RORS:
        if command == CMD_CONFIRMED_EVENT_REPORT:
            (event_type,) = struct.unpack_from(">H", data, 24)
            if event_type == NOM_NOTI_MDS_CREAT:
                return ClientMessage("mds_create_result", invoke_id)
        return ClientMessage("other", invoke_id)
    if ro_type != ROIV:
        return ClientMessage("other", invoke_id)
    if command in (CMD_GET,):
        return ClientMessage("get", invoke_id)
    if command in (CMD_SET, CMD_CONFIRMED_SET):
        return ClientMessage("set", invoke_id)
    if command in (CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT):
        return ClientMessage("event_report", invoke_id)
    if command != CMD_CONFIRMED_ACTION:
        return ClientMessage("other", invoke_id)
    # ActionArgument: managed object (6), scope (4), action_type, length, then the request.
    (action,) = struct.unpack_from(">H", data, 24)
    if action not in (NOM_ACT_POLL, NOM_ACT_POLL_EXT):
        return ClientMessage("action", invoke_id)
    poll_number, _partition, obj_class, attr_group = struct.unpack_from(">4H", data, 28)
    if action == NOM_ACT_POLL:
        return ClientMessage("single_poll", invoke_id, poll_number, obj_class, attr_group)
    period = None
    count, _ = struct.unpack_from(">HH", data, 36)
    at = 40
    for _ in range(count):
        attribute_id, length = struct.unpack_from(">HH", data, at)
        if attribute_id == ATTR_PD_POLL:
            (period,) = struct.unpack_from(">I", data, at + 4)
        at += 4 + length
    return ClientMessage("extended_poll", invoke_id, poll_number, obj_class, attr_group, period)


# --- the monitor -------------------------------------------------------------------------------


@dataclass(slots=True)
class _PeriodicPoll:
    invoke_id: int
    poll_number: int
    obj_class: int
    attr_group: int
    until: float
    next_at: float
    sequence_no: int = 1


@dataclass(slots=True)
class _Association:
    min_poll_period: float
    mtu: int
    mds_invoke_id: int
    mds_sent_at: float
    mds_attempts: int = 1
    operating: bool = False  # the MDS Create Event Result arrived
    periodic: dict[tuple[int, int], _PeriodicPoll] = field(default_factory=dict)


class PhilipsIntellivueEmulator:
    driver: ClassVar[str] = "philips-intellivue"
    period: ClassVar[float] = 0.05

    def __init__(
        self,
        *,
        min_poll_period: float = 1.0,
        numeric_period: float = 1.0,
        mtu: int = RS232_MAX_MTU,
        mds_resend_interval: float = 3.0,
        mds_attempts: int = 3,
        association_timeout: float | None = None,
        co2_compound: bool = True,
        epoch: float | None = None,
        rel_start_ticks: int = 0x000ABD00,
        rng: random.Random | None = None,
    ) -> None:
        self.min_poll_period = min_poll_period
        self.numeric_period = numeric_period
        self.mtu = mtu
        self.mds_resend_interval = mds_resend_interval
        self.mds_attempts = mds_attempts
        self.association_timeout_override = association_timeout
        self.co2_compound = co2_compound
        #: Unix time at simulator time 0 (the monitor's wall clock, sent as UTC).
        self.epoch = time.time() if epoch is None else epoch
        #: The monitor's RelativeTime at simulator time 0; the default makes the first MDS Create
        #: Event carry 0x000ABD00, the event time of protocols.md's computed MDS-create result.
        self.rel_start_ticks = rel_start_ticks
        self.faults: set[Fault] = set()
        self.reader = RequestReader()
        self.association: _Association | None = None
        self.last_client_message: float | None = None
        self._next_invoke_id = 1
        self._rng = rng or random.Random(0)
        # What happened, for the tests.
        self.requests: list[str] = []
        self.forbidden: list[str] = []
        self.associations = 0
        self.refusals = 0
        self.aborts = 0
        self.releases = 0
        self.mds_create_results = 0
        self.frames_sent = 0
        self.linked_replies = 0

    # -- Emulator protocol -------------------------------------------------------------------

    def reset_link(self) -> None:
        """A new cable: no half frame left over."""
        self.reader.reset()

    def receive(self, data: bytes, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        out: list[bytes] = []
        for user_data in self.reader.feed(data):
            message = parse_client_message(user_data)
            if message is None:
                self.reader.bad_frames += 1
                continue
            self.last_client_message = t
            self.requests.append(message.kind)
            if message.kind not in READ_ONLY_KINDS:
                self.forbidden.append(message.kind)
            out += self._handle(message, t, vitals)
        return self._send(out)

    def transmit(self, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        association = self.association
        if association is None:
            return b""
        out: list[bytes] = []
        since = self.last_client_message if self.last_client_message is not None else t
        if t - since > self.association_timeout(association.min_poll_period):
            out.append(self._abort())  # §9: no client message within the time-out
        elif Fault.ABORT in self.faults and association.operating:
            out.append(self._abort())
        elif not association.operating:
            if t >= association.mds_sent_at + self.mds_resend_interval:
                if association.mds_attempts >= self.mds_attempts:
                    out.append(self._abort())  # §9: never answered
                else:
                    association.mds_attempts += 1
                    association.mds_sent_at = t
                    out.append(self._mds_create(association.mds_invoke_id, t))
        else:
            for key, poll in list(association.periodic.items()):
                if t < poll.next_at:
                    continue
                if poll.next_at > poll.until:
                    del association.periodic[key]
                    continue
                header = PollHeader(
                    poll.invoke_id,
                    True,
                    poll.poll_number,
                    poll.sequence_no,
                    self.ticks(t),
                    self.wall(t),
                    poll.obj_class,
                    poll.attr_group,
                )
                out += self._poll_reply(header, t, vitals, association.mtu)
                poll.sequence_no = (poll.sequence_no + 1) & 0xFFFF
                poll.next_at += self.numeric_period
                if poll.next_at <= t:
                    poll.next_at = t + self.numeric_period  # after a pause: no burst
        return self._send(out)

    # -- clocks ------------------------------------------------------------------------------

    def ticks(self, t: float) -> int:
        return (self.rel_start_ticks + round(t * TICKS)) & 0xFFFFFFFF

    def wall(self, t: float) -> datetime:
        return datetime.fromtimestamp(self.epoch + t, UTC).replace(tzinfo=None)

    def association_timeout(self, min_poll_period: float) -> float:
        if self.association_timeout_override is not None:
            return self.association_timeout_override
        if min_poll_period < 3.3:
            return 10.0
        return 3.0 * min_poll_period if min_poll_period <= 43.0 else 130.0

    @property
    def demo(self) -> bool:
        return Fault.DEMO_MODE in self.faults

    # -- requests ----------------------------------------------------------------------------

    def _handle(self, message: ClientMessage, t: float, vitals: Vitals) -> list[bytes]:
        association = self.association
        kind = message.kind
        if kind == "association_request":
            if (
                association is not None
                or Fault.REFUSE in self.faults
                or not message.system_type & SYST_CLIENT
            ):
                self.refusals += 1
                return [REFUSE]
            return self._associate(message, t)
        if kind == "release_request":
            if association is None:
                return []
            self.association = None
            self.releases += 1
            return [RELEASE_RESULT]
        if kind == "abort":
            self.association = None
            return []
        if association is None:
            return []  # no association: Data Export commands are not answered
        if kind == "mds_create_result":
            self.mds_create_results += 1
            association.operating = True
            return []
        if not association.operating:
            return []  # §9: polls before the MDS Create Event Result may be ignored
        if kind in ("single_poll", "extended_poll"):
            return self._poll(message, t, vitals, association)
        if kind in ("get", "set", "action", "event_report"):
            error = ACCESS_DENIED if kind == "set" else NO_SUCH_ACTION
            return [remote_error(message.invoke_id, error)]
        return []

    def _associate(self, request: ClientMessage, t: float) -> list[bytes]:
        period = max(request.min_poll_ticks, round(self.min_poll_period * TICKS))
        mtu_rx = min(request.mtu_rx, self.mtu)
        mtu_tx = min(request.mtu_tx, RS232_MAX_MTU)
        ext = POLL_EXT_PERIOD_NU_1SEC | (request.ext_options & POLL_EXT_PERIOD_RTSA)
        invoke_id = self._next_invoke_id
        self._next_invoke_id = (invoke_id % 0xFFFF) + 1
        self.association = _Association(period / TICKS, mtu_rx, invoke_id, t)
        self.associations += 1
        return [association_result(period, mtu_rx, mtu_tx, ext), self._mds_create(invoke_id, t)]

    def _mds_create(self, invoke_id: int, t: float) -> bytes:
        return mds_create_event(invoke_id, self.ticks(t), self.wall(t), self.demo)

    def _abort(self) -> bytes:
        self.association = None
        self.aborts += 1
        return ABORT

    def _poll(
        self, request: ClientMessage, t: float, vitals: Vitals, association: _Association
    ) -> list[bytes]:
        extended = request.kind == "extended_poll"
        header = PollHeader(
            request.invoke_id,
            extended,
            request.poll_number,
            0,  # §9: the extended poll is confirmed with sequence_no 0
            self.ticks(t),
            self.wall(t),
            request.obj_class,
            request.attr_group,
        )
        out = self._poll_reply(header, t, vitals, association.mtu)
        if extended and request.period_ticks:
            key = (request.obj_class, request.attr_group)
            association.periodic[key] = _PeriodicPoll(
                request.invoke_id,
                request.poll_number,
                request.obj_class,
                request.attr_group,
                until=t + request.period_ticks / TICKS,
                next_at=t + self.numeric_period,
            )
        return out

    def _poll_reply(self, header: PollHeader, t: float, vitals: Vitals, mtu: int) -> list[bytes]:
        if header.obj_class == NOM_MOC_VMO_METRIC_NU:
            observations = self.numerics(t, vitals)
        elif header.obj_class == NOM_MOC_VMS_MDS:
            observations = [_u16(0) + mds_attributes(self.wall(t), self.ticks(t), self.demo)]
        else:
            observations = []  # alert monitor, waves ...: nothing emulated
        replies = split_poll_result(header, observations, mtu)
        if len(replies) > 1:
            self.linked_replies += 1
        return replies

    # -- the numerics ------------------------------------------------------------------------

    def numerics(self, t: float, vitals: Vitals) -> list[bytes]:
        """One ObservationPoll per Numeric object, values from ``vitals``."""
        demo = DEMO_DATA if self.demo else 0
        now = (self.wall(t), self.ticks(t))

        def state(value: float | None, bad: bool = False) -> int:
            if bad:
                return INVALID | demo
            return (UNAVAILABLE if value is None else 0) | demo

        sensor_bad = vitals.sensor_off or vitals.no_sensor
        spo2 = 300.0 if Fault.ABSURD_VALUE in self.faults else vitals.spo2
        spo2 = None if sensor_bad else spo2
        pulse = None if sensor_bad else vitals.pulse_rate
        objects = [
            numeric_object(0x0101, HR, "HR", [(HR, BPM, vitals.hr, state(vitals.hr))], stamp=now),
            numeric_object(
                0x0102, PULSE, "Pulse", [(PULSE, BPM, pulse, state(pulse, sensor_bad))], stamp=now
            ),
            numeric_object(
                0x0103, SPO2, "SpO2", [(SPO2, PERCENT, spo2, state(spo2, sensor_bad))], stamp=now
            ),
            self._nibp(t, vitals, demo),
            numeric_object(
                0x0105,
                RR_IMPEDANCE,
                "RR",
                [(RR_IMPEDANCE, RPM, vitals.resp_rate, state(vitals.resp_rate))],
                stamp=now,
            ),
            numeric_object(
                0x0106,
                RR_AIRWAY,
                "awRR",
                [(RR_AIRWAY, RPM, vitals.resp_rate, state(vitals.resp_rate))],
                stamp=now,
            ),
        ]
        et, fi = vitals.etco2_mmhg, vitals.fico2_mmhg
        if self.co2_compound:
            members = [(ETCO2, MMHG, et, state(et)), (FICO2, MMHG, fi, state(fi))]
            objects.append(numeric_object(0x0107, CO2, "CO2", members, stamp=now))
        else:
            objects.append(
                numeric_object(0x0107, ETCO2, "etCO2", [(ETCO2, MMHG, et, state(et))], stamp=now)
            )
            objects.append(
                numeric_object(0x0109, FICO2, "imCO2", [(FICO2, MMHG, fi, state(fi))], stamp=now)
            )
        if vitals.temp_c is not None:
            members = [(TEMP, DEGC, vitals.temp_c, state(vitals.temp_c))]
            objects.append(numeric_object(0x0108, TEMP, "Temp", members, stamp=now))
        return objects

    def _nibp(self, t: float, vitals: Vitals, demo: int) -> bytes:
        values: tuple[float | None, float | None, float | None] = (None, None, None)
        if vitals.nibp is not None:
            values = vitals.nibp
        bits = demo
        if vitals.nibp is None:
            bits |= UNAVAILABLE
        if vitals.nibp_failed:
            bits |= INVALID
        if vitals.nibp_measuring:
            bits |= MSMT_ONGOING
        stamp = None
        if vitals.nibp_at is not None:
            stamp = (self.wall(vitals.nibp_at), self.ticks(vitals.nibp_at))
        members = [
            (pid, MMHG, value, bits)
            for pid, value in zip((NIBP_SYS, NIBP_DIA, NIBP_MEAN), values, strict=True)
        ]
        return numeric_object(0x0104, NIBP, "NBP", members, stamp=stamp)

    # -- faults on the way out ---------------------------------------------------------------

    def _send(self, messages: list[bytes]) -> bytes:
        if not messages or Fault.SILENCE in self.faults:
            return b""
        out = bytearray()
        for user_data in messages:
            wire = frame(
                user_data,
                bad_fcs=Fault.BAD_CHECKSUM in self.faults,
                wrong_length=Fault.WRONG_LENGTH in self.faults,
            )
            if Fault.MID_FRAME in self.faults:
                self.faults.discard(Fault.MID_FRAME)
                wire = wire[len(wire) // 2 :]
            if Fault.GARBAGE in self.faults:
                out += self._rng.randbytes(self._rng.randrange(1, 40))
            out += wire
            self.frames_sent += 1
        return bytes(out)
