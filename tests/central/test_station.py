"""The central station against real servers: Mosquitto (the shipped configuration, TLS, the
ACL), PostgreSQL, the central's own uvicorn server on a free port, and bedside units simulated
by paho clients that publish the v1 schema (docs/mqtt.md) as bed-1 ... bed-8 with their own
passwords; one test runs a real bedside unit (service/link/uplink.py) instead.

Nothing waits a fixed time: every wait polls for what it expects, with a deadline."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.engine import make_url
from websockets.sync.client import ClientConnection, connect

from central.app import create_central_app
from central.board import EventRecord
from central.db import upgrade
from central.settings import StationSettings
from central.store import central_engine, write_batch
from service.persistence.db import make_engine
from service.serialize import iso
from tests.central.infra import DEFAULT_USERS, Mosquitto, Probe, Tls, free_port, probe
from tests.support import wait_for

pytestmark = pytest.mark.e2e

CLINIC = "clinic-a"
PINS = {"nurse": "222222", "sitter": "1111"}
BEDS = [f"bed-{n}" for n in range(1, 9)]


def now_iso() -> str:
    return iso(datetime.now(UTC)) or ""


# -- the central, run for real ------------------------------------------------------------------


@dataclass
class Central:
    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread
    app: Any
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def station(self) -> Any:
        return self.app.state.station

    def login(self, user: str = "nurse") -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=10)
        response = client.post("/api/v1/auth/login", json={"username": user, "pin": PINS[user]})
        response.raise_for_status()
        self.clients.append(client)
        return client

    def beds(self, client: httpx.Client) -> dict[str, dict[str, Any]]:
        response = client.get("/api/v1/beds")
        response.raise_for_status()
        return {b["bed"]: b for b in response.json()["beds"]}

    def bed(self, client: httpx.Client, name: str) -> dict[str, Any]:
        found = self.beds(client).get(name)
        assert found is not None, f"{name} not on the overview"
        return found

    def live(self) -> ClientConnection:
        token = self.clients[0].cookies["vigil_session"]
        return connect(
            f"ws://127.0.0.1:{self.port}/api/v1/central/live",
            additional_headers={"Cookie": f"vigil_session={token}"},
        )

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the central did not stop"


def add_users(db_url: str) -> None:
    from service.auth.users import Role, UserStore

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        store = UserStore(engine)
        existing = {u.username for u in store.all()}
        for user, pin in PINS.items():
            if user not in existing:
                store.add(user, user.title(), Role(user), pin, datetime.now(UTC))
    finally:
        engine.dispose()


def start_central(settings: StationSettings) -> Central:
    add_users(settings.database_url)
    app = create_central_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=settings.port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=20)
    assert server.started, "the central did not start"
    return Central(f"http://127.0.0.1:{settings.port}", settings.port, server, thread, app)


def station_settings(
    broker: Mosquitto | None, db_url: str, tmp_path: Path, **overrides: Any
) -> StationSettings:
    values: dict[str, Any] = {
        "clinic": CLINIC,
        "broker_host": "127.0.0.1",
        "broker_port": broker.port if broker else free_port(),
        "ca_file": broker.ca_file if broker else None,
        "password": DEFAULT_USERS["central"],
        "db_url": db_url,
        "data_dir": tmp_path,
        "port": free_port(),
        **overrides,
    }
    return StationSettings(**values)


@pytest.fixture
def run_central(tmp_path: Path) -> Iterator[Callable[..., Central]]:
    """Factory: ``run_central(broker, db_url, **settings)`` starts a central; all are stopped."""
    running: list[Central] = []

    def start(broker: Mosquitto | None, db_url: str, **overrides: Any) -> Central:
        central = start_central(station_settings(broker, db_url, tmp_path, **overrides))
        running.append(central)
        return central

    yield start
    for central in running:
        central.stop()


# -- simulated bedside units ---------------------------------------------------------------------


class Bed:
    """A bedside unit as the central sees it: a paho client publishing the v1 schema."""

    def __init__(self, broker: Mosquitto, name: str) -> None:
        self.name = name
        self.root = f"vigil/v1/{CLINIC}/{name}"
        will = json.dumps({"v": 1, "bed": name, "online": False, "at": now_iso()}).encode()
        self.probe: Probe = probe(broker, name, will=(f"{self.root}/up/status", will))
        self.seq = 0

    def send(self, leaf: str, body: dict[str, Any], *, qos: int = 1, retain: bool = False) -> None:
        payload = json.dumps({"v": 1, "bed": self.name, "at": now_iso(), **body}).encode()
        topic = f"{self.root}/up/{leaf}"
        if qos == 1:
            assert self.probe.publish(topic, payload, retain=retain).value == 0
        else:
            self.probe.client.publish(topic, payload, qos=0, retain=retain)

    def online(self) -> None:
        self.send("status", {"online": True, "version": "test"}, retain=True)
        self.heartbeat()

    def heartbeat(self) -> None:
        self.send("heartbeat", {"outbox": 0}, qos=0)

    def state(self, alarms: list[dict[str, Any]], hr: float = 72.0) -> None:
        vital = {"source": "monitor", "metric": "hr", "value": hr, "unit": "/min",
                 "validity": "valid", "measured_at": now_iso()}  # fmt: skip
        body = {"vitals": {"hr": vital}, "alarms": alarms, "infusion": None, "devices": []}
        self.send("state", body, retain=True)

    def vitals(self, **values: float) -> None:
        readings = [
            {
                "source": "monitor",
                "metric": metric,
                "value": value,
                "validity": "valid",
                "measured_at": now_iso(),
            }
            for metric, value in values.items()
        ]
        self.send("vitals", {"readings": readings}, qos=0)

    def event(self, kind: str, data: dict[str, Any], seq: int | None = None) -> int:
        if seq is None:
            self.seq += 1
            seq = self.seq
        self.send("events", {"seq": seq, "id": f"{self.name}/{seq}", "kind": kind, "data": data})
        return seq

    def die(self) -> None:
        """Vanish as a crashed unit does: the broker publishes the last will."""
        self.probe.client.disconnect(
            ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
        )

    def close(self) -> None:
        self.probe.close()


def alarm(
    alarm_id: str, priority: str = "high", signal: str = "on", **extra: Any
) -> dict[str, Any]:
    return {
        "id": alarm_id,
        "key": alarm_id.split("@")[0],
        "kind": "physiological",
        "priority": priority,
        "marker": "***",
        "message": f"{alarm_id.split('@')[0]} alarm",
        "source": "monitor",
        "started_at": now_iso(),
        "condition": "active" if signal in ("on", "acknowledged") else "inactive",
        "signal": signal,
        "latching": priority == "high",
        "acknowledged_by": None,
        "escalated": False,
        **extra,
    }


def transition(event: str, **kw: Any) -> dict[str, Any]:
    data = alarm(**kw)
    return {**data, "event": event, "state": "cleared" if data["signal"] == "off" else "active",
            "user": data.get("acknowledged_by"), "at": now_iso()}  # fmt: skip


@pytest.fixture
def beds(mosquitto: Mosquitto) -> Iterator[Callable[[str], Bed]]:
    opened: list[Bed] = []

    def make(name: str) -> Bed:
        bed = Bed(mosquitto, name)
        opened.append(bed)
        return bed

    yield make
    for bed in opened:
        bed.close()


def sql(db_url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    url = make_url(db_url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as conn:
        return list(conn.execute(query, args).fetchall())


# -- webhook receiver ----------------------------------------------------------------------------


@dataclass
class Webhook:
    url: str
    received: list[dict[str, Any]]
    server: HTTPServer


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/vigil", received, server)
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- tests ---------------------------------------------------------------------------------------


def test_eight_beds_appear_and_an_alarm_reaches_the_overview_and_the_live_socket(
    mosquitto: Mosquitto, postgres: str, run_central: Callable[..., Central], beds: Any
) -> None:
    central = run_central(mosquitto, postgres)
    nurse = central.login("nurse")
    units = [beds(name) for name in BEDS]
    for unit in units:
        unit.online()
        unit.state([])
    wait_for(lambda: set(central.beds(nurse)) == set(BEDS))
    wait_for(lambda: all(b["status"] == "online" for b in central.beds(nurse).values()))
    assert central.bed(nurse, "bed-2")["vitals"]["hr"]["value"] == 72.0

    with central.live() as ws:
        snapshot = json.loads(ws.recv(timeout=5))
        assert snapshot["type"] == "snapshot"
        assert {b["bed"] for b in snapshot["beds"]} == set(BEDS)
        assert snapshot["station"]["broker"]["connected"] is True

        units[2].event("alarm", transition("raised", alarm_id="spo2_low@1"))
        top = wait_for(lambda: central.bed(nurse, "bed-3")["top_alarm"])
        assert (top["id"], top["priority"], top["signal"]) == ("spo2_low@1", "high", "on")
        assert top["central"]["escalated"] is False and top["central"]["escalation_due"]

        seen: list[str] = []
        while not {"bed-3-alarm", "heartbeat"} <= set(seen):  # ws.recv fails after 5 s of silence
            message = json.loads(ws.recv(timeout=5))
            ws.send(json.dumps({"type": "heartbeat"}))
            seen.append(message["type"])
            if message["type"] == "heartbeat":
                assert message["broker_connected"] is True and message["server_time"]
            if message["type"] == "bed" and message["bed"]["top_alarm"]:
                assert message["bed"]["bed"] == "bed-3"
                assert message["bed"]["top_alarm"]["id"] == "spo2_low@1"
                seen.append("bed-3-alarm")

    units[2].vitals(hr=120, spo2=88)
    detail = wait_for(
        lambda: (d := nurse.get("/api/v1/beds/bed-3").json())["trends"]["metrics"].get("spo2") and d
    )
    assert detail["trends"]["metrics"]["spo2"][-1][1] == 88.0
    assert [e["event"] for e in detail["alarm_log"]] == ["raised"]
    assert nurse.get("/api/v1/beds/bed-99").status_code == 404
    rows = sql(postgres, "SELECT bed, alarm_id, event FROM alarm_log")
    assert rows == [("bed-3", "spo2_low@1", "raised")]
    assert sql(postgres, "SELECT count(*) FROM readings WHERE bed = 'bed-3'")[0][0] == 2
    health = httpx.get(f"{central.url}/api/v1/health").json()
    assert health["status"] == "ok" and health["beds"]["online"] == 8


def test_a_redelivered_event_is_stored_once_and_applied_once(
    mosquitto: Mosquitto, postgres: str, run_central: Callable[..., Central], beds: Any
) -> None:
    central = run_central(mosquitto, postgres)
    nurse = central.login("nurse")
    bed = beds("bed-1")
    bed.online()
    raised = transition("raised", alarm_id="hr_high@1")
    bed.event("alarm", raised, seq=1)
    acked = transition("acknowledged", alarm_id="hr_high@1", signal="acknowledged",
                       acknowledged_by="nurse")  # fmt: skip
    bed.event("alarm", acked, seq=2)
    bed.event("alarm", raised, seq=1)  # the broker (or the unit after a reconnect) resends it
    bed.event("session_note", {"text": "sentinel"}, seq=3)
    wait_for(lambda: sql(postgres, "SELECT last_seq FROM central_beds") == [(3,)])
    assert sql(postgres, "SELECT seq FROM central_events ORDER BY seq") == [(1,), (2,), (3,)]
    assert sql(postgres, "SELECT event FROM alarm_log ORDER BY id") == [
        ("raised",),
        ("acknowledged",),
    ]
    shown = central.bed(nurse, "bed-1")
    assert shown["alarms"][0]["signal"] == "acknowledged"  # not raised again by the resend
    assert httpx.get(f"{central.url}/api/v1/health").json()["duplicates"] == 1


def test_an_acknowledgement_at_the_central_goes_to_the_bed_and_comes_back(
    mosquitto: Mosquitto, postgres: str, run_central: Callable[..., Central], beds: Any
) -> None:
    central = run_central(mosquitto, postgres)
    nurse = central.login("nurse")
    sitter = central.login("sitter")
    bed = beds("bed-1")
    bed.probe.subscribe(f"{bed.root}/cmd/#")
    bed.online()
    bed.state([alarm("spo2_low@1")])
    wait_for(lambda: central.bed(nurse, "bed-1")["top_alarm"])
    path = "/api/v1/beds/bed-1/alarms/spo2_low@1/acknowledge"
    assert sitter.post(path).status_code == 403

    answer = nurse.post(path)
    assert answer.status_code == 202, answer.text
    command_id = answer.json()["command_id"]
    sent = json.loads(bed.probe.wait_message(f"{bed.root}/cmd/acknowledge").payload)
    assert sent["v"] == 1 and sent["command_id"] == command_id
    assert (sent["alarm_id"], sent["user"]) == ("spo2_low@1", "nurse")
    ack = central.bed(nurse, "bed-1")["top_alarm"]["central"]["ack"]
    assert ack["state"] == "acknowledging"
    assert nurse.post(path).status_code == 409  # one at a time

    bed.event("command_result", {"command_id": command_id, "ok": True,
                                 "detail": "acknowledged by nurse@central"})  # fmt: skip
    bed.event("alarm", transition("acknowledged", alarm_id="spo2_low@1", signal="acknowledged",
                                  acknowledged_by="nurse@central"))  # fmt: skip
    top = wait_for(
        lambda: (a := central.bed(nurse, "bed-1")["top_alarm"])["signal"] == "acknowledged" and a
    )
    assert (top["central"]["ack"]["state"], top["central"]["ack"]["detail"]) == (
        "ok",
        "acknowledged by nurse@central",
    )
    assert top["acknowledged_by"] == "nurse@central"
    audit = wait_for(lambda: sql(postgres, "SELECT bed, \"user\", action FROM audit_log "
                                 "WHERE action = 'acknowledge_sent'"))  # fmt: skip
    assert audit == [("bed-1", "nurse", "acknowledge_sent")]

    # An offline bed gets no command (nothing is queued for it).
    other = beds("bed-2")
    other.online()
    other.state([alarm("bp_high@1")])
    wait_for(lambda: central.bed(nurse, "bed-2")["top_alarm"])
    other.die()
    wait_for(lambda: central.bed(nurse, "bed-2")["status"] == "offline")
    refused = nurse.post("/api/v1/beds/bed-2/alarms/bp_high@1/acknowledge")
    assert (refused.status_code, refused.json()["detail"]) == (409, "bed offline")


def test_the_last_will_marks_a_bed_offline_and_silence_marks_it_stale(
    mosquitto: Mosquitto, postgres: str, run_central: Callable[..., Central], beds: Any
) -> None:
    central = run_central(mosquitto, postgres, stale_after_s=1)
    nurse = central.login("nurse")
    quiet, crashing = beds("bed-1"), beds("bed-2")
    for unit in (quiet, crashing):
        unit.online()
    wait_for(lambda: len(central.beds(nurse)) == 2)
    crashing.die()
    shown = wait_for(lambda: (b := central.bed(nurse, "bed-2"))["status"] == "offline" and b)
    assert shown["online"] is False and shown["last_seen"]
    # bed-1 says nothing more: stale after stale_after_s, and fresh again on its next heartbeat.
    wait_for(lambda: central.bed(nurse, "bed-1")["status"] == "stale", timeout=5)
    quiet.heartbeat()
    wait_for(lambda: central.bed(nurse, "bed-1")["status"] == "online", timeout=5)
    rows = wait_for(lambda: sql(postgres, "SELECT bed, online FROM central_beds ORDER BY bed")
                    == [("bed-1", True), ("bed-2", False)])  # fmt: skip
    assert rows


def test_an_unacknowledged_alarm_escalates_to_the_webhook_exactly_once(
    mosquitto: Mosquitto,
    postgres: str,
    run_central: Callable[..., Central],
    beds: Any,
    webhook: Webhook,
) -> None:
    central = run_central(mosquitto, postgres, escalate_after_s=1, webhook_url=webhook.url)
    nurse = central.login("nurse")
    bed = beds("bed-4")
    bed.online()
    bed.state([alarm("spo2_low@1", "high"), alarm("rr_low@1", "low")])
    first = wait_for(lambda: webhook.received, timeout=10)[0]
    assert (first["type"], first["bed"], first["clinic"]) == ("escalation", "bed-4", CLINIC)
    assert first["alarm"]["id"] == "spo2_low@1" and first["id"] == "bed-4/spo2_low@1"
    top = central.bed(nurse, "bed-4")["top_alarm"]
    assert top["central"]["escalated"] is True

    # Sentinel: a second alarm raised now escalates one interval later; by then the first, still
    # unacknowledged for twice the interval, would have been sent again if it ever were.
    bed.heartbeat()
    bed.state([alarm("spo2_low@1", "high"), alarm("rr_low@1", "low"), alarm("bp_high@1", "medium")])
    wait_for(lambda: len(webhook.received) >= 2, timeout=10)
    bed.heartbeat()
    wait_for(lambda: central.station.escalations == 2)
    assert sorted(e["alarm"]["id"] for e in webhook.received) == ["bp_high@1", "spo2_low@1"]
    rows = wait_for(lambda: sql(postgres, "SELECT bed FROM audit_log WHERE action = 'escalated'"))
    assert sorted(rows) == [("bed-4",), ("bed-4",)]


def test_a_dead_webhook_breaks_nothing(
    mosquitto: Mosquitto, postgres: str, run_central: Callable[..., Central], beds: Any
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    central = run_central(
        mosquitto, postgres, escalate_after_s=1, webhook_url=dead, webhook_retries=1
    )
    nurse = central.login("nurse")
    bed = beds("bed-5")
    bed.online()
    bed.state([alarm("spo2_low@1")])
    wait_for(lambda: central.bed(nurse, "bed-5")["top_alarm"]["central"]["escalated"], timeout=10)
    notifier = wait_for(
        lambda: (n := central.station.notifiers.health()[0])["failed_attempts"] >= 1 and n
    )
    assert notifier["ok"] is False and notifier["last_error"]
    # Everything else goes on: another bed's alarm arrives and can be acknowledged.
    other = beds("bed-6")
    other.probe.subscribe(f"{other.root}/cmd/#")
    other.online()
    other.event("alarm", transition("raised", alarm_id="hr_high@1"))
    wait_for(lambda: central.bed(nurse, "bed-6")["top_alarm"])
    answer = nurse.post("/api/v1/beds/bed-6/alarms/hr_high@1/acknowledge")
    assert answer.status_code == 202
    other.probe.wait_message(f"{other.root}/cmd/acknowledge")
    health = httpx.get(f"{central.url}/api/v1/health").json()
    assert health["broker"]["connected"] and health["storage"]["ok"]


def test_an_unreachable_broker_is_shown_and_the_central_connects_when_it_comes(
    mosquitto_tls: Tls, tmp_path: Path, run_central: Callable[..., Central]
) -> None:
    broker = Mosquitto(DEFAULT_USERS, tls=mosquitto_tls)  # its port is chosen, not yet listening
    try:
        db = f"sqlite:///{tmp_path / 'central.db'}"
        central = run_central(broker, db)
        health = wait_for(
            lambda: (
                (h := httpx.get(f"{central.url}/api/v1/health").json())["broker"][
                    "detail"
                ].startswith("central broker unreachable")
                and h
            )
        )
        assert health["status"] == "degraded" and health["broker"]["connected"] is False
        nurse = central.login("nurse")
        assert nurse.get("/api/v1/beds").json()["station"]["broker"]["connected"] is False
        broker.start()
        wait_for(
            lambda: httpx.get(f"{central.url}/api/v1/health").json()["status"] == "ok",
            timeout=20,
        )
        bed = Bed(broker, "bed-1")
        try:
            bed.online()
            wait_for(lambda: central.bed(nurse, "bed-1")["status"] == "online")
        finally:
            bed.close()
    finally:
        broker.close()


def test_events_sent_while_the_central_is_down_arrive_after_its_restart(
    mosquitto: Mosquitto, postgres: str, run_central: Callable[..., Central], beds: Any
) -> None:
    """The broker keeps the central's session: nothing a bed sent meanwhile is lost, and what
    was stored before is not stored twice."""
    first = run_central(mosquitto, postgres)
    bed = beds("bed-7")
    bed.online()
    bed.event("alarm", transition("raised", alarm_id="spo2_low@1"))
    wait_for(lambda: sql(postgres, "SELECT last_seq FROM central_beds") == [(1,)])
    first.stop()
    bed.event("alarm", transition("ended", alarm_id="spo2_low@1", signal="off"))
    bed.event("alarm", transition("raised", alarm_id="hr_high@1"))
    second = run_central(mosquitto, postgres)
    nurse = second.login("nurse")
    wait_for(lambda: sql(postgres, "SELECT last_seq FROM central_beds") == [(3,)], timeout=10)
    assert sql(postgres, "SELECT seq FROM central_events ORDER BY seq") == [(1,), (2,), (3,)]
    shown = wait_for(lambda: central_alarms(second, nurse, "bed-7") == ["hr_high@1"])
    assert shown


def central_alarms(central: Central, client: httpx.Client, bed: str) -> list[str]:
    return [a["id"] for a in central.bed(client, bed)["alarms"]]


def test_a_real_bedside_unit_reports_and_is_acknowledged_from_the_central(
    mosquitto: Mosquitto, postgres: str, run_central: Callable[..., Central], tmp_path: Path
) -> None:
    """End to end with the bedside uplink of service/link/uplink.py: an alarm at the bed,
    acknowledged at the central, recorded at the bed as the nurse "@central"."""
    from drivers.readings import PumpCondition, PumpReading, PumpState
    from service.settings import Settings
    from tests.support import start_server

    secret = tmp_path / "bed-1.secret"
    secret.write_text(mosquitto.users["bed-1"] + "\n")
    link = {"host": mosquitto.host, "port": mosquitto.port, "clinic": CLINIC,
            "ca_file": mosquitto.ca_file, "password_file": secret, "heartbeat_s": 0.5}  # fmt: skip
    unit = start_server(Settings(bed="bed-1", data_dir=tmp_path / "bed", central=link))
    try:
        central = run_central(mosquitto, postgres)
        nurse = central.login("nurse")
        wait_for(lambda: central.beds(nurse).get("bed-1", {}).get("status") == "online", 15)
        now = unit.app.state.runtime.clock.utcnow()
        door = frozenset({PumpCondition.DOOR_OPEN})
        unit.publish(PumpReading("pump", now, PumpState.STANDBY, conditions=door))
        top = wait_for(lambda: central.bed(nurse, "bed-1")["top_alarm"], timeout=10)
        assert top["key"] == "pump:pump::door_open"
        path = f"/api/v1/beds/bed-1/alarms/{top['id']}/acknowledge"
        assert nurse.post(path).status_code == 202
        done = wait_for(
            lambda: (
                (a := central.bed(nurse, "bed-1")["top_alarm"])["central"]["ack"]["state"] == "ok"
                and a
            ),
            timeout=10,
        )
        assert done["signal"] == "acknowledged" and done["acknowledged_by"] == "nurse@central"
        at_bed = unit.login("nurse").get("/api/v1/alarms").json()
        assert [a["acknowledged_by"] for a in at_bed if a["key"] == top["key"]] == ["nurse@central"]
    finally:
        unit.stop()


def test_each_event_is_stored_once_on_sqlite_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    upgrade(url)
    engine = central_engine(url)
    now = datetime.now(UTC)
    data = {"id": "a@1", "priority": "high", "signal": "on", "message": "m", "event": "raised"}
    log = {"bed": "bed-1", "alarm_id": "a@1", "key": "a", "kind": "physiological",
           "priority": "high", "state": "active", "message": "m", "source": "monitor",
           "started_at": now, "at": now, "event": "raised", "condition": "active",
           "signal": "on", "user": None, "notify": None, "cause": "", "mono": None}  # fmt: skip
    record = EventRecord("bed-1", 5, "alarm", now, now, json.dumps(data), log)
    try:
        write_batch(engine, CLINIC, [record])
        write_batch(engine, CLINIC, [record, EventRecord("bed-1", 3, "x", now, now, "{}")])
        with engine.connect() as conn:
            events = conn.exec_driver_sql("SELECT seq FROM central_events ORDER BY seq").all()
            logged = conn.exec_driver_sql("SELECT count(*) FROM alarm_log").scalar()
            last = conn.exec_driver_sql("SELECT last_seq FROM central_beds").all()
        assert ([tuple(r) for r in events], logged, [tuple(r) for r in last]) == (
            [(3,), (5,)],
            1,
            [(5,)],
        )
    finally:
        engine.dispose()


def test_a_database_outage_keeps_the_overview_live_and_loses_nothing(
    mosquitto: Mosquitto,
    postgres: str,
    postgres_server: Any,
    run_central: Callable[..., Central],
    beds: Any,
) -> None:
    central = run_central(mosquitto, postgres)
    nurse = central.login("nurse")
    bed = beds("bed-8")
    bed.online()
    wait_for(lambda: central.bed(nurse, "bed-8")["status"] == "online")
    name = make_url(postgres).database
    with postgres_server.connect() as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    try:
        bed.event("alarm", transition("raised", alarm_id="spo2_low@1"))
        health = wait_for(
            lambda: (
                not (h := httpx.get(f"{central.url}/api/v1/health").json())["storage"]["ok"] and h
            ),
            timeout=10,
        )
        assert health["status"] == "degraded" and health["storage"]["queued"] >= 1
        # Signed-in pages go on: the alarm is on the overview although it is not stored yet.
        assert central.bed(nurse, "bed-8")["top_alarm"]["id"] == "spo2_low@1"
    finally:
        with postgres_server.connect() as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    wait_for(lambda: httpx.get(f"{central.url}/api/v1/health").json()["storage"]["ok"], timeout=15)
    assert sql(postgres, "SELECT bed, seq FROM central_events") == [("bed-8", 1)]
    assert sql(postgres, "SELECT alarm_id FROM alarm_log") == [("spo2_low@1",)]
