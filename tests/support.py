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

import httpx
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

    def login(self, username: str = "sitter", pin: str | None = None) -> httpx.Client:
        """An HTTP client signed in as one of the test users."""
        client = httpx.Client(base_url=self.url)
        response = client.post(
            "/api/v1/auth/login", json={"username": username, "pin": pin or PINS[username]}
        )
        response.raise_for_status()
        return client

    def cookie_header(self, username: str = "sitter") -> dict[str, str]:
        token = self.login(username).cookies["vigil_session"]
        return {"Cookie": f"vigil_session={token}"}

    def publish(self, *events: Any) -> None:
        """Publish events on the server's loop, as a device session would."""
        runtime = self.app.state.runtime

        def run() -> None:
            for event in events:
                runtime.publish(event)

        runtime.loop.call_soon_threadsafe(run)

    def cuff(self, sys: float, dia: float, hr: float, source: str = "monitor") -> None:
        """One NIBP measurement (systolic, diastolic, mean) with an HR reading, now."""
        from drivers.readings import Metric, VitalReading

        now = self.app.state.runtime.clock.utcnow()
        self.publish(
            VitalReading(source, Metric.NIBP_SYS, sys, now),
            VitalReading(source, Metric.NIBP_DIA, dia, now),
            VitalReading(source, Metric.NIBP_MEAN, round((sys + 2 * dia) / 3), now),
            VitalReading(source, Metric.HR, hr, now),
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


#: The users every test server has (role = user name).
PINS = {"sitter": "1111", "nurse": "222222", "admin": "999999", "nurse2": "333333"}


def add_test_users(settings: Settings) -> None:
    from datetime import UTC, datetime

    from service.auth.users import Role, UserStore
    from service.persistence.db import make_engine, upgrade

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    store = UserStore(engine)
    existing = {u.username for u in store.all()}
    for username, pin in PINS.items():
        if username not in existing:
            role = Role(username.rstrip("0123456789"))
            store.add(username, username.title(), role, pin, datetime.now(UTC))
    engine.dispose()


def start_server(settings: Settings, port: int | None = None) -> RunningServer:
    add_test_users(settings)
    port = port or free_port()
    settings = settings.model_copy(update={"port": port, "host": "127.0.0.1"})
    return run_app(create_app(settings), port)


def run_app(app: Any, port: int) -> RunningServer:
    """Serve a FastAPI app with a real uvicorn on 127.0.0.1:``port`` in a thread."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)

    def run() -> None:
        asyncio.run(server.serve())

    thread = threading.Thread(target=run, name="uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=15)
    return RunningServer(f"http://127.0.0.1:{port}", port, server, thread, app)
