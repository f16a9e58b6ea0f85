"""Philips IntelliVue Data Export: the messages inside a frame's user data (sans-I/O).

Two families share the user data (the guide; reference/protocols.md §1):

* **association control** — the first byte is a session header (``0D`` request, ``0E`` result,
  ``0C`` refuse, ``09`` release request, ``0A`` release result, ``19`` abort), then a length
  indicator (one byte, or ``FF`` and two bytes), fixed session and presentation bytes, and for
  request and result the ``MDSEUserInfoStd`` with the poll profile;
* **Data Export commands** — ``SPpdu`` (``E1 00``, context id) | ``ROapdus`` (type, length) |
  the remote operation (invoke, result, linked result, error) | the command.

Everything is big-endian. ``decode_user_data`` turns one user data block into one event
(``events``) and raises ``ProtocolError`` for anything malformed (every length field
is checked against the bytes actually present); ``encode`` builds what the client
sends. Linked results are reassembled one level up, in ``codec``.
"""

from __future__ import annotations

import struct
from datetime import datetime

from drivers.codecs.philips_intellivue.events import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRefused,
    AssociationRequest,
    EventReport,
    IntellivueMessage,
    LinkedPart,
    ManagedObject,
    MdsCreateEvent,
    MdsCreateResult,
    NumericValue,
    Observation,
    OtherRequest,
    OtherResult,
    PollProfile,
    PollReply,
    PollRequest,
    ReleaseRequest,
    ReleaseResult,
    RemoteError,
    UserInfo,
)
from drivers.codecs.philips_intellivue.nom import (
    NOM_ACT_POLL_MDIB_DATA,
    NOM_ACT_POLL_MDIB_DATA_EXT,
    NOM_ATTR_ID_LABEL,
    NOM_ATTR_ID_LABEL_STRING,
    NOM_ATTR_ID_TYPE,
    NOM_ATTR_MODE_OP,
    NOM_ATTR_NU_CMPD_VAL_OBS,
    NOM_ATTR_NU_VAL_OBS,
    NOM_ATTR_POLL_PROFILE_EXT,
    NOM_ATTR_TIME_ABS,
    NOM_ATTR_TIME_PD_POLL,
    NOM_ATTR_TIME_REL,
    NOM_ATTR_TIME_STAMP_ABS,
    NOM_ATTR_TIME_STAMP_REL,
    NOM_NOTI_MDS_CREAT,
    NOM_POLL_PROFILE_SUPPORT,
    SESSION_ID,
    Command,
    FloatSpecial,
    LinkedState,
    MeasurementState,
    RoType,
    SessionType,
    decode_absolute_time,
    decode_float,
)
from drivers.errors import ProtocolError

# --- fixed association bytes (the guide's Association Control Protocol definition) -----------

#: Session data of request and result: the same 14 bytes in every public implementation.
SESSION_DATA = bytes.fromhex("0508130100160102800014020002")
#: The presentation header of the Association Request after ``C1 LI``: BER with indefinite
#: lengths, ending in the user-information EXTERNAL ``BE 80 28 80 06 0C <oid> 02 01 02 81``
#: (VSCaptureMP ``aarq_msg``, PERSEUS ``AssocReqPresentationHead2``, mindleaving).
AARQ_PRESENTATION = bytes.fromhex(
    "3180a0808001010000a280a003000001a4803080020101060452010001308006025101000000003080020102"
    "060c2a8648ce14020100000001013080060c2a8648ce140201000000020100000000000061803080020101a0"
    "806080a180060c2a8648ce14020100000003010000be802880060c2a8648ce140201000000010102010281"
)
#: Sixteen zero bytes close the indefinite-length encodings of request and result.
PRESENTATION_TRAILER = bytes(16)
#: Release Request, complete (VSCaptureMP ``rlrq_msg``; FN_SPDU, presentation, trailer).
RELEASE_REQUEST = bytes.fromhex("0918c11661803080020101a08062808001000000000000000000")
#: Where the MDSEUserInfoStd starts in request and result: after the EXTERNAL's header and its
#: ``indirect-reference 2`` + ``[1] single-ASN1-type`` tag (PERSEUS searches the same bytes).
_EXTERNAL = b"\xbe\x80\x28\x80"
_USER_INFO_TAG = b"\x02\x01\x02\x81"

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U16_PAIR = struct.Struct(">HH")
_NU_OBS = struct.Struct(">HHHI")
_SPPDU_RO = struct.Struct(">HHHH")  # session_id, p_context_id, ro_type, length
_MANAGED_OBJECT = struct.Struct(">HHH")  # class, context id, handle


