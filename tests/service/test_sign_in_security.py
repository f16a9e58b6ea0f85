"""Sign-ins against an attacker on the clinic network, on a real uvicorn server.

* wrong PINs are throttled per (client, user name), never locked per account: a stranger cannot
  lock a nurse out, neither her sign-in nor her confirmation at a sitter's tablet;
* an unknown name and a real one get the same answers;
* a burst of wrong PINs is audited once and raises one LOW technical alarm;
* only user actions extend a sign-in; the extension survives a restart; a user disabled from
  the command line is signed out within 5 s;
* nurse and admin PINs are at least 6 digits; a shorter old one must be changed first;
* limit changes survive a restart, and one that cannot be stored is refused with 503;
* a signed (discharged) session takes no more notes.

Time on the server is injected (``ShiftClock``): the tests move it instead of sleeping.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from service.api.app import create_app
from service.auth.throttle import Throttle
from service.auth.users import AuthError, Role, UserStore
from service.persistence.db import make_engine, upgrade
from service.settings import Settings
from tests.support import PINS, RunningServer, add_test_users, free_port, run_app, wait_for

pytestmark = pytest.mark.e2e


class ShiftClock:
    """The system clocks plus an offset the test moves (wall and monotonic together)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def utcnow(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> ShiftClock:
    return ShiftClock()


@pytest.fixture
def serve(tmp_path: Path, clock: ShiftClock) -> Iterator[Callable[..., RunningServer]]:
    servers: list[RunningServer] = []

    def start(**kw: Any) -> RunningServer:
        settings = Settings(data_dir=tmp_path / "data", **kw)
        add_test_users(settings)
        running = run_app(create_app(settings, clock), free_port())
        servers.append(running)
        return running

    yield start
    for running in servers:
        running.stop()


def client_from(server: RunningServer, address: str) -> httpx.Client:
    """An HTTP client whose connections come from another loopback address (another tablet)."""
    return httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(local_address=address))


def login(client: httpx.Client, username: str, pin: str) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"username": username, "pin": pin})


def guess(client: httpx.Client, clock: ShiftClock, username: str, times: int) -> list[int]:
    """Wrong PINs as fast as the throttle allows (the test moves the clock past each wait)."""
    statuses = []
    for _ in range(times):
        answer = login(client, username, "000000")
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            clock.advance(float(answer.headers["Retry-After"]))
            statuses.append(login(client, username, "000000").status_code)
    return statuses


# -- the throttle itself (pure) -------------------------------------------------------------


def test_the_throttle_grows_per_key_and_reports_a_burst_once() -> None:
    t = Throttle(free=3, base_s=1.0, cap_s=300.0, burst_at=5, quiet_s=600.0)
    assert [t.delay_after(n) for n in range(1, 8)] == [0, 0, 0, 1, 2, 4, 8]
    assert t.delay_after(100) == 300.0
    bursts = [t.failed("a", "Nurse", 0.0) for _ in range(7)]
    assert [b is not None for b in bursts] == [False] * 4 + [True] + [False] * 2
    assert t.wait("a", "nurse", 0.0) == 8.0  # user names compared case-insensitively
    assert t.wait("b", "nurse", 0.0) == 0.0  # another client: not slowed
    assert t.wait("a", "sitter", 0.0) == 0.0  # another name: not slowed
    assert t.bursting(599.0) and not t.bursting(600.0)
    t.succeeded("a", "nurse")
    assert t.wait("a", "nurse", 0.0) == 0.0
    assert t.begin("a", "nurse") and not t.begin("a", "nurse")  # one attempt at a time
    t.end("a", "nurse")
    assert t.begin("a", "nurse")


def test_an_unknown_name_costs_the_same_as_a_wrong_pin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    upgrade(url)
    store = UserStore(make_engine(url))
    store.add("kim", "Kim", Role.NURSE, "246813", datetime.now(UTC))

    def cost(name: str) -> float:
        start = time.perf_counter()
        with pytest.raises(AuthError, match=r"^wrong user name or PIN$"):
            store.verify(name, "000000", datetime.now(UTC))
        return time.perf_counter() - start

    for name in ("kim", "nobody"):  # warm up
        cost(name)
    known = statistics.median(cost("kim") for _ in range(7))
    unknown = statistics.median(cost("nobody") for _ in range(7))
    assert 0.6 < known / unknown < 1.6, (known, unknown)


# -- no lock-out by strangers ----------------------------------------------------------------


