"""The bedside unit's MQTT uplink against a real Mosquitto: status and last will, events from the
on-disk outbox, commands from the central, "central link lost" while the broker is down, and
the backlog delivered in order with nothing lost after it comes back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from drivers.readings import PumpCondition, PumpReading, PumpState
from service.alarms.model import TabletCount
from service.settings import Settings
from tests.central.infra import Mosquitto, Probe, probe
from tests.support import RunningServer, start_server, wait_for

pytestmark = pytest.mark.e2e

CLINIC = "clinic-a"
ROOT = f"vigil/v1/{CLINIC}/bed-1"


@pytest.fixture
def bed(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[RunningServer]:
    secret = tmp_path / "bed-1.secret"
    secret.write_text(mosquitto.users["bed-1"] + "\n")
    central = {
        "host": mosquitto.host,
        "port": mosquitto.port,
        "clinic": CLINIC,
        "ca_file": mosquitto.ca_file,
        "password_file": secret,
        "heartbeat_s": 0.5,
        "reconnect_max_s": 1,
        "connect_timeout_s": 2,
    }
    server = start_server(Settings(bed="bed-1", data_dir=tmp_path / "data", central=central))
    yield server
    server.stop()


def central_probe(broker: Mosquitto) -> Probe:
    """The central's side: a persistent session (messages queued while it is away)."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    p = probe(broker, "central", client_id="test-central", clean_start=False, properties=props)
    p.subscribe("vigil/v1/#")
    return p


def door(server: RunningServer, open_: bool) -> None:
    now = server.app.state.runtime.clock.utcnow()
    conditions = frozenset({PumpCondition.DOOR_OPEN}) if open_ else frozenset()
    server.publish(PumpReading("pump", now, PumpState.STANDBY, conditions=conditions))


def events(p: Probe) -> list[dict[str, Any]]:
    return [json.loads(m) for m in p.payloads(f"{ROOT}/up/events")]


def alarms(server: RunningServer) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = server.login("nurse").get("/api/v1/alarms").json()
    return result


def test_a_bed_reports_to_the_central_and_loses_nothing_while_the_broker_is_down(
    mosquitto: Mosquitto, bed: RunningServer
) -> None:
    central = central_probe(mosquitto)
    runtime = bed.app.state.runtime
    bed.publish(TabletCount(1, runtime.clock.utcnow()))
    try:
        status = json.loads(central.wait_message(f"{ROOT}/up/status", timeout=10).payload)
        assert status["online"] is True and status["bed"] == "bed-1"
        central.wait_message(f"{ROOT}/up/heartbeat", timeout=5)

        # An alarm at the bed becomes an event with a sequence number and an idempotency id.
        door(bed, True)
        raised = wait_for(lambda: [e for e in events(central) if e["kind"] == "alarm"])[0]
        assert raised["id"] == f"bed-1/{raised['seq']}" and raised["v"] == 1
        assert raised["data"]["key"] == "pump:pump::door_open"
        assert raised["data"]["state"] == "active"
        state = json.loads(central.wait_message(f"{ROOT}/up/state").payload)
        assert "alarms" in state and "vitals" in state

        # The central acknowledges: the bed records the nurse "@central" and answers.
        command = {"v": 1, "command_id": "c-1", "alarm_id": raised["data"]["id"],
                   "user": "nurse", "at": "2026-11-22T09:00:00Z"}  # fmt: skip
        assert central.publish(f"{ROOT}/cmd/acknowledge", json.dumps(command).encode()).value == 0
        result = wait_for(lambda: [e for e in events(central) if e["kind"] == "command_result"])
        assert result[0]["data"] == {"command_id": "c-1", "ok": True,
                                     "detail": "acknowledged by nurse@central"}  # fmt: skip
        acked = wait_for(
            lambda: [a for a in alarms(bed) if a["acknowledged_by"] == "nurse@central"]
        )
        assert acked[0]["key"] == "pump:pump::door_open"
        unknown = {**command, "command_id": "c-2", "alarm_id": "nope"}
        central.publish(f"{ROOT}/cmd/acknowledge", json.dumps(unknown).encode())
        refused = wait_for(
            lambda: [e for e in events(central) if e["data"].get("command_id") == "c-2"]
        )
        assert refused[0]["data"]["ok"] is False
        door(bed, False)
        wait_for(lambda: not [a for a in alarms(bed) if a["key"].startswith("pump:")])
        before_outage = {e["seq"] for e in events(central)}

        # The broker goes away: the bed says so, and keeps alarming by itself.
        central.close()
        mosquitto.stop()
        lost = wait_for(lambda: [a for a in alarms(bed) if a["key"] == "service:central"])[0]
        assert lost["priority"] == "medium" and "central link lost" in lost["message"]
        for _ in range(5):
            door(bed, True)
            wait_for(lambda: any(a["key"].startswith("pump:") for a in alarms(bed)))
            door(bed, False)
            wait_for(lambda: not any(a["key"].startswith("pump:") for a in alarms(bed)))
        assert runtime.uplink.queued >= 10  # waiting on disk

        # Back: the alarm ends, and the backlog arrives in order, nothing missing.
        mosquitto.restart()
        central = central_probe(mosquitto)
        wait_for(lambda: not any(a["key"] == "service:central" for a in alarms(bed)), timeout=15)
        wait_for(lambda: runtime.uplink.queued == 0, timeout=15)
        last = max(runtime.uplink.sent, 0)
        assert last > 0
        seqs = wait_for(
            lambda: (
                (s := [e["seq"] for e in events(central)])
                and max(s) >= max(before_outage) + 10
                and s
            ),
            timeout=15,
        )
        first_seen = list(dict.fromkeys(seqs))
        assert first_seen == sorted(first_seen)  # in order
        everything = before_outage | set(seqs)
        assert everything == set(range(1, max(everything) + 1))  # no gap
        kinds = [e["data"].get("key") for e in events(central) if e["kind"] == "alarm"]
        assert "service:central" in kinds  # the outage itself is in the record
    finally:
        central.close()


def test_central_settings_are_checked_at_start_up(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="password_file"):
        Settings(central={"host": "h", "clinic": "c"})
    with pytest.raises(ValidationError, match="does not exist"):
        Settings(central={"host": "h", "clinic": "c", "password_file": tmp_path / "none"})
    secret = tmp_path / "s"
    secret.write_text("pw\n")
    with pytest.raises(ValidationError, match="cannot name an MQTT topic"):
        Settings(bed="bed 1", central={"host": "h", "clinic": "c", "password_file": secret})
    with pytest.raises(ValidationError):
        Settings(central={"host": "h", "clinic": "a/b", "password_file": secret})
    ok = Settings(bed="bed-1", central={"host": "h", "clinic": "c", "password_file": secret})
    assert ok.central is not None and ok.central.secret() == "pw" and ok.central.port == 8883
