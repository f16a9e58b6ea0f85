"""Philips IntelliVue Data Export: the streaming codec and the framed client messages.

``PhilipsIntellivueCodec`` streams: ``receive(bytes)`` in any chunking, then ``events()`` yields
one frozen event per message, with poll replies that came as linked results (ROLRS first,
not-first-not-last, last, then one RORS) joined into one ``PollReply``. It never raises while
streaming: a corrupt frame, a malformed message or a broken linked sequence is a
``FrameRejected``. The ``encode_*`` functions build the frames a client sends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from drivers.codecs.base import FrameRejected, preview
from drivers.codecs.philips_intellivue.encode import (
    association_request_pdu,
    extended_poll_pdu,
    mds_create_result_pdu,
    release_request_pdu,
    single_poll_pdu,
)
from drivers.codecs.philips_intellivue.events import (
    IntellivueMessage,
    LinkedPart,
    MdsCreateEvent,
    PollReply,
)
from drivers.codecs.philips_intellivue.frame import FrameDecoder, decode_frame, encode_frame
from drivers.codecs.philips_intellivue.nom import (
    NOM_ATTR_GRP_SYS_PROD,
    NOM_MOC_VMO_METRIC_NU,
    NOM_MOC_VMS_MDS,
    TICKS_PER_SECOND,
    LinkedState,
)
from drivers.codecs.philips_intellivue.pdu import decode_user_data
from drivers.errors import ProtocolError

#: Events of the streaming codec: every message except ``LinkedPart`` (joined into a
#: ``PollReply``), plus ``FrameRejected``.
IntellivueEvent = IntellivueMessage | FrameRejected

#: A linked reply longer than this many parts is rejected (a 1000-byte MTU and a full MDIB of
#: numerics need a handful).
MAX_LINKED_PARTS = 64


# --- encoding ------------------------------------------------------------------------------------


def encode_association_request(
    *, min_poll_period: int | None = None, ext_options: int | None = None
) -> bytes:
    """The framed Association Request; the defaults are VSCaptureMP's ``aarq_msg``."""
    kwargs = {}
    if min_poll_period is not None:
        kwargs["min_poll_period"] = min_poll_period
    if ext_options is not None:
        kwargs["ext_options"] = ext_options
    return encode_frame(association_request_pdu(**kwargs))


def encode_release_request() -> bytes:
    return encode_frame(release_request_pdu())


def encode_mds_create_result(event: MdsCreateEvent) -> bytes:
    """The answer to ``event``: its invoke id, object and event time echoed (PERSEUS does too)."""
    return encode_frame(
        mds_create_result_pdu(event.invoke_id, event.managed_object, event.event_time)
    )


def encode_single_poll(
    invoke_id: int, *, poll_number: int = 1, obj_class: int = NOM_MOC_VMO_METRIC_NU
) -> bytes:
    return encode_frame(single_poll_pdu(invoke_id, poll_number=poll_number, obj_class=obj_class))


def encode_keep_alive(invoke_id: int, *, poll_number: int = 1) -> bytes:
    """A single poll of the MDS for the small System Production attribute group.

    With invoke id 1 this is VSCaptureMP's ``keep_alive_msg``; PERSEUS keeps the association
    alive the same way (an MDS single poll).
    """
    return encode_frame(
        single_poll_pdu(
            invoke_id,
            poll_number=poll_number,
            obj_class=NOM_MOC_VMS_MDS,
            attr_group=NOM_ATTR_GRP_SYS_PROD,
        )
    )


def encode_extended_poll(
    invoke_id: int, *, poll_number: int = 1, period_s: float | None = 30.0
) -> bytes:
    """An extended numeric poll; with ``period_s`` the monitor replies every ~1 s for that long."""
    period = None if period_s is None else round(period_s * TICKS_PER_SECOND)
    return encode_frame(extended_poll_pdu(invoke_id, poll_number=poll_number, period=period))


