"""Philips IntelliVue MP/MX "Data Export" over MIB/RS232 (docs/protocols/philips-intellivue.md).

Sources: Philips *Data Export Interface Programming Guide* 4535 642 59271 (the authority), as
summarised in the team's reference/protocols.md §1, §8 and §9; struct layouts and constants
cross-checked with xeonfusion/VSCaptureMP (``Class2.cs``, ``Class3.cs``), derekmerck/PERSEUS
(``IntellivueDecoder.py``, ``RS232.py``), mindleaving/patient-monitor-datalogger
(``PhilipsIntellivue/``) and mdpnp (``TestFCSOutputStream.java``). Facts only; no code copied.

The codec is one package of six modules; the public names are re-exported here:

* ``frame`` — BOF/EOF framing, transparency, FCS, hunting;
* ``events`` — one frozen event per message, and ``MessageKind``;
* ``pdu`` — decoding association PDUs and Data Export commands;
* ``encode`` — what the client sends;
* ``nom`` — nomenclature, FLOAT-Type, MeasurementState, AbsoluteTime;
* ``codec`` — the streaming ``PhilipsIntellivueCodec`` (linked results joined) and the framed
  client messages (``encode_*``).
"""

from drivers.codecs.philips_intellivue.codec import (
    IntellivueEvent,
    PhilipsIntellivueCodec,
    decode_message,
    encode_association_request,
    encode_extended_poll,
    encode_keep_alive,
    encode_mds_create_result,
    encode_release_request,
    encode_single_poll,
)
from drivers.codecs.philips_intellivue.events import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRefused,
    AssociationRequest,
    EventReport,
    IntellivueMessage,
    ManagedObject,
    MdsCreateEvent,
    MdsCreateResult,
    MessageKind,
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
    message_kind,
)
from drivers.codecs.philips_intellivue.frame import (
    MAX_USER_DATA,
    MAX_WIRE_FRAME,
    decode_frame,
    encode_frame,
    fcs16,
    unwrap,
    wrap,
)
from drivers.codecs.philips_intellivue.nom import (
    TICKS_PER_SECOND,
    FloatSpecial,
    MeasurementState,
    Physio,
    Unit,
    association_timeout,
    decode_absolute_time,
    decode_float,
)

__all__ = [
    "MAX_USER_DATA",
    "MAX_WIRE_FRAME",
    "TICKS_PER_SECOND",
    "AssociationAborted",
    "AssociationAccepted",
    "AssociationRefused",
    "AssociationRequest",
    "EventReport",
    "FloatSpecial",
    "IntellivueEvent",
    "IntellivueMessage",
    "ManagedObject",
    "MdsCreateEvent",
    "MdsCreateResult",
    "MeasurementState",
    "MessageKind",
    "NumericValue",
    "Observation",
    "OtherRequest",
    "OtherResult",
    "PhilipsIntellivueCodec",
    "Physio",
    "PollProfile",
    "PollReply",
    "PollRequest",
    "ReleaseRequest",
    "ReleaseResult",
    "RemoteError",
    "Unit",
    "UserInfo",
    "association_timeout",
    "decode_absolute_time",
    "decode_float",
    "decode_frame",
    "decode_message",
    "encode_association_request",
    "encode_extended_poll",
    "encode_frame",
    "encode_keep_alive",
    "encode_mds_create_result",
    "encode_release_request",
    "encode_single_poll",
    "fcs16",
    "message_kind",
    "unwrap",
    "wrap",
]
