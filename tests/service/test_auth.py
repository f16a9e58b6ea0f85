"""Users, PINs, roles, the nurse's PIN at a sitter's tablet, origin checks, audit."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from drivers.readings import Availability, AvailabilityChange
from service.auth.passwords import hash_secret, verify_secret
from service.auth.users import AuthError, Role, UserStore
from service.persistence.db import make_engine, upgrade
from tests.support import RunningServer, wait_for

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def test_scrypt_hash_round_trip_and_salting() -> None:
    stored = hash_secret("2468")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_secret("2468", stored)
    assert not verify_secret("2469", stored)
    assert hash_secret("2468") != stored  # salted
    assert not verify_secret("2468", "garbage")


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    upgrade(url)
    return UserStore(make_engine(url))


def test_wrong_pins_never_lock_an_account_and_write_nothing(store: UserStore) -> None:
    """No lock-out: twenty wrong PINs, then the right one works at once (the throttle, per
    client, is in service/auth/throttle.py); a wrong PIN writes nothing to the database."""
    from sqlalchemy import event

    store.add("kim", "Kim", Role.NURSE, "246813", T0)
    writes: list[str] = []
    listen = lambda *a: writes.append(a[2])  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listen)
    for _ in range(20):
        with pytest.raises(AuthError, match=r"^wrong user name or PIN$"):
            store.verify("kim", "000000", T0)
    assert store.verify("kim", "246813", T0).role is Role.NURSE
    event.remove(store.engine, "before_cursor_execute", listen)
    assert [w for w in writes if not w.lstrip().upper().startswith("SELECT")] == []


def test_user_rules(store: UserStore) -> None:
    with pytest.raises(ValueError, match="PIN is 4–12 digits"):
        store.add("ana", "Ana", Role.SITTER, "12", T0)
    for role in (Role.NURSE, Role.ADMIN):  # staff: at least 6 digits, or a password
        with pytest.raises(ValueError, match="at least 6 digits"):
            store.add("bo", "Bo", role, "12345", T0)
    store.add("bo", "Bo", Role.NURSE, "123456", T0)
    store.add("cy", "Cy", Role.ADMIN, "a long password", T0)
    with pytest.raises(ValueError, match="user names"):
        store.add("Bad Name", "", Role.SITTER, "1234", T0)
    store.add("ana", "", Role.SITTER, "1234", T0)
    with pytest.raises(ValueError, match="exists already"):
        store.add("ana", "", Role.SITTER, "1234", T0)
    store.set_active("ana", False)
    with pytest.raises(AuthError):
        store.verify("ana", "1234", T0)
    with pytest.raises(AuthError, match="wrong user name or PIN"):
        store.verify("nobody", "1234", T0)


def test_roles_cookies_and_the_nurse_pin_flow(serve: Callable[..., RunningServer]) -> None:
    server = serve()
    runtime = server.app.state.runtime
    assert httpx.get(f"{server.url}/api/v1/auth/me").status_code == 401
    bad = httpx.post(f"{server.url}/api/v1/auth/login", json={"username": "kim", "pin": "1"})
    assert bad.status_code == 401
    sitter = server.login("sitter")
    cookie = sitter.cookies.jar
    assert any(c.name == "vigil_session" and c.has_nonstandard_attr("HttpOnly") for c in cookie)
    assert sitter.get("/api/v1/auth/me").json()["role"] == "sitter"

    # A technical alarm to act on.
    server_loop_publish(
        server,
        AvailabilityChange("monitor", Availability.DISCONNECTED, runtime.clock.utcnow(), "test"),
    )
    alarm = wait_for(lambda: sitter.get("/api/v1/alarms").json())[0]
    url = f"/api/v1/alarms/{alarm['id']}/acknowledge"

    # The sitter may pause audio but not acknowledge alone.
    assert sitter.post("/api/v1/audio/pause", json={"seconds": 60}).status_code == 200
    refused = sitter.post(url)
    assert refused.status_code == 403 and "nurse must confirm" in refused.json()["detail"]
    assert sitter.post(url, json={"username": "sitter", "pin": "1111"}).status_code == 403
    assert sitter.post(url, json={"username": "nurse", "pin": "999999"}).status_code == 401
    done = sitter.post(url, json={"username": "nurse", "pin": "222222"})
    assert done.status_code == 200
    assert done.json()[0]["event"] == "acknowledged" and done.json()[0]["user"] == "nurse"
    assert (
        sitter.put("/api/v1/alarms/limits", json={"limits": {"hr_medium": 110}}).status_code == 403
    )
    nurse = server.login("nurse")
    assert (
        nurse.put("/api/v1/alarms/limits", json={"limits": {"hr_medium": 110}}).status_code == 200
    )
    assert nurse.put("/api/v1/alarms/limits", json={"limits": {"hr_medium": 5}}).status_code == 422
    assert nurse.get("/api/v1/users").status_code == 403
    admin = server.login("admin")
    short = admin.post("/api/v1/users", json={"username": "bo", "pin": "4444", "role": "nurse"})
    assert short.status_code == 422 and "at least 6 digits" in short.text
    added = admin.post("/api/v1/users", json={"username": "bo", "pin": "444444", "role": "nurse"})
    assert added.status_code == 200

    audit = wait_for(
        lambda: [r for r in nurse.get("/api/v1/audit").json() if r["action"] == "user_added"]
    )
    actions = {(r["action"], r["user"]) for r in nurse.get("/api/v1/audit").json()}
    assert {
        ("signed_in", "sitter"),
        ("audio_paused", "sitter"),
        ("acknowledged", "nurse"),
        ("limits_changed", "nurse"),
    } <= actions
    assert not any(a == "sign_in_refused" for a, _ in actions)  # one wrong PIN: not broadcast
    assert audit[0]["detail"] == "bo as nurse"


def server_loop_publish(server: RunningServer, event: object) -> None:
    """Publish on the server's own event loop (as a device session would)."""
    runtime = server.app.state.runtime
    loop = runtime.loop
    loop.call_soon_threadsafe(runtime.publish, event)


