"""The device link: one transport and one device handler, with availability and reconnect.

The *device handler* (``drivers.handlers``) is the protocol-specific part of a driver: it owns
the codec, turns codec events into readings and says what to send; it does no I/O and reads no
clock. ``DeviceLink`` is the thin asynchronous shell around it, the only I/O of a driver: it
opens the port, feeds bytes to the handler, writes what it asks for, and drives ``LinkMonitor``
so that a lost link always becomes an ``AvailabilityChange`` reading (and thus a technical
alarm), never silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from drivers.clock import Clock
from drivers.handlers.base import Handler, HandlerOutput
from drivers.link_monitor import LinkMonitor, LinkTimings
from drivers.readings import AvailabilityChange, Reading
from drivers.transports.serial_url import SerialSettings, Transport, TransportError, open_url

log = logging.getLogger(__name__)

READ_CHUNK = 4096


@dataclass(slots=True)
class LinkStats:
    bytes_in: int = 0
    bytes_out: int = 0
    frames_ok: int = 0
    frames_rejected: int = 0
    field_problems: int = 0
    last_rejection: str = ""
    opens: int = 0


Opener = Callable[[str, SerialSettings], Transport]


class DeviceLink:
    """Runs one handler on one port: opens and reopens it, reads, writes, reports availability."""

    def __init__(
        self,
        source: str,
        handler: Handler,
        url: str,
        emit: Callable[[Reading], None],
        clock: Clock,
        *,
        opener: Opener = open_url,
        timings: LinkTimings | None = None,
    ) -> None:
        self.source = source
        self.handler = handler
        self.url = url
        self._emit = emit
        self._clock = clock
        self._opener = opener
        self.link = LinkMonitor(timings or LinkTimings(stale_after=handler.stale_after))
        self.stats = LinkStats()
        self._port: Transport | None = None
        self._wake = asyncio.Event()
        self._reader_thread: threading.Thread | None = None
        self._uses_fd = False
        self._stopping = False
        self._writes: asyncio.Queue[bytes] = asyncio.Queue()

    # -- public --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled. Never raises for device or link faults."""
        writer = asyncio.create_task(self._write_loop(), name=f"{self.source}-writer")
        try:
            while True:
                now = self._clock.monotonic()
                if self.link.retry_due(now):
                    await self._open()
                elif self.link.should_reopen(now):
                    self._close()
                    self.link.closed_for_reopen(now)
                    continue
                self._tick()
                await self._sleep_until_deadline()
        finally:
            self._stopping = True
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._goodbye()
            self._close()

    def _goodbye(self) -> None:
        """Send what the protocol sends on a clean shutdown (e.g. an IntelliVue Release), if
        the handler has an ``on_close``; best effort, bounded by the port's write time-out."""
        on_close = getattr(self.handler, "on_close", None)
        port = self._port
        if on_close is None or port is None:
            return
        try:
            out: HandlerOutput = on_close(self._clock.monotonic(), self._clock.utcnow())
            for data in out.writes:
                port.write(data)
        except Exception as exc:  # the link may already be gone: nothing more to do
            log.info("%s: no clean goodbye: %s", self.source, exc)

    # -- opening and closing ---------------------------------------------------------------

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            port = await loop.run_in_executor(None, self._opener, self.url, self.handler.serial)
        except TransportError as exc:
            self._availability(self.link.open_failed(self._clock.monotonic(), str(exc)))
            return
        self._port = port
        self.stats.opens += 1
        self.link.opened(self._clock.monotonic())
        log.info("%s: opened %s (%s)", self.source, self.url, self.handler.serial.describe())
        try:
            fd = port.fileno()
        except (AttributeError, OSError, NotImplementedError):
            fd = -1
        if fd >= 0:
            loop.add_reader(fd, self._on_readable)
            self._uses_fd = True
        else:
            self._reader_thread = threading.Thread(
                target=self._thread_reader,
                args=(port, loop),
                name=f"{self.source}-reader",
                daemon=True,
            )
            self._reader_thread.start()
        self._apply(self.handler.on_open(self._clock.monotonic(), self._clock.utcnow()))

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        if self._uses_fd:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(port.fileno())
            self._uses_fd = False
        with contextlib.suppress(Exception):
            port.close()

    def _fail(self, reason: str) -> None:
        self._close()
        self._availability(self.link.failed(self._clock.monotonic(), reason))
        self._wake.set()

    # -- reading -------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        port = self._port
        if port is None:
            return
        try:
            data = port.read(READ_CHUNK)
        except Exception as exc:  # pyserial raises SerialException or OSError
            self._fail(f"read failed: {exc}")
            return
        if data:
            self._received(data)

    def _thread_reader(self, port: Transport, loop: asyncio.AbstractEventLoop) -> None:
        """Fallback for URLs without a selectable file descriptor."""
        while self._port is port and not self._stopping:
            try:
                data = port.read(READ_CHUNK)
            except Exception as exc:
                loop.call_soon_threadsafe(self._fail_if_current, port, f"read failed: {exc}")
                return
            if data:
                loop.call_soon_threadsafe(self._received_if_current, port, data)

    def _fail_if_current(self, port: Transport, reason: str) -> None:
        if self._port is port:
            self._fail(reason)

    def _received_if_current(self, port: Transport, data: bytes) -> None:
        if self._port is port:
            self._received(data)

    def _received(self, data: bytes) -> None:
        self.stats.bytes_in += len(data)
        out = self.handler.on_data(data, self._clock.monotonic(), self._clock.utcnow())
        self._apply(out)

    # -- ticking and writing -----------------------------------------------------------------

    def _tick(self) -> None:
        now = self._clock.monotonic()
        self._availability(self.link.tick(now))
        if self._port is not None:
            self._apply(self.handler.on_tick(now, self._clock.utcnow()))

    async def _sleep_until_deadline(self) -> None:
        deadlines = [d for d in (self.link.next_deadline(), self.handler.next_deadline()) if d]
        now = self._clock.monotonic()
        timeout = max(0.0, min(deadlines) - now) if deadlines else 1.0
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that
            # lands together with the timeout, and the link would outlive its task.
            async with asyncio.timeout(min(timeout, 1.0) + 0.005):
                await self._wake.wait()

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await self._writes.get()
            port = self._port
            if port is None:
                continue  # the link dropped; the handshake is redone on reopen
            try:
                # A real port with RTS/CTS may block a write: never on the event loop.
                await loop.run_in_executor(None, port.write, data)
                self.stats.bytes_out += len(data)
            except Exception as exc:
                if self._port is port:
                    self._fail(f"write failed: {exc}")

    def _apply(self, out: HandlerOutput) -> None:
        self.stats.frames_ok += out.frames_ok
        if out.rejected:
            self.stats.frames_rejected += len(out.rejected)
            self.stats.last_rejection = out.rejected[-1]
            log.debug(
                "%s: rejected %d frame(s): %s", self.source, len(out.rejected), out.rejected[-1]
            )
        if out.problems:
            self.stats.field_problems += len(out.problems)
            self.stats.last_rejection = out.problems[-1]
        if out.frames_ok:
            self._availability(self.link.data(self._clock.monotonic()))
        for reading in out.readings:
            self._emit(reading)
        for data in out.writes:
            self._writes.put_nowait(data)
        if out.writes or out.frames_ok:
            self._wake.set()

    def _availability(self, change: object) -> None:
        if change is None:
            return
        state = self.link.state
        assert state is not None
        if state.value == "connected":
            log.info("%s: receiving data from %s", self.source, self.url)
        else:
            log.warning("%s: %s (%s)", self.source, state.value, self.link.detail)
        self._emit(AvailabilityChange(self.source, state, self._clock.utcnow(), self.link.detail))
