"""kill -9 at random moments: no acknowledged action and no acknowledged alarm is lost.

A real ``vigil serve`` process (SQLite in WAL mode, synchronous=FULL) is killed with SIGKILL
while a client keeps acting on it — limit changes, audio pauses, notes, acknowledgements.
Everything the service answered 200 to must be in the database afterwards, twenty times in a
row.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from service.settings import Settings
from tests.support import PINS, add_test_users, free_port, wait_for

pytestmark = pytest.mark.e2e

ROUNDS = 20


class Acting(threading.Thread):
    """Acts as fast as the service answers; remembers what was acknowledged with a 200."""

    def __init__(self, url: str, round_no: int, session_id: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.round_no = round_no
        self.session_id = session_id
        self.limits: list[str] = []  # audit details "hr_medium a→b" answered 200
        self.notes: list[str] = []
        self.pauses = 0
        self.acknowledged: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        client = httpx.Client(base_url=self.url, timeout=5)
        try:
            client.post("/api/v1/auth/login", json={"username": "nurse", "pin": PINS["nurse"]})
            i = 0
            while not self.stop.is_set():
                i += 1
                value = 100 + (self.round_no * 1000 + i) / 10_000
                r = client.put("/api/v1/alarms/limits", json={"limits": {"hr_medium": value}})
                if r.status_code == 200:
                    self.limits.append(f"→{value:g}")
                text = f"note {self.round_no}-{i}"
                r = client.post(
                    f"/api/v1/sessions/{self.session_id}/notes",
                    json={"kind": "other", "text": text},
                )
                if r.status_code == 200:
                    self.notes.append(text)
                if client.post("/api/v1/audio/pause", json={"seconds": 10}).status_code == 200:
                    self.pauses += 1
                for alarm in client.get("/api/v1/alarms").json():
                    if alarm["signal"] == "on":
                        r = client.post(f"/api/v1/alarms/{alarm['id']}/acknowledge")
                        if r.status_code == 200 and r.json():
                            self.acknowledged.append(alarm["id"])
        except (httpx.HTTPError, ValueError):
            return  # the service died under us: what was answered is what counts


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    # The oximeter is missing on purpose: its "disconnected" alarm is there to acknowledge.
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--device",
            f"masimo-ascii={data_dir / 'no-such-port'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def test_twenty_kills_lose_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_test_users(Settings(data_dir=data))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rng = random.Random(7)
    session_id = 0
    total_pauses = 0
    for round_no in range(ROUNDS):
        proc = serve(data, port)
        try:
            wait_for(lambda: up(url), timeout=20)
            if not session_id:
                nurse = httpx.Client(base_url=url)
                nurse.post("/api/v1/auth/login", json={"username": "nurse", "pin": "222222"})
                created = nurse.post(
                    "/api/v1/sessions",
                    json={
                        "patient": "P-001",
                        "weight_kg": 70,
                        "dose_mg_per_kg": 0.5,
                        "concentration_mg_ml": 1,
                        "duration_min": 40,
                    },
                )
                assert created.status_code == 200, created.text
                session_id = created.json()["id"]
            actor = Acting(url, round_no, session_id)
            actor.start()
            # Kill at a random moment once the client is busy (in mid-request, most likely).
            wait_for(lambda: actor.limits or not actor.is_alive(), timeout=20)  # noqa: B023
            time.sleep(rng.uniform(0.0, 0.8))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        actor.stop.set()
        actor.join(timeout=10)

        db = sqlite3.connect(data / "vigil.db")
        audit = [d for (d,) in db.execute("SELECT detail FROM audit_log")]
        notes = {t for (t,) in db.execute("SELECT text FROM session_notes")}
        (pauses,) = db.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'audio_paused'"
        ).fetchone()
        acked = {
            a for (a,) in db.execute("SELECT alarm_id FROM alarm_log WHERE event='acknowledged'")
        }
        db.close()
        for detail in actor.limits:
            assert any(d.endswith(detail) for d in audit), (round_no, detail)
        assert set(actor.notes) <= notes, round_no
        assert pauses >= total_pauses + actor.pauses, round_no
        total_pauses = pauses
        assert set(actor.acknowledged) <= acked, round_no
        assert actor.limits or actor.notes, "the service answered nothing in this round"