# --- a bounds-checked reader -------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def left(self) -> int:
        return self.end - self.pos

    def _need(self, size: int, what: str) -> int:
        at = self.pos
        if self.end - at < size:
            raise ProtocolError(f"{what}: needs {size} bytes, {self.end - at} left")
        self.pos = at + size
        return at

    def u16(self, what: str) -> int:
        value: int = _U16.unpack_from(self.data, self._need(2, what))[0]
        return value

    def u32(self, what: str) -> int:
        value: int = _U32.unpack_from(self.data, self._need(4, what))[0]
        return value

    def take(self, size: int, what: str) -> bytes:
        at = self._need(size, what)
        return self.data[at : at + size]

    def sub(self, size: int, what: str) -> _Reader:
        """A reader over the next ``size`` bytes; this one skips past them."""
        at = self._need(size, what)
        return _Reader(self.data, at, at + size)

    def length_block(self, what: str) -> _Reader:
        """A u16 length field, which must cover exactly the rest of this reader."""
        length = self.u16(what)
        if length != self.left:
            raise ProtocolError(f"{what} length {length}, {self.left} bytes follow")
        return self.sub(length, what)

    def managed_object(self) -> ManagedObject:
        at = self._need(6, "managed object")
        return ManagedObject(*_MANAGED_OBJECT.unpack_from(self.data, at))

    def done(self, what: str) -> None:
        if self.pos != self.end:
            raise ProtocolError(f"{what}: {self.end - self.pos} unexpected trailing bytes")


def _attributes(reader: _Reader, what: str) -> list[tuple[int, _Reader]]:
    """An AttributeList {count, length, AVA[count]}: (attribute id, reader over its value).

    The hot path of every poll reply, hence the direct offsets instead of ``_Reader`` calls.
    """
    data = reader.data
    count, length = _U16_PAIR.unpack_from(data, reader._need(4, what))
    pos = reader._need(length, what)
    end = pos + length
    found = []
    for _ in range(count):
        if end - pos < 4:
            raise ProtocolError(f"{what}: attribute header past the list end")
        attribute_id, size = _U16_PAIR.unpack_from(data, pos)
        pos += 4
        if end - pos < size:
            raise ProtocolError(f"attribute {attribute_id:#06x} of {size} bytes past the list end")
        found.append((attribute_id, _Reader(data, pos, pos + size)))
        pos += size
    if pos != end:
        raise ProtocolError(f"{what}: {end - pos} bytes after {count} attributes")
    return found


# --- association control ------------------------------------------------------------------------


def _length_indicator(data: bytes, at: int) -> tuple[int, int]:
    """The guide's LI: one byte up to 254, else FF and two bytes. (length, next offset)."""
    if at >= len(data):
        raise ProtocolError("missing length indicator")
    if data[at] != 0xFF:
        return data[at], at + 1
    if at + 3 > len(data):
        raise ProtocolError("truncated length indicator")
    return _U16.unpack_from(data, at + 1)[0], at + 3


def _asn_length(data: bytes, at: int) -> tuple[int, int]:
    """BER definite length: short form, or 0x81/0x82 and one or two bytes."""
    if at >= len(data):
        raise ProtocolError("missing ASN.1 length")
    first = data[at]
    if first < 0x80:
        return first, at + 1
    size = first & 0x7F
    if size not in (1, 2) or at + 1 + size > len(data):
        raise ProtocolError(f"unsupported ASN.1 length {first:#04x}")
    return int.from_bytes(data[at + 1 : at + 1 + size], "big"), at + 1 + size


def _user_info(data: bytes) -> UserInfo | None:
    external = data.find(_EXTERNAL)
    if external < 0:
        return None
    tag = data.find(_USER_INFO_TAG, external)
    if tag < 0:
        return None
    length, at = _asn_length(data, tag + len(_USER_INFO_TAG))
    if at + length > len(data):
        raise ProtocolError(f"user information of {length} bytes runs past the message")
    reader = _Reader(data, at, at + length)
    version, nomenclature, units, system, startup = (reader.u32("MDSEUserInfoStd") for _ in "12345")
    _attributes(reader, "option_list")
    profile = None
    for attribute_id, value in _attributes(reader, "supported_aprofiles"):
        if attribute_id == NOM_POLL_PROFILE_SUPPORT and profile is None:
            profile = _poll_profile(value)
    reader.done("MDSEUserInfoStd")
    return UserInfo(version, nomenclature, units, system, startup, profile)


def _poll_profile(reader: _Reader) -> PollProfile:
    revision, period, mtu_rx, mtu_tx, bandwidth, options = (
        reader.u32("PollProfileSupport") for _ in "123456"
    )
    ext_options = None
    for attribute_id, value in _attributes(reader, "optional_packages"):
        if attribute_id == NOM_ATTR_POLL_PROFILE_EXT and ext_options is None:
            ext_options = value.u32("PollProfileExt")
            _attributes(value, "ext_attr")
            value.done("PollProfileExt")
    reader.done("PollProfileSupport")
    return PollProfile(revision, period, mtu_rx, mtu_tx, bandwidth, options, ext_options)


