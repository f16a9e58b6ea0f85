"""Alarm latency end to end, and capacity.

Latency: the probe (an emulated Masimo on a pty written by the benchmark) sends a line with the
sensor-off exception; with ``sensor_delay_s = 0`` that is a technical alarm with no condition
delay. The time runs from the return of the write of the line's last byte to the arrival of the
alarm message at a WebSocket client of a real ``vigil serve`` process; a normal line then ends
the alarm before the next trial (spaced 20–70 ms apart at random).

Capacity: the same, with N other devices on their own ptys at their real rates (the simulator,
in its own process: half the beds a Masimo oximeter at 1 line/s with a B. Braun pump polled
every 5 s, half a GE CARESCAPE monitor sending every 5 s with an Alaris pump polled every 5 s)
and 10 tablets on the live socket. N grows until p99 passes 100 ms or a reading is lost: a
frame rejected, a device not connected at the end, or an oximeter that delivered fewer lines
than its rate promises.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from bench.system import Probe, Service, Simulator, Tablet, percentile, proc_stat, wait, workdir

PROBE = "probe"
KEY = f"sensor:{PROBE}:sensor_off"


@dataclass
class Run:
    devices: int  # besides the probe
    clients: int
    trials: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: list[str]
    service_cpu_pct: float  # of one core, during the trials
    simulator_cpu_pct: float  # the emulated devices' processes
    clients_cpu_pct: float  # this process: the probe and the tablets
    service_rss_mb: float
    messages_per_client_s: float

    @property
    def ok(self) -> bool:
        return not self.lost and self.p99_ms < 100.0


def _trials(tablet: Tablet, probe: Probe, trials: int, rng: random.Random) -> list[float]:
    delays = []
    for _ in range(trials):
        time.sleep(rng.uniform(0.02, 0.07))
        before, sent = probe.write(True)
        received = tablet.expect(KEY, "active", before)
        # The reader thread may timestamp the answer before this thread reads the clock after
        # its write: that is a delay of (almost) nothing.
        delays.append(max(0.0, received - sent) * 1000)
        before, _ = probe.write(False)
        tablet.expect(KEY, "cleared", before)
    return delays


def _lost(service: Service, seconds: float, rejected_before: dict[str, int]) -> list[str]:
    lost = []
    for d in service.health()["devices"]:
        name = d["source"]
        if d["availability"] != "connected":
            lost.append(f"{name} {d['availability']}")
        if d.get("frames_rejected", 0) > rejected_before.get(name, 0):
            lost.append(f"{name} rejected {d['frames_rejected']} frames")
    return lost


@dataclass
class Rig:
    service: Service
    probe: Probe
    sims: list[Simulator]
    watcher: Tablet  # receives the probe's alarms
    others: list[Tablet]


def rig(stack: contextlib.ExitStack, tmp: Path, beds: int, clients: int) -> Rig:
    """The capacity set-up, running and connected: ``beds`` simulated beds (half Masimo + B.
    Braun, half GE + Alaris), the probe, a ``vigil serve`` reading them all, ``clients``
    tablets. Everything is stopped when ``stack`` closes."""
    sims = []
    if beds:
        half = beds - beds // 2
        sims.append(Simulator(tmp / "links-a", half, "masimo-ascii", "bbraun-bcc", seed=1))
        stack.callback(sims[-1].stop)
        if beds // 2:
            sims.append(Simulator(tmp / "links-b", beds // 2, "ge-dri", "alaris-asena", seed=1000))
            stack.callback(sims[-1].stop)
    probe = Probe()
    stack.callback(probe.close)
    devices = [f"{PROBE}:masimo-ascii={probe.path}"]
    for i, sim in enumerate(sims):
        devices += sim.specs("ab"[i])
    service = Service(tmp / "data", devices, limits={"sensor_delay_s": 0})
    service.start()
    stack.callback(service.stop)
    cookie = service.cookie()
    watcher = Tablet(service, cookie, watch=True)
    watcher.start()
    stack.callback(watcher.close)
    others = [Tablet(service, cookie) for _ in range(clients - 1)]
    for t in others:
        t.start()
        stack.callback(t.close)
    wait(
        lambda: all(d["availability"] == "connected" for d in service.health()["devices"]),
        60,
        f"all {len(devices)} devices connected",
    )
    return Rig(service, probe, sims, watcher, others)


def run(beds: int, clients: int, trials: int = 200, settle_s: float = 8.0) -> Run:
    """``beds`` simulated beds (2 devices each: ``2 * beds`` devices) plus the probe."""
    rng = random.Random(beds)
    with workdir(f"e2e-{beds}") as tmp, contextlib.ExitStack() as stack:
        r = rig(stack, tmp, beds, clients)
        service, probe, sims, watcher, others = r.service, r.probe, r.sims, r.watcher, r.others
        time.sleep(settle_s)
        before = service.health()
        rejected = {d["source"]: d.get("frames_rejected", 0) for d in before["devices"]}
        ok_before = {d["source"]: d.get("frames_ok", 0) for d in before["devices"]}
        cpu0, t0 = proc_stat(service.pid).cpu_s, time.perf_counter()
        sim0 = sum(proc_stat(sim.proc.pid).cpu_s for sim in sims)
        own0 = sum(os.times()[:2])
        messages0 = sum(t.messages for t in [watcher, *others])
        delays = _trials(watcher, probe, trials, rng)
        elapsed = time.perf_counter() - t0
        stat = proc_stat(service.pid)
        sim_cpu = sum(proc_stat(sim.proc.pid).cpu_s for sim in sims) - sim0
        own_cpu = sum(os.times()[:2]) - own0
        messages = sum(t.messages for t in [watcher, *others]) - messages0
        lost = _lost(service, elapsed, rejected)
        # Oximeters promise a line a second: fewer than 90 % of that over the trials is a loss.
        after = service.health()
        for d in after["devices"]:
            if d["driver"] == "masimo-ascii" and d["source"] != PROBE:
                got = d.get("frames_ok", 0) - ok_before.get(d["source"], 0)
                if got < 0.9 * elapsed - 1:
                    lost.append(f"{d['source']} {got} lines in {elapsed:.0f} s")
        return Run(
            devices=2 * beds,
            clients=clients,
            trials=len(delays),
            p50_ms=percentile(delays, 50),
            p99_ms=percentile(delays, 99),
            max_ms=max(delays),
            lost=lost,
            service_cpu_pct=100 * (stat.cpu_s - cpu0) / elapsed,
            simulator_cpu_pct=100 * sim_cpu / elapsed,
            clients_cpu_pct=100 * own_cpu / elapsed,
            service_rss_mb=stat.rss_mb,
            messages_per_client_s=messages / max(1, clients) / elapsed,
        )


def capacity(steps: tuple[int, ...] = (10, 25, 50, 75, 100), trials: int = 200) -> list[Run]:
    """Beds per step (2 devices each); stops at the first step that fails."""
    runs = []
    for beds in steps:
        try:
            r = run(beds, clients=10, trials=trials)
        except TimeoutError as exc:  # the devices did not even all connect: a failed step
            nan = float("nan")
            r = Run(2 * beds, 10, 0, nan, nan, nan, [str(exc)], nan, nan, nan, nan, nan)
        runs.append(r)
        status = "ok" if r.ok else "FAILS: " + ("; ".join(r.lost[:3]) or "p99 ≥ 100 ms")
        print(
            f"capacity {r.devices} devices + probe, 10 clients: p50 {r.p50_ms:.1f} ms, "
            f"p99 {r.p99_ms:.1f} ms, max {r.max_ms:.1f} ms, "
            f"CPU: service {r.service_cpu_pct:.0f} %, simulator {r.simulator_cpu_pct:.0f} %, "
            f"clients {r.clients_cpu_pct:.0f} %, "
            f"RSS {r.service_rss_mb:.0f} MB — {status}",
            flush=True,
        )
        if not r.ok:
            break
    return runs


if __name__ == "__main__":
    print(run(1, clients=1))
