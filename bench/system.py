"""Whole-system benchmark parts: a real ``vigil serve`` process, the simulator as its own
process, a probe device on a pty the benchmark writes itself, and tablet clients on the live
WebSocket. Used by ``e2e.py`` (latency, capacity), ``idle.py`` (CPU, memory) and ``storage.py``.

Everything runs on loopback in a temporary directory and is stopped at the end, whatever
happens. Nothing here is imported by the service or the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from service.auth.users import Role, UserStore
from service.persistence.db import make_engine, upgrade
from simulator.devices.masimo import EXC_SENSOR_OFF, EXC_SET_MODE, format_line

USER, PIN = "bench", "123456"
VIGIL = Path(sys.executable).with_name("vigil")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait(condition: Any, timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"benchmark: {what} not within {timeout:.0f} s")


# -- processes -------------------------------------------------------------------------------


@dataclass
class ProcStat:
    cpu_s: float
    rss_mb: float
    uss_mb: float  # private to the process (RSS without the shared libraries' pages)


def proc_stat(pid: int) -> ProcStat:
    """User + system CPU seconds and resident memory of one process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    private_kb = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            private_kb += int(line.split()[1])
    return ProcStat((utime + stime) / CLK_TCK, rss_pages * PAGE / 1e6, private_kb * 1024 / 1e6)