def _association(data: bytes) -> IntellivueMessage:
    length, at = _length_indicator(data, 1)
    if length != len(data) - at:
        raise ProtocolError(f"length indicator {length}, {len(data) - at} bytes follow")
    kind = data[0]
    if kind == SessionType.ACCEPT:
        return AssociationAccepted(_user_info(data))
    if kind == SessionType.CONNECT:
        return AssociationRequest(_user_info(data))
    if kind == SessionType.REFUSE:
        return AssociationRefused()
    if kind == SessionType.ABORT:
        return AssociationAborted()
    if kind == SessionType.FINISH:
        return ReleaseRequest()
    return ReleaseResult()  # DISCONNECT, the only session type left


# --- Data Export commands -----------------------------------------------------------------------


def _numeric(raw: bytes) -> NumericValue:
    physio_id, state, unit, float_raw = _NU_OBS.unpack(raw)
    value = decode_float(float_raw)
    if isinstance(value, FloatSpecial):
        return NumericValue(physio_id, MeasurementState(state), unit, None, value)
    return NumericValue(physio_id, MeasurementState(state), unit, value, None)


def _observation(context_id: int, handle: int, reader: _Reader) -> Observation:
    """An AttributeList read into an ``Observation`` (unknown attributes are skipped)."""
    numerics: tuple[NumericValue, ...] = ()
    compound = False
    type_code: int | None = None
    label: int | None = None
    rel_time: int | None = None
    operating_mode: int | None = None
    label_string: str | None = None
    abs_time: datetime | None = None
    for attribute_id, value in _attributes(reader, "observation attributes"):
        if attribute_id == NOM_ATTR_NU_VAL_OBS:
            numerics = (_numeric(value.take(_NU_OBS.size, "NuObsValue")),)
            value.done("NuObsValue")
        elif attribute_id == NOM_ATTR_NU_CMPD_VAL_OBS:
            count = value.u16("NuObsValueCmp")
            block = value.length_block("NuObsValueCmp")
            if block.left != count * _NU_OBS.size:
                raise ProtocolError(f"compound value of {count} members in {block.left} bytes")
            numerics = tuple(_numeric(block.take(_NU_OBS.size, "NuObsValue")) for _ in range(count))
            compound = True
        elif attribute_id == NOM_ATTR_ID_TYPE:
            value.u16("TYPE")
            type_code = value.u16("TYPE")
        elif attribute_id == NOM_ATTR_ID_LABEL:
            label = value.u32("TextId")
        elif attribute_id == NOM_ATTR_ID_LABEL_STRING:
            size = value.u16("String")
            text = value.take(size, "String").decode("utf-16-be", errors="replace")
            label_string = text.rstrip("\x00")
        elif attribute_id in (NOM_ATTR_TIME_STAMP_ABS, NOM_ATTR_TIME_ABS):
            abs_time = decode_absolute_time(value.take(8, "AbsoluteTime"))
        elif attribute_id in (NOM_ATTR_TIME_STAMP_REL, NOM_ATTR_TIME_REL):
            rel_time = value.u32("RelativeTime")
        elif attribute_id == NOM_ATTR_MODE_OP:
            operating_mode = value.u16("OperatingMode")
        # The guide: ignore unknown attributes.
    return Observation(
        context_id,
        handle,
        numerics,
        compound,
        type_code,
        label,
        label_string,
        abs_time,
        rel_time,
        operating_mode,
    )


def _poll_reply(invoke_id: int, reader: _Reader, extended: bool) -> PollReply:
    poll_number = reader.u16("poll reply")
    sequence_no = reader.u16("poll reply") if extended else None
    rel_time = reader.u32("poll reply")
    abs_time = decode_absolute_time(reader.take(8, "poll reply"))
    partition = reader.u16("poll reply")
    obj_class = reader.u16("poll reply")
    attr_group = reader.u16("poll reply")
    contexts = reader.u16("PollInfoList")
    block = reader.sub(reader.u16("PollInfoList"), "PollInfoList")
    observations: list[Observation] = []
    for _ in range(contexts):
        context_id = block.u16("SingleContextPoll")
        count = block.u16("SingleContextPoll")
        polls = block.sub(block.u16("SingleContextPoll"), "poll_info")
        for _ in range(count):
            observations.append(_observation(context_id, polls.u16("ObservationPoll"), polls))
        polls.done("poll_info")
    block.done("PollInfoList")
    reader.done("poll reply")
    return PollReply(
        invoke_id,
        extended,
        poll_number,
        sequence_no,
        rel_time,
        abs_time,
        partition,
        obj_class,
        attr_group,
        tuple(observations),
    )


