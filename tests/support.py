"""Test support: a real uvicorn server in a thread, emulated devices on ptys, polling."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from service.api.app import create_app
from service.settings import Settings
from simulator.runner import SimulatedDevice, Simulator
from simulator.scenario import ConstantScenario

FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy (a deadline, not a sleep that hopes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@dataclass
class RunningSimulator:
    simulator: Simulator
    devices: dict[str, SimulatedDevice]
    scenario: ConstantScenario
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.simulator.step()
                time.sleep(0.02)

        self._thread = threading.Thread(target=loop, name="simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.simulator.close()


@dataclass
class RunningServer:
    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread
    app: Any

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/live"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(settings: Settings, port: int | None = None) -> RunningServer:
    port = port or free_port()
    settings = settings.model_copy(update={"port": port, "host": "127.0.0.1"})
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)

    def run() -> None:
        asyncio.run(server.serve())

    thread = threading.Thread(target=run, name="uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=15)
    return RunningServer(f"http://127.0.0.1:{port}", port, server, thread, app)
