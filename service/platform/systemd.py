"""systemd readiness and watchdog (``sd_notify``), standard library only.

Usage (in the FastAPI lifespan, after ``await runtime.start()``)::

    from service.platform import systemd

    systemd.notify_ready(f"serving {settings.bed}")          # Type=notify: "started"
    task = asyncio.create_task(systemd.watchdog_task(), name="systemd-watchdog")
    ...
    systemd.notify_stopping()                                 # at shutdown, then cancel task

Everything is a no-op returning ``False`` when the process was not started by systemd
(``$NOTIFY_SOCKET`` unset), so the same code runs on a laptop and in tests.

``watchdog_task()`` sends ``WATCHDOG=1`` from the event loop every half ``WatchdogSec``: if the
loop freezes (a blocking call, a deadlock) the pings stop and systemd kills and restarts the
service (``Restart=on-failure``). Pass ``healthy`` to also stop pinging when, for example, the
alarm runner has died.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def _address(env: Mapping[str, str]) -> str | None:
    path = env.get("NOTIFY_SOCKET")
    if not path:
        return None
    if path.startswith("@"):  # abstract namespace
        return "\0" + path[1:]
    if path.startswith("/"):
        return path
    return None  # vsock:… (virtual machines) and anything else: not supported


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (``"READY=1"``, ``"WATCHDOG=1\\nSTATUS=…"``) to systemd.

    Returns whether it was sent. Never blocks (a full socket queue drops the message) and never
    raises: the watchdog's absence of pings is the signal, not an exception here.
    """
    address = _address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)
            sock.sendto(state.encode(), address)
    except OSError as exc:
        log.debug("sd_notify %r failed: %s", state, exc)
        return False
    return True


def notify_ready(status: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Tell systemd the service is up (``Type=notify``), optionally with a status line."""
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""), env)


def notify_watchdog(env: Mapping[str, str] | None = None) -> bool:
    return notify("WATCHDOG=1", env)


def notify_status(status: str, env: Mapping[str, str] | None = None) -> bool:
    """A free-text status line shown by ``systemctl status vigil``."""
    return notify(f"STATUS={status}", env)


def notify_stopping(env: Mapping[str, str] | None = None) -> bool:
    return notify("STOPPING=1", env)


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """``WatchdogSec`` in seconds if systemd expects pings from *this* process, else ``None``.

    systemd sets ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, which must be our pid when set).
    """
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    return usec / 1_000_000


async def watchdog_task(
    interval: float | None = None,
    *,
    healthy: Callable[[], bool] | None = None,
    send: Callable[[], bool] | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Ping the watchdog every ``interval / 2`` seconds from the event loop, forever.

    ``interval`` defaults to ``watchdog_interval()``; without one (not under systemd, or no
    ``WatchdogSec``) the task returns at once. While ``healthy()`` is false no ping is sent,
    so systemd restarts the service after ``WatchdogSec``.
    """
    interval = watchdog_interval(env) if interval is None else interval
    if interval is None:
        log.debug("no systemd watchdog expected: not pinging")
        return
    period = interval / 2
    ping = send if send is not None else (lambda: notify_watchdog(env))
    log.info("systemd watchdog: pinging every %.1f s", period)
    withholding = False
    last = time.monotonic()
    while True:
        if healthy is None or healthy():
            if withholding:
                log.warning("healthy again: systemd watchdog pings resumed")
                withholding = False
            ping()
        elif not withholding:
            log.critical("not healthy: withholding systemd watchdog pings (restart expected)")
            withholding = True
        await asyncio.sleep(period)
        now = time.monotonic()
        if now - last > interval * 0.9:
            log.warning("event loop stalled for %.1f s (watchdog %.1f s)", now - last, interval)
        last = now