def test_a_strangers_wrong_pins_never_block_a_nurse(
    serve: Callable[..., RunningServer], clock: ShiftClock
) -> None:
    server = serve()
    nurse = server.login("nurse")
    sitter = server.login("sitter")
    stranger = client_from(server, "127.0.0.2")

    statuses = guess(stranger, clock, "nurse", 12)
    assert statuses[:3] == [401, 401, 401] and 429 in statuses
    # Throttled: even the right PIN from the stranger's address waits (it is not even checked).
    assert login(stranger, "nurse", PINS["nurse"]).status_code == 429

    # The signed-in nurse goes on working.
    assert nurse.get("/api/v1/auth/me").status_code == 200
    change = nurse.put("/api/v1/alarms/limits", json={"limits": {"hr_medium": 118}})
    assert change.status_code == 200, change.text
    # A nurse confirming at the sitter's tablet is not slowed by the stranger's guesses.
    proof = {"username": "nurse", "pin": PINS["nurse"]}
    opened = sitter.post(
        "/api/v1/sessions",
        json={
            "patient": "P-1",
            "weight_kg": 70,
            "dose_mg_per_kg": 0.5,
            "concentration_mg_ml": 1,
            "duration_min": 40,
        }
        | proof,
    )
    assert opened.status_code == 200, opened.text
    # The nurse signs in from her own tablet at once.
    assert login(client_from(server, "127.0.0.3"), "nurse", PINS["nurse"]).status_code == 200


def test_unknown_and_real_names_get_the_same_answers(
    serve: Callable[..., RunningServer], clock: ShiftClock
) -> None:
    server = serve()
    answers = {}
    for name, address in (("nurse", "127.0.0.4"), ("nobody", "127.0.0.5")):
        client = client_from(server, address)
        seen = [login(client, name, "000000") for _ in range(5)]
        answers[name] = [(a.status_code, a.json()["detail"]) for a in seen]
    assert answers["nurse"] == answers["nobody"]
    assert answers["nurse"][0] == (401, "wrong user name or PIN")
    assert answers["nurse"][-1][0] == 429 and "try again in" in answers["nurse"][-1][1]


def test_a_burst_of_wrong_pins_is_audited_once_and_raises_one_low_alarm(
    serve: Callable[..., RunningServer], clock: ShiftClock
) -> None:
    server = serve()
    sitter = server.login("sitter")
    token = sitter.cookies["vigil_session"]
    messages: list[dict[str, Any]] = []
    with connect(server.ws_url, additional_headers={"Cookie": f"vigil_session={token}"}) as ws:
        ws.recv(timeout=5)
        guess(client_from(server, "127.0.0.6"), clock, "nurse", 10)
        alarm = wait_for(
            lambda: [
                a for a in sitter.get("/api/v1/alarms").json() if a["key"] == "service:wrong_pins"
            ]
        )[0]
        assert alarm["priority"] == "low" and alarm["kind"] == "technical"
        assert "repeated wrong PINs" in alarm["message"]
        try:
            while True:
                messages.append(json.loads(ws.recv(timeout=0.5)))
        except TimeoutError:
            pass
    audit = [r for r in sitter.get("/api/v1/audit").json() if r["action"] != "signed_in"]
    assert [r["action"] for r in audit] == ["wrong_pins"]
    actions = [m for m in messages if m.get("type") == "action"]
    assert [m["action"] for m in actions] == ["wrong_pins"]  # once, not per attempt
    # Quiet for 10 minutes: the alarm ends by itself.
    clock.advance(601)
    wait_for(
        lambda: (
            not [a for a in sitter.get("/api/v1/alarms").json() if a["key"] == "service:wrong_pins"]
        ),
        timeout=6,
    )


# -- sign-in lifetime ------------------------------------------------------------------------


def test_only_user_actions_extend_a_sign_in_and_an_idle_nurse_is_signed_out(
    serve: Callable[..., RunningServer], clock: ShiftClock
) -> None:
    server = serve()
    idle, busy = server.login("nurse"), server.login("nurse")
    token = idle.cookies["vigil_session"]
    with connect(server.ws_url, additional_headers={"Cookie": f"vigil_session={token}"}) as ws:
        ws.recv(timeout=5)
        clock.advance(10 * 60)
        assert idle.get("/api/v1/alarms").status_code == 200  # a read: no extension
        assert busy.post("/api/v1/audio/resume").status_code == 200  # an action: extended
        ws.send(json.dumps({"type": "heartbeat"}))  # socket traffic: no extension
        clock.advance(6 * 60)  # 16 min after sign-in: past the 15 min staff limit
        with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012
            while True:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert idle.get("/api/v1/auth/me").status_code == 401
    assert busy.get("/api/v1/auth/me").status_code == 200  # 6 min after its last action
    clock.advance(10 * 60)
    assert busy.get("/api/v1/auth/me").status_code == 401


