"""service.platform.systemd against a real unix datagram socket standing in for systemd's
NOTIFY_SOCKET: READY=1 and WATCHDOG=1 arrive; a frozen event loop stops the pings."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.platform import systemd


class FakeSystemd:
    """Receives notifications in a thread and stamps each with time.monotonic()."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def received(self, timeout: float = 2.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not self.messages and time.monotonic() < deadline:
            time.sleep(0.005)
        return [m for _, m in self.messages]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def fake_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSystemd]:
    path = tmp_path / "notify"
    fake = FakeSystemd(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield fake
    fake.close()


def test_ready_with_status(fake_systemd: FakeSystemd) -> None:
    assert systemd.notify_ready("serving chair-1")
    assert fake_systemd.received() == ["READY=1\nSTATUS=serving chair-1"]


def test_watchdog_status_and_stopping(fake_systemd: FakeSystemd) -> None:
    assert systemd.notify_watchdog()
    assert systemd.notify_status("2 tablets")
    assert systemd.notify_stopping()
    deadline = time.monotonic() + 2
    while len(fake_systemd.messages) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert [m for _, m in fake_systemd.messages] == ["WATCHDOG=1", "STATUS=2 tablets", "STOPPING=1"]


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"vigil-test-{uuid.uuid4().hex}"
    fake = FakeSystemd("\0" + name)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify_ready()
        assert fake.received() == ["READY=1"]
    finally:
        fake.close()


def test_without_systemd_everything_is_a_quiet_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify_ready() is False
    assert systemd.notify_watchdog() is False
    assert systemd.notify("READY=1", env={"NOTIFY_SOCKET": "vsock:2:1234"}) is False


def test_nobody_listening_is_not_an_error(tmp_path: Path) -> None:
    assert systemd.notify("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "10000000"}, 10.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}, 10.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}, None),  # meant for another pid
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "ten"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert systemd.watchdog_interval(env) == expected


async def test_watchdog_task_returns_at_once_without_a_watchdog() -> None:
    await asyncio.wait_for(systemd.watchdog_task(env={}), 1.0)


async def test_pings_stop_while_the_event_loop_is_frozen(
    fake_systemd: FakeSystemd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # WatchdogSec=0.2 s: a ping every 0.1 s
    task = asyncio.create_task(systemd.watchdog_task())
    await asyncio.sleep(0.45)
    pinged_before = len(fake_systemd.messages)

    async def freeze() -> None:
        time.sleep(0.6)  # noqa: ASYNC251 - a blocking call on the loop: what the watchdog is for

    frozen_from = time.monotonic()
    await freeze()
    frozen_until = time.monotonic()
    await asyncio.sleep(0.35)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    stamps = [t for t, m in fake_systemd.messages if m == "WATCHDOG=1"]
    assert pinged_before >= 3  # 0.45 s at 0.1 s
    during = [t for t in stamps if frozen_from + 0.1 < t < frozen_until - 0.02]
    assert during == []  # systemd would have killed us after 0.2 s
    gap = max(b - a for a, b in itertools.pairwise(stamps))
    assert gap >= 0.55
    assert sum(t > frozen_until for t in stamps) >= 2  # and the pings came back


async def test_unhealthy_withholds_pings(fake_systemd: FakeSystemd) -> None:
    healthy = True
    sent: list[float] = []

    def ping() -> bool:
        sent.append(time.monotonic())
        return True

    task = asyncio.create_task(systemd.watchdog_task(0.04, healthy=lambda: healthy, send=ping))
    await asyncio.sleep(0.1)
    assert len(sent) >= 3
    healthy = False
    await asyncio.sleep(0.03)  # let a ping already due go out
    count = len(sent)
    await asyncio.sleep(0.1)
    assert len(sent) == count
    healthy = True
    await asyncio.sleep(0.1)
    assert len(sent) > count
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
