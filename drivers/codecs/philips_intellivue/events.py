"""Philips IntelliVue Data Export: the messages as frozen events (one per message).

Decoded by ``pdu``; the client's are built by ``encode``. ``MessageKind``
names what a message is, for allow-lists (the handler may send only a few kinds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from drivers.codecs.philips_intellivue.nom import (
    NOM_MOC_VMS_MDS,
    TICKS_PER_SECOND,
    FloatSpecial,
    MeasurementState,
)


@dataclass(frozen=True, slots=True)
class PollProfile:
    """PollProfileSupport (+ PollProfileExt options) from an association request or result."""

    revision: int
    min_poll_period: int  # RelativeTime ticks (1/8 ms)
    max_mtu_rx: int
    max_mtu_tx: int
    max_bw_tx: int
    options: int
    ext_options: int | None

    @property
    def min_poll_period_s(self) -> float:
        return self.min_poll_period / TICKS_PER_SECOND


@dataclass(frozen=True, slots=True)
class UserInfo:
    """MDSEUserInfoStd."""

    protocol_version: int
    nomenclature_version: int
    functional_units: int
    system_type: int
    startup_mode: int
    poll_profile: PollProfile | None


@dataclass(frozen=True, slots=True)
class AssociationRequest:
    user_info: UserInfo | None


@dataclass(frozen=True, slots=True)
class AssociationAccepted:
    """The Association Result. ``user_info`` is None if its user data could not be found."""

    user_info: UserInfo | None


@dataclass(frozen=True, slots=True)
class AssociationRefused:
    pass


@dataclass(frozen=True, slots=True)
class AssociationAborted:
    pass


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    pass


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    pass


@dataclass(frozen=True, slots=True)
class ManagedObject:
    obj_class: int
    context_id: int
    handle: int


MDS_OBJECT = ManagedObject(NOM_MOC_VMS_MDS, 0, 0)


@dataclass(frozen=True, slots=True)
class MdsCreateEvent:
    """NOM_NOTI_MDS_CREAT: the client must answer every one with ``mds_create_result_pdu``."""

    invoke_id: int
    managed_object: ManagedObject
    event_time: int  # RelativeTime
    abs_time: datetime | None  # NOM_ATTR_TIME_ABS: the monitor's clock ...
    rel_time: int | None  # ... and NOM_ATTR_TIME_REL at the same instant
    operating_mode: int | None  # NOM_ATTR_MODE_OP (0x2000 = demo)


@dataclass(frozen=True, slots=True)
class EventReport:
    """Any other event report (Vigil answers none)."""

    invoke_id: int
    confirmed: bool
    event_type: int


@dataclass(frozen=True, slots=True)
class MdsCreateResult:
    """The client's answer to an MDS Create Event (decoded for checks and for the tests)."""

    invoke_id: int
    managed_object: ManagedObject
    current_time: int
    event_type: int


@dataclass(frozen=True, slots=True)
class PollRequest:
    """A single (``period`` None, not extended) or extended poll request from the client."""

    invoke_id: int
    extended: bool
    poll_number: int
    partition: int
    obj_class: int
    attr_group: int
    period: int | None  # NOM_ATTR_TIME_PD_POLL in ticks


@dataclass(frozen=True, slots=True)
class OtherRequest:
    """Any other invoke (GET, SET, an action that is not a poll): never sent by Vigil."""

    invoke_id: int
    command: int
    action_type: int | None


@dataclass(frozen=True, slots=True)
class NumericValue:
    """NuObsValue. ``value`` is None exactly when ``special`` is set (NaN, NRes, ±INF)."""

    physio_id: int
    state: MeasurementState
    unit: int
    value: float | None
    special: FloatSpecial | None