def decode_message(wire: bytes) -> IntellivueMessage:
    """Strict one-shot decode of one whole frame ``C0 … C1``. Raises ``ProtocolError``."""
    if len(wire) < 2 or wire[0] != 0xC0 or wire[-1] != 0xC1:
        raise ProtocolError("not a frame: it must start with C0 and end with C1")
    return decode_user_data(decode_frame(wire[1:-1]))


# --- streaming --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Assembly:
    invoke_id: int
    extended: bool
    parts: list[PollReply] = field(default_factory=list)
    count: int = 0
    last_seen: bool = False

    def joined(self, final: PollReply | None) -> PollReply:
        replies = [*self.parts, *([final] if final is not None else [])]
        observations = tuple(o for reply in replies for o in reply.observations)
        return replace(self.parts[0], observations=observations, parts=len(replies))


class PhilipsIntellivueCodec:
    """Streaming decoder: feed bytes in any chunking, read ``IntellivueEvent`` objects."""

    def __init__(self, *, max_linked_parts: int = MAX_LINKED_PARTS) -> None:
        self.max_linked_parts = max_linked_parts
        self._frames = FrameDecoder()
        self._assembly: _Assembly | None = None
        self._events: deque[IntellivueEvent] = deque()

    def receive(self, data: bytes) -> None:
        self._frames.receive(data)
        for item in self._frames.frames():
            if isinstance(item, FrameRejected):
                self._events.append(item)
                continue
            try:
                message = decode_user_data(item)
            except ProtocolError as exc:
                self._events.append(FrameRejected(str(exc), preview(item)))
                continue
            self._message(message)

    def events(self) -> Iterator[IntellivueEvent]:
        while self._events:
            yield self._events.popleft()

    # -- linked results ------------------------------------------------------------------------

    def _message(self, message: IntellivueMessage) -> None:
        if isinstance(message, LinkedPart):
            self._part(message)
            return
        pending = self._assembly
        if (
            pending is not None
            and isinstance(message, PollReply)
            and message.invoke_id == pending.invoke_id
            and message.extended == pending.extended
        ):
            self._assembly = None
            if pending.last_seen:  # protocols.md §9: ... last, then one RORS
                self._events.append(pending.joined(message))
            else:
                self._broken(pending, "ended by its result before the last part")
            return
        if pending is not None and pending.last_seen:
            # Every part is here but the closing RORS is not: deliver what is complete.
            self._assembly = None
            self._events.append(pending.joined(None))
        self._events.append(message)

    def _part(self, part: LinkedPart) -> None:
        reply = part.reply
        pending = self._assembly
        if part.state == LinkedState.FIRST:
            self._flush()
            if part.count != 1:
                self._reject_part(part, f"first linked part has count {part.count}, not 1")
                return
            self._assembly = _Assembly(reply.invoke_id, reply.extended, [reply], 1)
            return
        if (
            pending is None
            or pending.last_seen
            or reply.invoke_id != pending.invoke_id
            or reply.extended != pending.extended
            or part.count != (pending.count + 1) & 0xFF
        ):
            self._flush()
            self._reject_part(part, "linked part out of sequence (a part was lost?)")
            return
        pending.parts.append(reply)
        pending.count = part.count
        pending.last_seen = part.state == LinkedState.LAST
        if len(pending.parts) > self.max_linked_parts:
            self._assembly = None
            self._broken(pending, f"has more than {self.max_linked_parts} parts")

    def _flush(self) -> None:
        pending, self._assembly = self._assembly, None
        if pending is None:
            return
        if pending.last_seen:
            self._events.append(pending.joined(None))
        else:
            self._broken(pending, "was never completed")

    def _broken(self, pending: _Assembly, why: str) -> None:
        reason = f"linked result {pending.invoke_id} ({len(pending.parts)} part(s)) {why}"
        self._events.append(FrameRejected(reason))

    def _reject_part(self, part: LinkedPart, why: str) -> None:
        self._events.append(FrameRejected(f"linked result {part.reply.invoke_id}: {why}"))