def _result(reader: _Reader, linked: tuple[int, int] | None) -> IntellivueMessage:
    invoke_id = reader.u16("RORSapdu")
    command = reader.u16("RORSapdu")
    body = reader.length_block("RORSapdu")
    linked_state = None if linked is None else linked[0]
    if command == Command.CONFIRMED_ACTION:
        body.managed_object()
        action_type = body.u16("ActionResult")
        data = body.length_block("ActionResult")
        if action_type in (NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT):
            reply = _poll_reply(invoke_id, data, action_type == NOM_ACT_POLL_MDIB_DATA_EXT)
            if linked is None:
                return reply
            return LinkedPart(linked[0], linked[1], reply)
    elif command == Command.CONFIRMED_EVENT_REPORT and linked is None:
        managed_object = body.managed_object()
        current_time = body.u32("EventReportResult")
        event_type = body.u16("EventReportResult")
        body.length_block("EventReportResult")
        if event_type == NOM_NOTI_MDS_CREAT:
            return MdsCreateResult(invoke_id, managed_object, current_time, event_type)
    return OtherResult(invoke_id, command, linked_state)


def _invoke(reader: _Reader) -> IntellivueMessage:
    invoke_id = reader.u16("ROIVapdu")
    command = reader.u16("ROIVapdu")
    body = reader.length_block("ROIVapdu")
    if command in (Command.EVENT_REPORT, Command.CONFIRMED_EVENT_REPORT):
        managed_object = body.managed_object()
        event_time = body.u32("EventReportArgument")
        event_type = body.u16("EventReportArgument")
        data = body.length_block("EventReportArgument")
        if event_type != NOM_NOTI_MDS_CREAT:
            confirmed = command == Command.CONFIRMED_EVENT_REPORT
            return EventReport(invoke_id, confirmed, event_type)
        mds_object = data.managed_object()  # MDSCreateInfo: the MDS and its attributes
        mds = _observation(mds_object.context_id, mds_object.handle, data)
        data.done("MDSCreateInfo")
        return MdsCreateEvent(
            invoke_id, managed_object, event_time, mds.abs_time, mds.rel_time, mds.operating_mode
        )
    if command == Command.CONFIRMED_ACTION:
        body.managed_object()
        body.u32("ActionArgument scope")
        action_type = body.u16("ActionArgument")
        data = body.length_block("ActionArgument")
        if action_type in (NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT):
            extended = action_type == NOM_ACT_POLL_MDIB_DATA_EXT
            poll_number = data.u16("poll request")
            partition, obj_class, attr_group = (data.u16("poll request") for _ in range(3))
            period = None
            if extended:
                for attribute_id, value in _attributes(data, "poll_ext_attr"):
                    if attribute_id == NOM_ATTR_TIME_PD_POLL:
                        period = value.u32("PollDataReqPeriod")
            data.done("poll request")
            return PollRequest(
                invoke_id, extended, poll_number, partition, obj_class, attr_group, period
            )
        return OtherRequest(invoke_id, command, action_type)
    return OtherRequest(invoke_id, command, None)


def decode_user_data(data: bytes) -> IntellivueMessage:
    """Decode one frame's user data. Raises ``ProtocolError``."""
    if not data:
        raise ProtocolError("empty user data")
    try:
        if data[0] != SessionType.DATA_EXPORT:
            if data[0] not in SessionType._value2member_map_:
                raise ProtocolError(f"unknown session header {data[0]:#04x}")
            return _association(data)
        if len(data) < _SPPDU_RO.size:
            raise ProtocolError(f"Data Export message of {len(data)} bytes")
        session_id, _context, ro_type, length = _SPPDU_RO.unpack_from(data)
        if session_id != SESSION_ID:
            raise ProtocolError(f"session id {session_id:#06x}, not 0xE100")
        if length != len(data) - _SPPDU_RO.size:
            raise ProtocolError(f"ROapdus length {length}, {len(data) - 8} bytes follow")
        reader = _Reader(data, _SPPDU_RO.size)
        if ro_type == RoType.INVOKE:
            return _invoke(reader)
        if ro_type == RoType.RESULT:
            return _result(reader, None)
        if ro_type == RoType.LINKED_RESULT:
            state, count = reader.take(2, "RorlsId")
            if state not in LinkedState._value2member_map_:
                raise ProtocolError(f"linked result state {state}")
            return _result(reader, (state, count))
        if ro_type == RoType.ERROR:
            invoke_id = reader.u16("ROERapdu")
            error_value = reader.u16("ROERapdu")
            reader.length_block("ROERapdu")
            return RemoteError(invoke_id, error_value)
        raise ProtocolError(f"unknown remote operation type {ro_type}")
    except (struct.error, ValueError) as exc:  # a bound this module failed to check
        raise ProtocolError(f"malformed message: {exc}") from exc
