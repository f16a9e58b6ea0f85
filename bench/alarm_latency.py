"""Alarm signal generation delay inside the service: a reading published into the running
service → the alarm message received by a WebSocket client (real uvicorn, real socket).

The reading is a pump occlusion, which has no condition delay, so the figure is the service's
own delay. Injection and reception are timed with the same process-wide ``perf_counter``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from websockets.sync.client import connect

from drivers.readings import PumpCondition, PumpReading, PumpState
from service.api.app import create_app
from service.auth.users import Role, UserStore
from service.persistence.db import make_engine, upgrade
from service.runtime import Runtime
from service.settings import Settings


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def measure(trials: int = 300) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    port = _port()
    settings = Settings.model_validate({"data_dir": data, "port": port})
    upgrade(settings.database_url)
    UserStore(make_engine(settings.database_url)).add(
        "bench", "Benchmark", Role.SITTER, "123456", datetime.now(UTC)
    )
    app = create_app(settings)
    runtime: Runtime = app.state.runtime
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    loop_box: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loop_box.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    loop = loop_box[0]
    delays: list[float] = []
    sent: dict[str, float] = {}

    def inject(occluded: bool, key: str) -> None:
        sent[key] = time.perf_counter()
        conditions = frozenset({PumpCondition.OCCLUSION}) if occluded else frozenset()
        runtime.publish(
            PumpReading("pump", runtime.clock.utcnow(), PumpState.ALARM, conditions=conditions)
        )

    login = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": "bench", "pin": "123456"}
    )
    cookie = {"Cookie": f"vigil_session={login.cookies['vigil_session']}"}
    with connect(f"ws://127.0.0.1:{port}/api/v1/live", additional_headers=cookie) as ws:
        ws.recv(timeout=5)  # snapshot
        for i in range(trials):
            occluded = i % 2 == 0
            loop.call_soon_threadsafe(inject, occluded, "x")
            while True:
                message = json.loads(ws.recv(timeout=5))
                if message.get("type") == "alarm" and message["key"].endswith(":occlusion"):
                    delays.append((time.perf_counter() - sent["x"]) * 1000)
                    break
            if i % 20 == 0:
                ws.send(json.dumps({"type": "heartbeat"}))
    server.should_exit = True
    thread.join(timeout=10)
    delays.sort()
    return {
        "trials": len(delays),
        "p50_ms": statistics.median(delays),
        "p99_ms": delays[int(len(delays) * 0.99) - 1],
        "max_ms": delays[-1],
    }
