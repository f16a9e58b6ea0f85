"""The central station's HTTP API and live socket (sign-in is the shared service/api/auth.py;
the socket's lifecycle is the tablets' ``run_socket`` of service/api/live.py).

| method and path | role | returns |
|---|---|---|
| ``GET /api/v1/health`` | — | the station: broker link, storage, notifiers, bed counts |
| ``GET /api/v1/beds`` | sitter | ``{"server_time", "station", "beds": [bed, ...]}`` |
| ``GET /api/v1/beds/{bed}`` | sitter | ``{"bed", "alarm_log", "trends": {"since", "metrics"}}`` |
| ``POST /api/v1/beds/{bed}/alarms/{id}/acknowledge`` | nurse | 202 ``{"command_id", ...}`` |
| ``WS /api/v1/central/live`` | sitter | snapshot, then ``bed`` / ``station`` / ``heartbeat`` |
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from central.board import Refused
from central.station import CentralStation, LiveClient
from central.store import alarm_log, trends
from service.api.live import origin_allowed, run_socket
from service.api.security import Nurse, Viewer
from service.auth.signins import COOKIE
from service.serialize import iso

log = logging.getLogger(__name__)
router = APIRouter(tags=["central"])

TREND_WINDOW = timedelta(hours=4)


def _station(request: Request) -> CentralStation:
    station: CentralStation = request.app.state.station
    return station


Station = Annotated[CentralStation, Depends(_station)]


@router.get("/health", summary="The central station's own health (no sign-in)")
async def health(station: Station) -> dict[str, Any]:
    return station.health()


@router.get("/beds", summary="Every bed of the clinic with its state")
async def beds(user: Viewer, station: Station) -> dict[str, Any]:
    return {
        "server_time": iso(station.clock.utcnow()),
        "station": station.station_json(),
        "beds": station.board.beds_json(),
    }


@router.get("/beds/{bed}", summary="One bed: state, alarm log, the last 4 h of readings")
async def bed(
    bed: str,
    user: Viewer,
    station: Station,
    log_limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    state = station.board.bed_json(bed)
    if state is None:
        raise HTTPException(404, f"no bed {bed}")
    since = station.clock.utcnow() - TREND_WINDOW
    logged = await asyncio.to_thread(alarm_log, station.db, bed, log_limit)
    metrics = await asyncio.to_thread(trends, station.db, bed, since)
    return {
        "server_time": iso(station.clock.utcnow()),
        "bed": state,
        "alarm_log": logged,
        "trends": {"since": iso(since), "metrics": metrics},
    }


@router.post(
    "/beds/{bed}/alarms/{alarm_id:path}/acknowledge",
    status_code=202,
    summary="Acknowledge an alarm at a bed from the central (sent to the bed over MQTT)",
    response_model=None,
)
async def acknowledge(
    bed: str, alarm_id: str, nurse: Nurse, station: Station
) -> dict[str, Any] | JSONResponse:
    try:
        command = await station.acknowledge(bed, alarm_id, nurse.username)
    except Refused as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    return {
        "command_id": command.command_id,
        "bed": bed,
        "alarm_id": alarm_id,
        "state": command.state,
    }


# -- the live socket -----------------------------------------------------------------------------


@router.websocket("/central/live")
async def live(websocket: WebSocket) -> None:
    """A snapshot of every bed, then one ``bed`` message per changed bed (its whole state),
    ``station`` when the station's own health changes, and a ``heartbeat`` every second. The
    page sends ``{"type": "heartbeat"}`` at least every 5 s; a silent page is disconnected."""
    station: CentralStation = websocket.app.state.station
    if not origin_allowed(websocket):
        await websocket.close(code=1008, reason="origin not allowed")
        return
    token = websocket.cookies.get(COOKIE)
    if station.sign_ins.get(token, station.clock.utcnow()) is None:
        await websocket.close(code=1008, reason="sign in first")
        return
    await websocket.accept()
    client = station.live.join()
    try:
        await websocket.send_text(json.dumps(station.snapshot()))
        sender = _send(websocket, station, client, token)
        await run_socket(websocket, sender, station.settings.client_timeout_s)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        station.live.leave(client)


async def _send(
    websocket: WebSocket, station: CentralStation, client: LiveClient, token: str | None
) -> None:
    loop = asyncio.get_running_loop()
    interval = station.settings.heartbeat_s
    seq = 0
    next_beat = loop.time()
    while True:
        now = loop.time()
        if now >= next_beat:
            if station.sign_ins.get(token, station.clock.utcnow()) is None:
                await websocket.close(code=4401, reason="session ended")
                return
            seq += 1
            next_beat = now + interval
            beat = {
                "type": "heartbeat",
                "seq": seq,
                "server_time": iso(station.clock.utcnow()),
                "broker_connected": station.broker["connected"],
            }
            await websocket.send_text(json.dumps(beat))
        if client.station_dirty:
            client.station_dirty = False
            message = {"type": "station", "station": station.station_json()}
            await websocket.send_text(json.dumps(message))
        if client.dirty:
            beds, client.dirty = client.dirty, set()
            for name in sorted(beds):
                text = station.bed_text(name)
                if text is not None:
                    await websocket.send_text(text)
            continue
        client.wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, next_beat - loop.time())):
                await client.wake.wait()
