"""``/api/v1/live``: the WebSocket every tablet holds open.

Protocol (JSON text messages; docs/api.md):

* on connect the server sends ``{"type": "snapshot", ...}``, then one message per event
  (``vital``, ``availability``, ``conditions``, ``pump``, ``alarm``, ``service_fault``);
* the server sends ``{"type": "heartbeat", "seq": n, "server_time": ...}`` every
  ``heartbeat_s`` whatever else it sends, so a tablet that hears nothing for a few seconds knows
  the link is dead and alarms locally;
* the client sends ``{"type": "heartbeat"}`` at least every ``client_timeout_s``; a silent client
  is disconnected (so the server's count of listening tablets stays true);
* a tablet too slow to keep up loses its oldest queued events and is sent a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from service import serialize
from service.api.deps import ws_runtime
from service.api.security import websocket_user
from service.auth.signins import COOKIE
from service.bus import Overflow, Subscription
from service.events import BusEvent
from service.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])

#: Events a tablet may have queued before it is resynchronised with a snapshot instead.
CLIENT_QUEUE = 2000


def origin_allowed(websocket: WebSocket) -> bool:
    """Browsers send Origin; it must name this server (no cross-site socket hijacking)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser (tests, scripts)
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc == host


@router.websocket("/live")
async def live(websocket: WebSocket, runtime: Annotated[Runtime, Depends(ws_runtime)]) -> None:
    if not origin_allowed(websocket):
        await websocket.close(code=1008, reason="origin not allowed")
        return
    user = websocket_user(websocket)
    if user is None:
        await websocket.close(code=1008, reason="sign in first")
        return
    await websocket.accept()
    sub = runtime.bus.subscribe("tablet", Overflow.DROP_OLDEST, limit=CLIENT_QUEUE)
    snapshot = runtime.snapshot()  # taken right after subscribing: nothing falls in between
    runtime.tablet_joined()
    settings = runtime.settings
    try:
        await websocket.send_text(json.dumps(snapshot))
        token = websocket.cookies.get(COOKIE)
        sender = _send(websocket, runtime, sub, token)
        if await run_socket(websocket, sender, settings.client_timeout_s):
            log.warning("tablet silent for %.0f s: closed its socket", settings.client_timeout_s)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        runtime.tablet_left()
        sub.close()


async def run_socket(
    websocket: WebSocket, sender: Coroutine[Any, Any, None], client_timeout_s: float
) -> bool:
    """Run a live socket: ``sender`` streams to the client while its heartbeats are read and
    watched; whichever ends first ends the socket. True when the client fell silent for
    ``client_timeout_s`` (its socket is then closed with 1001). Shared by the bed's tablets and
    the central's overview pages."""
    heard = asyncio.Event()
    tasks = {
        asyncio.create_task(sender),
        asyncio.create_task(receive_heartbeats(websocket, heard)),
        watchdog := asyncio.create_task(watch_heartbeats(heard, client_timeout_s)),
    }
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for task in done:
        task.exception()  # retrieved: a closed socket is the normal way out
    if watchdog in done:
        with contextlib.suppress(Exception):
            await websocket.close(code=1001, reason="heartbeat timeout")
        return True
    return False


async def _send(
    websocket: WebSocket, runtime: Runtime, queue: Subscription[BusEvent], token: str | None
) -> None:
    interval = runtime.settings.heartbeat_s
    loop = asyncio.get_running_loop()
    seq = 0
    sent_in_a_row = 0
    next_beat = loop.time()
    while True:
        if queue.overflowed:
            queue.clear()
            await websocket.send_text(json.dumps({**runtime.snapshot(), "resync": True}))
        now = loop.time()
        if now >= next_beat:
            if runtime.sign_ins.get(token, runtime.clock.utcnow()) is None:
                # Signed out, expired or disabled: stop streaming patient data at once.
                await websocket.close(code=4401, reason="session ended")
                return
            seq += 1
            next_beat = now + interval
            beat = {
                "type": "heartbeat",
                "seq": seq,
                "server_time": serialize.iso(runtime.clock.utcnow()),
                "clients": runtime.clients,
            }
            await websocket.send_text(json.dumps(beat))
        event = queue.get_nowait()
        if event is None:
            try:
                async with asyncio.timeout(max(0.0, next_beat - loop.time())):
                    event = await queue.get()
            except TimeoutError:
                continue
        else:
            sent_in_a_row += 1
            if sent_in_a_row % 64 == 0:
                await asyncio.sleep(0)  # a long backlog does not hold the loop
        await websocket.send_text(_text(event, runtime))


def _text(event: BusEvent, runtime: Runtime) -> str:
    """The event as the tablets' JSON, serialised once for all of them: every tablet gets the
    same text (with ten tablets the same work was done ten times; docs/benchmarks.md, Profile).
    The infusion message, which carries the session at sending time, is not shared."""
    cached = _TEXTS.get(id(event))
    if cached is not None and cached[0] is event:
        return cached[1]
    message = serialize.message(event)
    kind = message["type"]
    if kind == "infusion":
        message["session"] = runtime.infusions.current_json()
    # An operator action carries the audio state and limits it leaves (AlarmRunner stamps
    # them): no snapshot is built per action, and its text is shared like any other event's.
    text = json.dumps(message)
    if kind != "infusion":
        _TEXTS[id(event)] = (event, text)  # the reference keeps the id from being reused
        if len(_TEXTS) > _TEXT_CACHE:
            _TEXTS.popitem(last=False)
    return text


#: Recently serialised events (identity → text), oldest first; bounded.
_TEXTS: OrderedDict[int, tuple[BusEvent, str]] = OrderedDict()
_TEXT_CACHE = 4096


async def receive_heartbeats(websocket: WebSocket, heard: asyncio.Event) -> None:
    while True:
        text = await websocket.receive_text()
        try:
            message = json.loads(text)
        except ValueError:
            continue  # a broken message from a tablet never breaks the socket
        if isinstance(message, dict) and message.get("type") == "heartbeat":
            heard.set()


async def watch_heartbeats(heard: asyncio.Event, timeout: float) -> None:
    while True:
        heard.clear()
        try:
            async with asyncio.timeout(timeout):
                await heard.wait()
        except TimeoutError:
            return