class Simulator:
    """``python -m simulator --beds N`` with its links under ``link_dir/bed-K/``."""

    def __init__(
        self, link_dir: Path, beds: int, monitor: str, pump: str, speed: float = 1.0, seed: int = 1
    ) -> None:
        self.link_dir = link_dir
        self.beds = beds
        self.monitor, self.pump = monitor, pump
        log = (link_dir.parent / f"simulator-{link_dir.name}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--beds", str(beds), "--monitor", monitor,
             "--pump", pump, "--link-dir", str(link_dir), "--speed", str(speed),
             "--seed", str(seed)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        roles = ["monitor"] + ([] if pump == "none" else ["pump"])
        wait(
            lambda: all(
                (link_dir / f"bed-{b}" / r).exists() for b in range(1, beds + 1) for r in roles
            ),
            30,
            f"simulator with {beds} beds",
        )

    def specs(self, prefix: str) -> list[str]:
        out = []
        for b in range(1, self.beds + 1):
            out.append(f"{prefix}{b}-mon:{self.monitor}={self.link_dir / f'bed-{b}' / 'monitor'}")
            if self.pump != "none":
                out.append(f"{prefix}{b}-pump:{self.pump}={self.link_dir / f'bed-{b}' / 'pump'}")
        return out

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Probe:
    """A Masimo Rad-8 on a pty the benchmark writes itself: a normal line, or one with the
    sensor-off exception bit, which raises the technical alarm ``sensor:probe:sensor_off`` at
    once when ``sensor_delay_s`` is 0. Timed from the return of the write of the last byte."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave  # kept open: the port must not hang up between the service's opens
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drain = threading.Thread(target=self._discard_input, daemon=True)
        self._drain.start()
        self._keep = threading.Thread(target=self._keep_alive, daemon=True)
        self._keep.start()
        self.sensor_off = False

    def _discard_input(self) -> None:
        while not self._stop.is_set():
            try:
                if not os.read(self.master, 4096):
                    return
            except OSError:
                return

    def _keep_alive(self) -> None:
        while not self._stop.wait(1.0):
            self.write(self.sensor_off)

    def write(self, sensor_off: bool) -> tuple[float, float]:
        """(perf_counter before the write, after its last byte was written)."""
        exc = EXC_SET_MODE | (EXC_SENSOR_OFF if sensor_off else 0)
        spo2, bpm, pi = (None, None, None) if sensor_off else (98.0, 72.0, 3.1)
        line = format_line(datetime.now(UTC), "0000012345", spo2, bpm, pi, exc)
        with self._lock:
            self.sensor_off = sensor_off
            view = memoryview(line)
            before = time.perf_counter()
            while view:
                view = view[os.write(self.master, view) :]
            return before, time.perf_counter()

    def close(self) -> None:
        self._stop.set()
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class Service:
    """A real ``vigil serve`` process with a TOML configuration."""

    data_dir: Path
    devices: list[str]
    limits: dict[str, float] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    _cookie: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite:///{self.data_dir / 'vigil.db'}"
        upgrade(db_url)
        engine = make_engine(db_url)
        store = UserStore(engine)
        if USER not in {u.username for u in store.all()}:
            store.add(USER, "Benchmark", Role.NURSE, PIN, datetime.now(UTC))
        engine.dispose()
        config = self.data_dir / "vigil.toml"
        lines = [
            'bed = "bench"',
            f"port = {self.port}",
            f'data_dir = "{self.data_dir}"',
            "devices = [" + ", ".join(json.dumps(d) for d in self.devices) + "]",
            "client_timeout_s = 10",
        ]
        if self.limits:
            lines.append("[alarm_limits]")
            lines += [f"{k} = {v}" for k, v in self.limits.items()]
        config.write_text("\n".join(lines) + "\n")
        log = (self.data_dir / "service.log").open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(VIGIL), "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        if wait_ready:
            wait(self.healthy, 60, "vigil serve to answer")

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            tail = (self.data_dir / "service.log").read_text()[-2000:]
            raise RuntimeError(f"vigil serve exited:\n{tail}")
        try:
            return httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def health(self) -> dict[str, Any]:
        """The signed-in health answer (an anonymous caller gets status and bed only)."""
        if self._cookie is None:
            self._cookie = self.cookie()
        result: dict[str, Any] = httpx.get(
            f"{self.url}/api/v1/health", timeout=10, headers={"Cookie": self._cookie}
        ).json()
        return result

    def cookie(self) -> str:
        r = httpx.post(f"{self.url}/api/v1/auth/login", json={"username": USER, "pin": PIN})
        r.raise_for_status()
        return f"vigil_session={r.cookies['vigil_session']}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Tablet(threading.Thread):
    """A tablet on the live socket: reads everything, answers the heartbeat, and hands alarm
    messages to whoever waits for one (``expect``)."""

    def __init__(self, service: Service, cookie: str, watch: bool = False) -> None:
        super().__init__(daemon=True)
        self.ws: ClientConnection = connect(
            f"ws://127.0.0.1:{service.port}/api/v1/live",
            additional_headers={"Cookie": cookie},
            max_size=None,
        )
        self.watch = watch
        self.messages = 0
        self.stopped = threading.Event()
        self._cond = threading.Condition()
        self._alarms: list[tuple[float, dict[str, Any]]] = []

    def run(self) -> None:
        last_beat = 0.0
        while not self.stopped.is_set():
            try:
                raw = self.ws.recv(timeout=0.5)
            except TimeoutError:
                raw = None
            except Exception:
                return
            now = time.perf_counter()
            if now - last_beat > 1.0:
                with contextlib.suppress(Exception):
                    self.ws.send('{"type": "heartbeat"}')
                last_beat = now
            if raw is None:
                continue
            self.messages += 1
            if self.watch and '"alarm"' in raw:
                message = json.loads(raw)
                if message.get("type") == "alarm":
                    with self._cond:
                        self._alarms.append((now, message))
                        self._cond.notify_all()

    def expect(self, key: str, state: str, after: float, timeout: float = 10.0) -> float:
        """perf_counter time of the first alarm message for ``key`` in ``state`` received after
        ``after``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for at, message in self._alarms:
                    if at >= after and message.get("key") == key and message["state"] == state:
                        self._alarms.clear()
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {state} alarm {key} within {timeout} s")
                self._cond.wait(left)

    def close(self) -> None:
        self.stopped.set()
        with contextlib.suppress(Exception):
            self.ws.close()
        self.join(timeout=5)


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory; kept (and named on stderr) when VIGIL_BENCH_KEEP is set."""
    if os.environ.get("VIGIL_BENCH_KEEP"):
        d = tempfile.mkdtemp(prefix=f"vigil-bench-{prefix}-")
        print(f"benchmark files kept in {d}", file=sys.stderr)
        yield Path(d)
        return
    with tempfile.TemporaryDirectory(prefix=f"vigil-bench-{prefix}-") as d:
        yield Path(d)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]
