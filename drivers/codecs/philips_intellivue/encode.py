"""Philips IntelliVue Data Export: what a client sends (association control and polls).

Every function returns one frame's user data; ``codec`` frames it.
The defaults reproduce VSCaptureMP's canned messages byte for byte (golden tests).
"""

from __future__ import annotations

import struct

from drivers.codecs.philips_intellivue.events import MDS_OBJECT, ManagedObject
from drivers.codecs.philips_intellivue.nom import (
    COLD_START,
    MDDL_VERSION1,
    NOM_ACT_POLL_MDIB_DATA,
    NOM_ACT_POLL_MDIB_DATA_EXT,
    NOM_ATTR_POLL_PROFILE_EXT,
    NOM_ATTR_TIME_PD_POLL,
    NOM_MOC_VMO_METRIC_NU,
    NOM_MOC_VMS_MDS,
    NOM_NOTI_MDS_CREAT,
    NOM_PART_OBJ,
    NOM_POLL_PROFILE_SUPPORT,
    NOMEN_VERSION,
    P_CONTEXT_ID,
    P_OPT_DYN_CREATE_OBJECTS,
    P_OPT_DYN_DELETE_OBJECTS,
    POLL_EXT_BIT_26,
    POLL_EXT_PERIOD_NU_1SEC,
    POLL_EXT_PERIOD_RTSA,
    POLL_PROFILE_REV_0,
    SESSION_ID,
    SYST_CLIENT,
    Command,
    RoType,
    SessionType,
)
from drivers.codecs.philips_intellivue.pdu import (
    AARQ_PRESENTATION,
    PRESENTATION_TRAILER,
    RELEASE_REQUEST,
    SESSION_DATA,
)
from drivers.errors import DriverUsageError

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_SPPDU_RO = struct.Struct(">HHHH")  # session_id, p_context_id, ro_type, length
_RO_HEADER = struct.Struct(">HHH")  # invoke_id, command_type, length
_MANAGED_OBJECT = struct.Struct(">HHH")  # class, context id, handle


def _encode_li(length: int) -> bytes:
    """The guide's LI: one byte up to 254, else FF and two bytes."""
    return bytes([length]) if length <= 254 else b"\xff" + _U16.pack(length)


#: What the canned AARQ asks for (VSCaptureMP ``aarq_msg``): min_poll_period 2500 ticks
#: (312.5 ms; the monitor answers with its own minimum if larger), max_mtu_rx 2500 (capped by
#: the monitor to 1000 on RS232), max_mtu_tx 1000, no bandwidth estimate, dynamic objects,
#: extensions 0x8C000000 (real-time numerics, waves, and bit 0x04000000).
AARQ_MIN_POLL_PERIOD = 0x09C4
AARQ_MAX_MTU_RX = 0x09C4
AARQ_MAX_MTU_TX = 0x03E8
AARQ_EXT_OPTIONS = POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA | POLL_EXT_BIT_26


def _attribute(attribute_id: int, value: bytes) -> bytes:
    return _U16.pack(attribute_id) + _U16.pack(len(value)) + value


def _attribute_list(*attributes: bytes) -> bytes:
    body = b"".join(attributes)
    return _U16.pack(len(attributes)) + _U16.pack(len(body)) + body


def association_request_pdu(
    *,
    min_poll_period: int = AARQ_MIN_POLL_PERIOD,
    max_mtu_rx: int = AARQ_MAX_MTU_RX,
    max_mtu_tx: int = AARQ_MAX_MTU_TX,
    ext_options: int = AARQ_EXT_OPTIONS,
    startup_mode: int = COLD_START,
) -> bytes:
    """The Association Request; the defaults give VSCaptureMP's ``aarq_msg`` byte for byte."""
    for name, value in (("min_poll_period", min_poll_period), ("MTU", max_mtu_rx)):
        if not 0 <= value <= 0xFFFFFFFF:
            raise DriverUsageError(f"{name} {value} does not fit a u32")
    ext = _attribute(NOM_ATTR_POLL_PROFILE_EXT, _U32.pack(ext_options) + _attribute_list())
    profile = struct.pack(
        ">6I",
        POLL_PROFILE_REV_0,
        min_poll_period,
        max_mtu_rx,
        max_mtu_tx,
        0xFFFFFFFF,  # max_bw_tx: no estimate
        P_OPT_DYN_CREATE_OBJECTS | P_OPT_DYN_DELETE_OBJECTS,
    ) + _attribute_list(ext)
    user_info = (
        struct.pack(">5I", MDDL_VERSION1, NOMEN_VERSION, 0, SYST_CLIENT, startup_mode)
        + _attribute_list()
        + _attribute_list(_attribute(NOM_POLL_PROFILE_SUPPORT, profile))
    )
    if len(user_info) >= 0x80:
        raise DriverUsageError("user information too long for a one-byte ASN.1 length")
    presentation_body = AARQ_PRESENTATION + bytes([len(user_info)]) + user_info
    presentation_body += PRESENTATION_TRAILER
    presentation = b"\xc1" + _encode_li(len(presentation_body)) + presentation_body
    session_body = SESSION_DATA + presentation
    return bytes([SessionType.CONNECT]) + _encode_li(len(session_body)) + session_body


