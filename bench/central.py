"""The clinic central station under 64 beds: bedside alarm → central overview latency, and the
load on the broker, the database and the central.

A real Mosquitto (the shipped configuration and ACL, TLS) and a real PostgreSQL are started in
temporary directories (tests/central/infra.py), and the central station runs as its own process
on PostgreSQL. The 64 beds are simulated in this process by 64 MQTT clients, each signed in as
its bed and publishing what a bedside unit publishes (docs/mqtt.md): its status, a retained
state every second, vitals every 2 s, a heartbeat every 5 s. A bedside unit's own cost is
measured by bench/idle.py; simulating the beds keeps 64 of them on a 2-core machine.

Latency: bed-1 publishes an alarm event (QoS 1); the time runs from the publish call to the
arrival, at a WebSocket client of the central's overview (`/api/v1/central/live`), of the bed
message that shows the alarm; an "ended" event then clears it before the next trial.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from websockets.sync.client import connect

from bench.system import free_port, percentile, proc_stat, wait
from central.db import upgrade
from central.tables import EventRow, ReadingRow
from service.auth.users import Role, UserStore
from service.persistence.db import make_engine
from tests.central.infra import Mosquitto, Postgres

CLINIC = "bench"
METRICS = (("hr", "bpm", 72.0), ("spo2", "%", 97.0), ("pulse_rate", "bpm", 72.0),
           ("resp_rate", "/min", 14.0))  # fmt: skip


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Bed:
    """One simulated bedside unit on the broker."""

    def __init__(self, broker: Mosquitto, name: str) -> None:
        self.name = name
        self.root = f"vigil/v1/{CLINIC}/{name}/up"
        self.seq = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-{name}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(name, broker.users[name])
        self.client.tls_set(ca_certs=str(broker.ca_file))
        offline = json.dumps({"v": 1, "bed": name, "online": False, "at": now_iso()})
        self.client.will_set(f"{self.root}/status", offline, qos=1, retain=True)
        self.client.connect(broker.host, broker.port, keepalive=5)
        self.client.loop_start()
        self.publish("status", {"online": True, "version": "bench"}, qos=1, retain=True)

    def publish(self, leaf: str, body: dict[str, Any], qos: int = 0, retain: bool = False) -> Any:
        payload = json.dumps({"v": 1, "bed": self.name, "at": now_iso(), **body})
        return self.client.publish(f"{self.root}/{leaf}", payload, qos=qos, retain=retain)

    def vitals(self) -> list[dict[str, Any]]:
        at = now_iso()
        return [
            {"source": "monitor", "metric": m, "value": v, "unit": u, "validity": "valid",
             "measured_at": at, "mdc_code": None}
            for m, u, v in METRICS
        ]  # fmt: skip

    def state(self, alarms: list[dict[str, Any]]) -> None:
        vitals = {v["metric"]: v for v in self.vitals()}
        body = {"vitals": vitals, "alarms": alarms, "infusion": None, "devices": []}
        self.publish("state", body, qos=1, retain=True)

    def event(self, data: dict[str, Any]) -> Any:
        self.seq += 1
        body = {"seq": self.seq, "id": f"{self.name}/{self.seq}", "kind": "alarm", "data": data}
        return self.publish("events", body, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def alarm(bed: str, n: int, active: bool) -> dict[str, Any]:
    at = now_iso()
    return {
        "id": f"bench_{n}@{bed}", "key": f"bench_{n}", "kind": "technical", "priority": "medium",
        "marker": "**", "message": f"benchmark alarm {n}", "source": "monitor",
        "started_at": at, "condition": "active" if active else "inactive",
        "signal": "on" if active else "off", "latching": False, "acknowledged_by": None,
        "acknowledged_at": None, "responsible": None, "escalated": False, "cause": "bench",
        "state": "active" if active else "cleared", "event": "raised" if active else "ended",
        "at": at, "user": None, "notify": None,
    }  # fmt: skip


@dataclass
class CentralRun:
    beds: int
    trials: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    broker_cpu_pct: float
    postgres_cpu_pct: float
    central_cpu_pct: float
    central_rss_mb: float
    db_rows_per_s: float
    messages_per_s: float


def _postgres_pids(server: Postgres) -> list[int]:
    """The postmaster (first line of postmaster.pid) and its children: the whole server."""
    master = int((server.data / "postmaster.pid").read_text().split()[0])
    pids = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == master:
                    pids.append(int(entry.name))
    return pids


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += proc_stat(pid).cpu_s
    return total


def run(beds: int = 64, trials: int = 200, measure_s: float = 0.0) -> CentralRun:
    names = [f"bed-{n}" for n in range(1, beds + 1)]
    users = {"central": "central-pw", **{n: f"{n}-pw" for n in names}}
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(Mosquitto(users))
        pg = stack.enter_context(Postgres())
        db = pg.create_database("central_bench")
        upgrade(db)
        engine = make_engine(db)
        stack.callback(engine.dispose)
        UserStore(engine).add("bench", "Bench", Role.NURSE, "123456", datetime.now(UTC))
        port = free_port()
        env = dict(os.environ) | {
            "VIGIL_CENTRAL_CLINIC": CLINIC, "VIGIL_CENTRAL_BROKER_HOST": broker.host,
            "VIGIL_CENTRAL_BROKER_PORT": str(broker.port),
            "VIGIL_CENTRAL_CA_FILE": str(broker.ca_file),
            "VIGIL_CENTRAL_PASSWORD": users["central"], "VIGIL_CENTRAL_DB_URL": db,
            "VIGIL_CENTRAL_PORT": str(port), "VIGIL_CENTRAL_ESCALATE_AFTER_S": "3600",
        }  # fmt: skip
        code = (
            "import uvicorn\n"
            "from central.app import create_central_app\n"
            "from central.settings import StationSettings\n"
            "s = StationSettings()\n"
            "uvicorn.run(create_central_app(s), host='127.0.0.1', port=s.port, "
            "log_level='warning', ws_per_message_deflate=False)\n"
        )
        log = (broker.directory / "central.log").open("wb")
        central = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip

        def stop_central() -> None:
            central.terminate()
            central.wait(10)

        stack.callback(stop_central)
        url = f"http://127.0.0.1:{port}"

        def login() -> str | None:
            try:
                r = httpx.post(f"{url}/api/v1/auth/login",
                               json={"username": "bench", "pin": "123456"}, timeout=2)  # fmt: skip
                return (
                    f"vigil_session={r.cookies['vigil_session']}" if r.status_code == 200 else None
                )
            except httpx.HTTPError:
                return None

        cookie = wait(login, 60, "the central station to answer")
        sims = [Bed(broker, n) for n in names]
        for b in sims:
            stack.callback(b.close)
        stop = threading.Event()
        probe_alarms: list[dict[str, Any]] = []

        def background() -> None:
            # Real beds are not in step: each bed's second starts at its own offset.
            tick, gap = 0, 1.0 / len(sims)
            while not stop.is_set():
                tick += 1
                for b in sims:
                    if stop.wait(gap):
                        return
                    b.state(probe_alarms if b is sims[0] else [])
                    if tick % 2 == 0:
                        b.publish("vitals", {"readings": b.vitals()})
                    if tick % 5 == 0:
                        b.publish("heartbeat", {"outbox": 0})

        thread = threading.Thread(target=background, daemon=True)
        thread.start()
        stack.callback(stop.set)
        ws = stack.enter_context(
            connect(f"ws://127.0.0.1:{port}/api/v1/central/live",
                    additional_headers={"Cookie": cookie}, max_size=None)
        )  # fmt: skip
        lock = threading.Lock()
        seen: dict[str, float] = {}  # alarm id -> arrival (perf_counter) of "shown"
        gone: dict[str, float] = {}
        received = [0]

        def reader() -> None:
            last_beat = 0.0
            while not stop.is_set():
                try:
                    raw = ws.recv(timeout=0.5)
                except TimeoutError:
                    raw = None
                except Exception:
                    return
                t = time.perf_counter()
                if t - last_beat > 1:
                    with contextlib.suppress(Exception):
                        ws.send('{"type": "heartbeat"}')
                    last_beat = t
                if raw is None:
                    continue
                received[0] += 1
                if '"bed-1"' not in raw:
                    continue
                msg = json.loads(raw)
                bed_json = msg.get("bed") if msg.get("type") == "bed" else None
                if not isinstance(bed_json, dict) or bed_json.get("bed") != "bed-1":
                    continue
                ids = {a.get("id") for a in bed_json.get("alarms", [])}
                with lock:
                    for i in ids:
                        seen.setdefault(i, t)
                    for i in list(seen):
                        if i not in ids:
                            gone.setdefault(i, t)

        threading.Thread(target=reader, daemon=True).start()

        def all_beds() -> bool:
            body = httpx.get(f"{url}/api/v1/beds", headers={"Cookie": cookie}).json()
            return len(body.get("beds", [])) >= beds

        wait(all_beds, 60, f"all {beds} beds at the central")
        time.sleep(3)
        pg_pids = _postgres_pids(pg)
        assert broker.process is not None
        broker_pid = broker.process.pid
        cpu0 = (proc_stat(broker_pid).cpu_s, _cpu(pg_pids), proc_stat(central.pid).cpu_s)

        def rows() -> int:
            with Session(engine) as s:
                a = s.scalar(select(func.count()).select_from(ReadingRow)) or 0
                b = s.scalar(select(func.count()).select_from(EventRow)) or 0
                return int(a + b)

        rows0, msgs0, t0 = rows(), received[0], time.perf_counter()
        delays = []
        probe = sims[0]
        for n in range(trials):
            time.sleep(0.05)
            data = alarm("bed-1", n, True)
            probe_alarms[:] = [data]  # its next state snapshot shows it, as a real bed's does
            sent = time.perf_counter()
            probe.event(data)
            wait(lambda i=data["id"]: i in seen, 10, "the alarm at the central", step=0.0005)
            delays.append((seen[data["id"]] - sent) * 1000)
            probe_alarms[:] = []
            probe.event(alarm("bed-1", n, False))
            wait(lambda i=data["id"]: i in gone, 10, "the alarm's end at the central", step=0.001)
        if measure_s:
            time.sleep(max(0.0, measure_s - (time.perf_counter() - t0)))
        elapsed = time.perf_counter() - t0
        cpu1 = (proc_stat(broker_pid).cpu_s, _cpu(pg_pids), proc_stat(central.pid).cpu_s)
        rows1 = wait(lambda: rows(), 5, "rows")
        return CentralRun(
            beds=beds,
            trials=len(delays),
            p50_ms=percentile(delays, 50),
            p99_ms=percentile(delays, 99),
            max_ms=max(delays),
            broker_cpu_pct=100 * (cpu1[0] - cpu0[0]) / elapsed,
            postgres_cpu_pct=100 * (cpu1[1] - cpu0[1]) / elapsed,
            central_cpu_pct=100 * (cpu1[2] - cpu0[2]) / elapsed,
            central_rss_mb=proc_stat(central.pid).rss_mb,
            db_rows_per_s=(rows1 - rows0) / elapsed,
            messages_per_s=(received[0] - msgs0) / elapsed,
        )


if __name__ == "__main__":
    print(run(beds=int(sys.argv[1]) if len(sys.argv) > 1 else 64))
