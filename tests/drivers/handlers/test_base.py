"""DeviceHandler: the defaults, and the rejection bookkeeping done once for every driver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from drivers.codecs.base import FrameRejected
from drivers.handlers.base import DeviceHandler, Handler, HandlerOutput
from drivers.registry import DRIVERS, handler_factory
from drivers.transports.serial_url import SerialSettings

WALL = datetime(2026, 1, 1, tzinfo=UTC)


class WordCodec:
    """Words between spaces; a word with a digit is rejected."""

    def __init__(self) -> None:
        self._pending = b""
        self._events: list[str | FrameRejected] = []

    def receive(self, data: bytes) -> None:
        *words, self._pending = (self._pending + data).split(b" ")
        for word in filter(None, words):
            text = word.decode()
            bad = any(c.isdigit() for c in text)
            self._events.append(FrameRejected("a digit", word) if bad else text)

    def events(self) -> Iterator[str | FrameRejected]:
        while self._events:
            yield self._events.pop(0)


class WordHandler(DeviceHandler[str]):
    name: ClassVar[str] = "words"
    serial: ClassVar[SerialSettings] = SerialSettings(9600)
    stale_after: ClassVar[float] = 1.0

    def __init__(self, source: str) -> None:
        self.seen: list[tuple[str, float]] = []
        super().__init__(source)

    def new_codec(self) -> WordCodec:
        return WordCodec()

    def on_event(self, event: str, mono: float, wall: datetime, out: HandlerOutput) -> None:
        out.frames_ok += 1
        self.seen.append((event, mono))


def test_rejections_are_counted_and_other_events_reach_on_event() -> None:
    handler = WordHandler("w")
    out = handler.on_data(b"one tw0 three thr", 2.0, WALL)
    assert out.rejected == ["a digit"] and out.frames_ok == 2
    assert handler.seen == [("one", 2.0), ("three", 2.0)]
    assert handler.on_data(b"ee ", 3.0, WALL).frames_ok == 1
    assert handler.seen[-1] == ("three", 3.0)


def test_defaults_send_nothing_and_a_reopen_starts_a_new_codec() -> None:
    handler = WordHandler("w")
    handler.on_data(b"half", 0.0, WALL)
    assert handler.on_open(1.0, WALL) == HandlerOutput()
    assert handler.on_data(b" next ", 1.0, WALL).frames_ok == 1  # "half" was dropped
    assert handler.seen == [("next", 1.0)]
    assert handler.on_tick(2.0, WALL) == HandlerOutput()
    assert handler.on_close(3.0, WALL) == HandlerOutput()
    assert handler.next_deadline() is None


def test_a_handler_without_a_codec_is_a_usage_bug() -> None:
    class Unfinished(DeviceHandler[str]):
        pass

    with pytest.raises(NotImplementedError):
        Unfinished("x")


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_every_driver_is_a_device_handler(name: str) -> None:
    handler = handler_factory(name)(name)
    assert isinstance(handler, DeviceHandler)
    checked: Handler = handler  # and the device link's protocol, for mypy
    assert checked.stale_after > 0