def release_request_pdu() -> bytes:
    return RELEASE_REQUEST


def _data_export(ro_type: int, body: bytes) -> bytes:
    return _SPPDU_RO.pack(SESSION_ID, P_CONTEXT_ID, ro_type, len(body)) + body


def _check_u16(**values: int) -> None:
    for name, value in values.items():
        if not 0 <= value <= 0xFFFF:
            raise DriverUsageError(f"{name} {value} does not fit a u16")


def mds_create_result_pdu(
    invoke_id: int,
    managed_object: ManagedObject = MDS_OBJECT,
    current_time: int = 0,
    event_type: int = NOM_NOTI_MDS_CREAT,
) -> bytes:
    """RORS / CMD_CONFIRMED_EVENT_REPORT / EventReportResult with no data (the guide)."""
    _check_u16(invoke_id=invoke_id)
    result = (
        _MANAGED_OBJECT.pack(
            managed_object.obj_class, managed_object.context_id, managed_object.handle
        )
        + _U32.pack(current_time & 0xFFFFFFFF)
        + _U16.pack(event_type)
        + _U16.pack(0)
    )
    body = _RO_HEADER.pack(invoke_id, Command.CONFIRMED_EVENT_REPORT, len(result)) + result
    return _data_export(RoType.RESULT, body)


def _action(invoke_id: int, action_type: int, argument: bytes) -> bytes:
    action = (
        _MANAGED_OBJECT.pack(NOM_MOC_VMS_MDS, 0, 0)  # every poll is addressed to the MDS
        + _U32.pack(0)  # scope
        + _U16.pack(action_type)
        + _U16.pack(len(argument))
        + argument
    )
    body = _RO_HEADER.pack(invoke_id, Command.CONFIRMED_ACTION, len(action)) + action
    return _data_export(RoType.INVOKE, body)


def single_poll_pdu(
    invoke_id: int,
    *,
    poll_number: int = 1,
    obj_class: int = NOM_MOC_VMO_METRIC_NU,
    attr_group: int = 0,
) -> bytes:
    """NOM_ACT_POLL_MDIB_DATA for one object class (VSCaptureMP ``poll_request_msg``)."""
    _check_u16(invoke_id=invoke_id, poll_number=poll_number)
    request = struct.pack(">HHHH", poll_number, NOM_PART_OBJ, obj_class, attr_group)
    return _action(invoke_id, NOM_ACT_POLL_MDIB_DATA, request)


def extended_poll_pdu(
    invoke_id: int,
    *,
    poll_number: int = 1,
    obj_class: int = NOM_MOC_VMO_METRIC_NU,
    attr_group: int = 0,
    period: int | None = 240000,
) -> bytes:
    """NOM_ACT_POLL_MDIB_DATA_EXT; ``period`` (ticks) asks for periodic replies for that long.

    The default is VSCaptureMP's ``ext_poll_request_msg5`` (30 s of real-time numerics).
    """
    _check_u16(invoke_id=invoke_id, poll_number=poll_number)
    attributes: tuple[bytes, ...] = ()
    if period is not None:
        if not 0 < period <= 0xFFFFFFFF:
            raise DriverUsageError(f"poll period {period} ticks does not fit a RelativeTime")
        attributes = (_attribute(NOM_ATTR_TIME_PD_POLL, _U32.pack(period)),)
    request = struct.pack(">HHHH", poll_number, NOM_PART_OBJ, obj_class, attr_group)
    return _action(invoke_id, NOM_ACT_POLL_MDIB_DATA_EXT, request + _attribute_list(*attributes))
