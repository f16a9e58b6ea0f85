"""Who hears of an escalation besides the overview: ``Notifier`` implementations.

A notifier's ``notify`` is awaited in a task of its own (``Notifiers.send``): a slow or dead
receiver never holds up the station. ``WebhookNotifier`` POSTs the escalation as JSON
(``Escalation.payload()``, docs/central.md) over HTTP or HTTPS with a time-out, retries with
back-off (1 s, 2 s, 4 s, ...), logs and counts failures. More notifiers (e-mail, a paging
gateway, a ward phone system) implement the same one-method protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from typing import Any, Protocol
from urllib.parse import urlsplit

from central.board import Escalation

log = logging.getLogger(__name__)


class Notifier(Protocol):
    name: str

    async def notify(self, escalation: Escalation) -> None:
        """Deliver one escalation; raise on failure (the caller logs and counts it)."""
        ...

    def health(self) -> dict[str, Any]: ...


class DeliveryError(Exception):
    pass


async def post_json(url: str, body: dict[str, Any], timeout: float) -> int:
    """POST ``body`` as JSON; the HTTP status, or DeliveryError. Plain asyncio (no thread, so a
    time-out really ends the attempt)."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {parts.netloc.rsplit('@', 1)[-1]}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n"
        "User-Agent: vigil-central\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            context = ssl.create_default_context() if https else None
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            writer.write(head + data)
            await writer.drain()
            status_line = await reader.readline()
    except TimeoutError:
        raise DeliveryError(f"no answer within {timeout:g} s") from None
    except OSError as exc:
        raise DeliveryError(str(exc) or type(exc).__name__) from None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    words = status_line.decode("latin-1").split()
    if len(words) < 2 or not words[1].isdigit():
        raise DeliveryError(f"not an HTTP answer: {status_line[:60]!r}")
    status = int(words[1])
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")
    return status


class WebhookNotifier:
    name = "webhook"

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 1.0
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.sent = 0
        self.failed_attempts = 0
        self.given_up = 0
        self.last_error = ""

    async def notify(self, escalation: Escalation) -> None:
        body = escalation.payload()
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                await post_json(self.url, body, self.timeout_s)
            except DeliveryError as exc:
                self.failed_attempts += 1
                self.last_error = str(exc)
                left = self.retries - attempt
                log.warning(
                    "webhook: escalation %s not delivered (%s)%s",
                    escalation.id,
                    exc,
                    f", retrying in {delay:g} s" if left else ", giving up",
                )
                if not left:
                    self.given_up += 1
                    raise
                await asyncio.sleep(delay)
                delay *= 2
                continue
            self.sent += 1
            self.last_error = ""
            return

    def health(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": not self.last_error,
            "sent": self.sent,
            "failed_attempts": self.failed_attempts,
            "given_up": self.given_up,
            "last_error": self.last_error,
        }


class Notifiers:
    """Runs every notifier for each escalation in background tasks (at most ``parallel`` at
    once per notifier); the station never awaits them."""

    def __init__(self, notifiers: list[Notifier], parallel: int = 4) -> None:
        self.notifiers = notifiers
        self._limits = {id(n): asyncio.Semaphore(parallel) for n in notifiers}
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, escalation: Escalation) -> None:
        for notifier in self.notifiers:
            task = asyncio.create_task(
                self._run(notifier, escalation), name=f"notify-{notifier.name}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, notifier: Notifier, escalation: Escalation) -> None:
        async with self._limits[id(notifier)]:
            try:
                await notifier.notify(escalation)
            except Exception as exc:
                log.error("%s: escalation %s not delivered: %s", notifier.name, escalation.id, exc)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def health(self) -> list[dict[str, Any]]:
        return [n.health() for n in self.notifiers]