def test_an_extended_sign_in_survives_a_restart(
    serve: Callable[..., RunningServer], clock: ShiftClock, tmp_path: Path
) -> None:
    server = serve()
    sitter = server.login("sitter")
    first = wait_for(lambda: stored_expiry(tmp_path))  # written by a worker thread
    clock.advance(11 * 3600)
    assert sitter.post("/api/v1/audio/resume").status_code == 200  # extends to 23 h
    wait_for(lambda: (stored_expiry(tmp_path) or first) > first + timedelta(hours=10))
    server.stop()
    clock.advance(2 * 3600)  # 13 h after sign-in: only the stored extension keeps it
    again = serve()
    assert httpx.get(f"{again.url}/api/v1/auth/me", cookies=sitter.cookies).status_code == 200


def stored_expiry(tmp_path: Path) -> datetime | None:
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "vigil.db") as db:
        rows = db.execute("SELECT expires FROM sign_ins").fetchall()
    if not rows:
        return None
    return max(datetime.fromisoformat(r[0]) for r in rows).replace(tzinfo=UTC)


def test_a_user_disabled_from_the_command_line_is_signed_out_within_5_s(
    serve: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = serve()
    nurse = server.login("nurse")
    db = f"sqlite:///{tmp_path / 'data' / 'vigil.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "service", "users", "disable", "nurse", "--db", db],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    wait_for(lambda: nurse.get("/api/v1/auth/me").status_code == 401, timeout=5)
    assert login(httpx.Client(base_url=server.url), "nurse", PINS["nurse"]).status_code == 401


# -- PIN length ------------------------------------------------------------------------------


def test_a_short_staff_pin_must_be_changed_before_anything_else(
    serve: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = serve()
    old = UserStore(server.app.state.runtime.db, staff_pin_digits=4)
    old.add("olga", "Olga", Role.NURSE, "4321", datetime.now(UTC))  # set before the rule
    olga = httpx.Client(base_url=server.url)
    me = login(olga, "olga", "4321").json()
    assert me["must_change_pin"] is True
    refused = olga.get("/api/v1/alarms")
    assert refused.status_code == 403 and "change your PIN" in refused.text
    sitter = server.login("sitter")
    proof = sitter.post("/api/v1/audio/resume", json={})
    assert proof.status_code == 200
    walk_up = sitter.post(
        "/api/v1/sessions",
        json={
            "patient": "P-2",
            "weight_kg": 70,
            "dose_mg_per_kg": 0.5,
            "concentration_mg_ml": 1,
            "duration_min": 40,
            "username": "olga",
            "pin": "4321",
        },
    )
    assert walk_up.status_code == 403 and "must change the PIN" in walk_up.text
    short = olga.post("/api/v1/auth/pin", json={"pin": "4321", "new_pin": "1234"})
    assert short.status_code == 422 and "at least 6 digits" in short.text
    changed = olga.post("/api/v1/auth/pin", json={"pin": "4321", "new_pin": "135790"})
    assert changed.status_code == 200 and changed.json()["must_change_pin"] is False
    assert olga.get("/api/v1/alarms").status_code == 200
    assert login(httpx.Client(base_url=server.url), "olga", "135790").json()["role"] == "nurse"


# -- limits persist ----------------------------------------------------------------------------


def test_a_limit_change_survives_a_restart_and_an_unstorable_one_is_refused(
    serve: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve()
    nurse = server.login("nurse")
    assert (
        nurse.put("/api/v1/alarms/limits", json={"limits": {"hr_medium": 112}}).status_code == 200
    )

    def full_disk(*args: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr("service.alarm_runner.save_limits", full_disk)
    refused = nurse.put("/api/v1/alarms/limits", json={"limits": {"hr_medium": 125}})
    assert refused.status_code == 503 and "not saved" in refused.text
    assert nurse.get("/api/v1/alarms/limits").json()["hr_medium"]["value"] == 112
    monkeypatch.undo()
    server.stop()

    again = serve()
    limits = again.login("nurse").get("/api/v1/alarms/limits").json()
    assert limits["hr_medium"]["value"] == 112
    assert again.app.state.runtime.engine.limits.hr_medium == 112


# -- records -----------------------------------------------------------------------------------


def test_a_signed_session_takes_no_more_notes(serve: Callable[..., RunningServer]) -> None:
    server = serve()
    nurse = server.login("nurse")
    sid = nurse.post(
        "/api/v1/sessions",
        json={
            "patient": "P-3",
            "weight_kg": 70,
            "dose_mg_per_kg": 0.5,
            "concentration_mg_ml": 1,
            "duration_min": 40,
        },
    ).json()["id"]
    note = {"kind": "nausea", "text": "mild"}
    assert nurse.post(f"/api/v1/sessions/{sid}/notes", json=note).status_code == 200
    signed = nurse.post(f"/api/v1/sessions/{sid}/discharge", json={"override_reason": "test"})
    assert signed.status_code == 200
    late = nurse.post(f"/api/v1/sessions/{sid}/notes", json=note)
    assert late.status_code == 409 and "signed" in late.text
    assert len(nurse.get(f"/api/v1/sessions/{sid}").json()["notes"]) == 1