def test_cross_site_posts_are_refused(serve: Callable[..., RunningServer]) -> None:
    server = serve()
    sitter = server.login("sitter")
    forged = sitter.post("/api/v1/audio/pause", headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403
    same = sitter.post("/api/v1/audio/pause", headers={"Origin": server.url})
    assert same.status_code == 200


def test_signed_in_tablet_survives_a_restart(serve: Callable[..., RunningServer]) -> None:
    server = serve()
    sitter = server.login("sitter")
    time.sleep(0.2)  # the sign-in is written by a worker thread
    server.stop()
    again = serve(port=server.port)
    assert httpx.get(f"{again.url}/api/v1/auth/me", cookies=sitter.cookies).status_code == 200


def test_users_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    base = [sys.executable, "-m", "service", "users"]
    added = subprocess.run(
        [*base, "add", "kim", "--role", "nurse", "--pin-stdin", "--db", db],
        input="246813\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [*base, "list", "--db", db], capture_output=True, text=True, check=False
    )
    assert "kim" in listed.stdout and "nurse" in listed.stdout
    bad = subprocess.run(
        [*base, "add", "x", "--role", "nurse", "--pin-stdin", "--db", db],
        input="12\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "vigil: " in bad.stderr


def test_the_live_socket_closes_when_the_sign_in_ends(serve: Callable[..., RunningServer]) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    server = serve()
    sitter = server.login("sitter")
    token = sitter.cookies["vigil_session"]
    with connect(server.ws_url, additional_headers={"Cookie": f"vigil_session={token}"}) as ws:
        assert '"snapshot"' in str(ws.recv(timeout=5))
        sitter.post("/api/v1/auth/logout")
        with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012
            while True:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