@dataclass(frozen=True, slots=True)
class Observation:
    """One ObservationPoll: a monitor object (a Numeric, the MDS) and the attributes Vigil reads."""

    context_id: int
    handle: int
    #: NuObsValue, or the members of a compound value (NIBP sys/dia/mean; CO2 et/insp).
    numerics: tuple[NumericValue, ...] = ()
    compound: bool = False
    type_code: int | None = None  # NOM_ATTR_ID_TYPE code
    label: int | None = None  # NOM_ATTR_ID_LABEL TextId
    label_string: str | None = None
    abs_time: datetime | None = None  # NOM_ATTR_TIME_STAMP_ABS / NOM_ATTR_TIME_ABS
    rel_time: int | None = None  # NOM_ATTR_TIME_STAMP_REL / NOM_ATTR_TIME_REL
    operating_mode: int | None = None


@dataclass(frozen=True, slots=True)
class PollReply:
    """PollMdibDataReply(Ext), reassembled when it came as linked results (``parts`` > 1)."""

    invoke_id: int
    extended: bool
    poll_number: int
    sequence_no: int | None
    rel_time: int
    abs_time: datetime | None
    partition: int
    obj_class: int
    attr_group: int
    observations: tuple[Observation, ...]
    parts: int = 1


@dataclass(frozen=True, slots=True)
class LinkedPart:
    """One ROLRS part; the codec collects them into one ``PollReply``."""

    state: int
    count: int
    reply: PollReply


@dataclass(frozen=True, slots=True)
class RemoteError:
    invoke_id: int
    error_value: int


@dataclass(frozen=True, slots=True)
class OtherResult:
    """A result Vigil does not use (GET/SET results, actions that are not polls)."""

    invoke_id: int
    command: int
    linked_state: int | None = None


IntellivueMessage = (
    AssociationRequest
    | AssociationAccepted
    | AssociationRefused
    | AssociationAborted
    | ReleaseRequest
    | ReleaseResult
    | MdsCreateEvent
    | EventReport
    | MdsCreateResult
    | PollRequest
    | OtherRequest
    | PollReply
    | LinkedPart
    | RemoteError
    | OtherResult
)


class MessageKind(StrEnum):
    """What a message is, for allow-lists: the handler may send only a few of these."""

    ASSOCIATION_REQUEST = "association_request"
    ASSOCIATION_RESULT = "association_result"
    REFUSE = "refuse"
    ABORT = "abort"
    RELEASE_REQUEST = "release_request"
    RELEASE_RESULT = "release_result"
    MDS_CREATE_EVENT = "mds_create_event"
    EVENT_REPORT = "event_report"
    MDS_CREATE_RESULT = "mds_create_result"
    SINGLE_POLL = "single_poll"
    EXTENDED_POLL = "extended_poll"
    OTHER_REQUEST = "other_request"  # GET, SET, any other action: changes or probes the monitor
    POLL_RESULT = "poll_result"
    ERROR = "error"
    OTHER_RESULT = "other_result"


_KINDS: dict[type, MessageKind] = {
    AssociationRequest: MessageKind.ASSOCIATION_REQUEST,
    AssociationAccepted: MessageKind.ASSOCIATION_RESULT,
    AssociationRefused: MessageKind.REFUSE,
    AssociationAborted: MessageKind.ABORT,
    ReleaseRequest: MessageKind.RELEASE_REQUEST,
    ReleaseResult: MessageKind.RELEASE_RESULT,
    MdsCreateEvent: MessageKind.MDS_CREATE_EVENT,
    EventReport: MessageKind.EVENT_REPORT,
    MdsCreateResult: MessageKind.MDS_CREATE_RESULT,
    OtherRequest: MessageKind.OTHER_REQUEST,
    PollReply: MessageKind.POLL_RESULT,
    LinkedPart: MessageKind.POLL_RESULT,
    RemoteError: MessageKind.ERROR,
    OtherResult: MessageKind.OTHER_RESULT,
}


def message_kind(message: IntellivueMessage) -> MessageKind:
    if isinstance(message, PollRequest):
        return MessageKind.EXTENDED_POLL if message.extended else MessageKind.SINGLE_POLL
    return _KINDS[type(message)]
