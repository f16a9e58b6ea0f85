"""End to end: emulated oximeter on a pty → driver → real uvicorn → WebSocket client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from simulator.devices.base import Fault
from tests.support import RunningServer, RunningSimulator

pytestmark = pytest.mark.e2e


class LiveClient:
    """A tablet stand-in: keeps its heartbeat going while it waits for messages."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self._beat = 0.0

    def next(self, timeout: float = 1.0) -> dict[str, Any] | None:
        if time.monotonic() - self._beat > 0.5:
            self._beat = time.monotonic()
            self.ws.send(json.dumps({"type": "heartbeat"}))
        try:
            message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        except TimeoutError:
            return None
        self.messages.append(message)
        return message

    def wait(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.next(timeout=0.2)
            if message is not None and match(message):
                return message
        raise AssertionError(f"no matching message within {timeout} s")


def start(
    simulated: Callable[..., RunningSimulator], serve: Callable[..., RunningServer], **kw: Any
) -> tuple[RunningSimulator, RunningServer]:
    sim = simulated("masimo-ascii")
    server = serve(devices=[f"monitor:masimo-ascii={sim.devices['monitor'].link.path}"], **kw)
    return sim, server


def test_live_values_alarms_and_recovery(
    simulated: Callable[..., RunningSimulator], serve: Callable[..., RunningServer]
) -> None:
    sim, server = start(simulated, serve)
    with connect(server.ws_url, additional_headers=server.cookie_header()) as ws:
        client = LiveClient(ws)
        snapshot = client.next(timeout=5)
        assert snapshot is not None and snapshot["type"] == "snapshot"
        assert snapshot["devices"][0]["driver"] == "masimo-ascii"

        spo2 = client.wait(lambda m: m["type"] == "vital" and m["metric"] == "spo2")
        assert spo2["value"] == 98.0 and spo2["unit"] == "%" and spo2["mdc_code"] == 150456
        client.wait(lambda m: m["type"] == "heartbeat")

        # Pull the cable: a technical alarm within 10 s; plug it back: the alarm clears.
        sim.devices["monitor"].set_fault(Fault.UNPLUG, True)
        raised = client.wait(lambda m: m["type"] == "alarm" and m["state"] == "active")
        assert raised["key"] == "device_link:monitor" and raised["kind"] == "technical"
        sim.devices["monitor"].set_fault(Fault.UNPLUG, False)
        cleared = client.wait(lambda m: m["type"] == "alarm" and m["state"] == "cleared")
        assert cleared["id"] == raised["id"]
        client.wait(lambda m: m["type"] == "vital" and m["metric"] == "spo2")

        # The placeholder physiological rule.
        sim.scenario.vitals.spo2 = 85
        low = client.wait(lambda m: m["type"] == "alarm" and m["key"] == "spo2_low")
        assert low["message"] == "SpO2 85 < 90" and low["marker"] == "**"

    # A stranger learns only the status and the bed; a signed-in user the details.
    assert set(httpx.get(f"{server.url}/api/v1/health").json()) == {"status", "bed"}
    assert httpx.get(f"{server.url}/api/v1/readings/latest").status_code == 401
    sitter = server.login("sitter")
    health = sitter.get("/api/v1/health").json()
    assert health["devices"][0]["availability"] == "connected"
    assert health["storage"]["ok"] is True
    latest = sitter.get("/api/v1/readings/latest").json()
    assert latest["vitals"]["spo2"]["value"] == 85.0
    assert [a["key"] for a in sitter.get("/api/v1/alarms").json()] == ["spo2_low"]


def test_alarm_log_survives_a_restart(
    simulated: Callable[..., RunningSimulator], serve: Callable[..., RunningServer]
) -> None:
    sim, server = start(simulated, serve)
    with connect(server.ws_url, additional_headers=server.cookie_header()) as ws:
        client = LiveClient(ws)
        client.wait(lambda m: m["type"] == "vital")
        sim.scenario.vitals.spo2 = 80
        client.wait(lambda m: m["type"] == "alarm" and m["key"] == "spo2_low")
    server.stop()
    sim.scenario.vitals.spo2 = 97
    second = serve(devices=[f"monitor:masimo-ascii={sim.devices['monitor'].link.path}"])
    log = second.login("nurse").get("/api/v1/alarms/log").json()
    assert any(row["key"] == "spo2_low" and row["state"] == "active" for row in log)
    with connect(second.ws_url, additional_headers=second.cookie_header()) as ws:
        client = LiveClient(ws)
        snapshot = client.next(timeout=5)
        assert snapshot is not None
        # Restored after the restart, then cleared by the first good reading.
        if any(a["key"] == "spo2_low" for a in snapshot["alarms"]):
            client.wait(lambda m: m["type"] == "alarm" and m["state"] == "cleared")


def test_silent_client_is_dropped_and_foreign_origin_refused(
    serve: Callable[..., RunningServer],
) -> None:
    server = serve(client_timeout_s=1.0)
    with connect(server.ws_url, additional_headers=server.cookie_header()) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
        with pytest.raises(ConnectionClosed):  # noqa: PT012 - never answers the heartbeat
            while True:
                ws.recv(timeout=5)
    with pytest.raises(InvalidStatus):
        connect(
            server.ws_url,
            origin="http://evil.example",  # type: ignore[arg-type]
            additional_headers=server.cookie_header(),
        )
