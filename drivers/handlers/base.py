"""What every device handler is, and the defaults most of them share.

A *device handler* is the protocol-specific part of a driver: it owns the codec, turns codec
events into readings and says what to send (handshakes, polls, acknowledgements). It does no I/O
and reads no clock: time comes in as ``mono`` (monotonic seconds) and ``wall`` (UTC). The
*device link* (``drivers.device_link.DeviceLink``) opens the port, feeds the handler the bytes
and writes what it asks for.

``Handler`` is the protocol the device link relies on; ``DeviceHandler`` implements it with
defaults, and does the rejection bookkeeping once: every ``FrameRejected`` of the codec becomes
one entry of ``HandlerOutput.rejected``, every other event goes to the driver's ``on_event``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Generic, Protocol, TypeVar

from drivers.codecs.base import FrameRejected
from drivers.readings import Reading
from drivers.transports.serial_url import SerialSettings


@dataclass(slots=True)
class HandlerOutput:
    readings: list[Reading] = field(default_factory=list)
    writes: list[bytes] = field(default_factory=list)
    #: Frames that prove the device is talking (what keeps the link from going stale).
    frames_ok: int = 0
    #: One reason per frame the codec rejected.
    rejected: list[str] = field(default_factory=list)
    #: Fields dropped from frames that were otherwise used (impossible values...).
    problems: list[str] = field(default_factory=list)

    def extend(self, other: HandlerOutput) -> None:
        self.readings += other.readings
        self.writes += other.writes
        self.frames_ok += other.frames_ok
        self.rejected += other.rejected
        self.problems += other.problems


class Handler(Protocol):
    """Protocol-specific part of a driver. Pure: no I/O, time passed in."""

    name: ClassVar[str]
    serial: ClassVar[SerialSettings]
    #: Seconds without a valid frame before the link counts as stale.
    stale_after: ClassVar[float]

    def on_open(self, mono: float, wall: datetime) -> HandlerOutput: ...

    def on_data(self, data: bytes, mono: float, wall: datetime) -> HandlerOutput: ...

    def on_tick(self, mono: float, wall: datetime) -> HandlerOutput: ...

    def next_deadline(self) -> float | None: ...

    # Optional: ``on_close(mono, wall) -> HandlerOutput`` — what to send on a clean shutdown.


EventT = TypeVar("EventT")
EventT_co = TypeVar("EventT_co", covariant=True)


class Codec(Protocol[EventT_co]):
    """The streaming side of every codec in ``drivers.codecs``."""

    def receive(self, data: bytes) -> None: ...

    def events(self) -> Iterator[EventT_co | FrameRejected]: ...


class DeviceHandler(Generic[EventT]):
    """A handler with defaults: it sends nothing on open, tick or close and has no deadline.

    A driver sets ``name``, ``serial`` and ``stale_after``, builds its codec in ``new_codec``
    and handles each decoded event in ``on_event``, counting the frames that show the device
    is talking in ``out.frames_ok``; it overrides the rest only where its protocol needs to.
    """

    name: ClassVar[str]
    serial: ClassVar[SerialSettings]
    stale_after: ClassVar[float]
    #: A driver may declare its own codec class here, to reach more of it than ``Codec``.
    codec: Codec[EventT]

    def __init__(self, source: str) -> None:
        self.source = source
        self.codec = self.new_codec()

    def new_codec(self) -> Codec[EventT]:
        raise NotImplementedError

    def on_event(self, event: EventT, mono: float, wall: datetime, out: HandlerOutput) -> None:
        raise NotImplementedError

    def on_open(self, mono: float, wall: datetime) -> HandlerOutput:
        """A reopened port starts mid-frame: a new codec drops what the old one held."""
        self.codec = self.new_codec()
        return HandlerOutput()

    def on_data(self, data: bytes, mono: float, wall: datetime) -> HandlerOutput:
        self.codec.receive(data)
        out = HandlerOutput()
        for event in self.codec.events():
            if isinstance(event, FrameRejected):
                out.rejected.append(event.reason)
            else:
                self.on_event(event, mono, wall, out)
        return out

    def on_tick(self, mono: float, wall: datetime) -> HandlerOutput:
        return HandlerOutput()

    def next_deadline(self) -> float | None:
        return None

    def on_close(self, mono: float, wall: datetime) -> HandlerOutput:
        """What to send before the port closes on a clean shutdown."""
        return HandlerOutput()
