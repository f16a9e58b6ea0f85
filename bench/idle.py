"""The cost of one bed: CPU seconds per hour of monitoring, and resident memory with its growth.

One ``vigil serve`` process reads one emulated GE CARESCAPE monitor and one B. Braun pump (the
simulator in its own process) and serves two tablets on the live socket.

* CPU: the service process's user + system time (``/proc/PID/stat``) over ``cpu_s`` seconds at
  the devices' real rates, after a warm-up, scaled to one hour.
* Memory: the simulator runs ``speed`` times faster than real time (the monitor sends
  ``speed`` times as often), so ``rss_s`` seconds are ``rss_s * speed / 3600`` hours of
  monitoring; RSS is sampled every few seconds and the growth per monitored hour is the slope
  of a least-squares line through the second half of the samples. Measured over 3.7 monitored
  hours, RSS rises by about 2 MB in the first two hours (SQLite's page caches and the
  allocator's pools filling) and is flat after that, so the run covers 3 hours and the slope
  is taken after the warm-up.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass

from bench.system import Service, Simulator, Tablet, proc_stat, wait, workdir


@dataclass
class Idle:
    cpu_s_per_hour: float
    rss_start_mb: float
    rss_end_mb: float
    uss_end_mb: float
    growth_mb_per_hour: float
    monitored_hours: float
    rss_bare_mb: float  # the service with no device and no tablet, after start-up


def _bed(tmp_name: str, speed: float) -> tuple[contextlib.ExitStack, Service]:
    stack = contextlib.ExitStack()
    tmp = stack.enter_context(workdir(tmp_name))
    sim = Simulator(tmp / "links", 1, "ge-dri", "bbraun-bcc", speed=speed)
    stack.callback(sim.stop)
    service = Service(tmp / "data", sim.specs("bed"))
    service.start()
    stack.callback(service.stop)
    cookie = service.cookie()
    for _ in range(2):
        tablet = Tablet(service, cookie)
        tablet.start()
        stack.callback(tablet.close)
    wait(
        lambda: all(d["availability"] == "connected" for d in service.health()["devices"]),
        60,
        "the monitor and the pump connected",
    )
    return stack, service


def bare_rss() -> float:
    with workdir("bare") as tmp:
        service = Service(tmp / "data", [])
        service.start()
        try:
            time.sleep(2)
            return proc_stat(service.pid).rss_mb
        finally:
            service.stop()


def measure(cpu_s: float = 60.0, rss_s: float = 90.0, speed: float = 120.0) -> Idle:
    bare = bare_rss()
    stack, service = _bed("idle-cpu", 1.0)
    with stack:
        time.sleep(10)  # warm-up: handshakes, first readings, history loads
        c0, t0 = proc_stat(service.pid).cpu_s, time.perf_counter()
        time.sleep(cpu_s)
        used = proc_stat(service.pid).cpu_s - c0
        cpu_per_hour = used / (time.perf_counter() - t0) * 3600
    stack, service = _bed("idle-rss", speed)
    with stack:
        samples: list[tuple[float, float]] = []
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < rss_s:
            samples.append((elapsed * speed / 3600, proc_stat(service.pid).rss_mb))
            time.sleep(3)
        end = proc_stat(service.pid)
        samples.append(((time.perf_counter() - t0) * speed / 3600, end.rss_mb))
    tail = samples[len(samples) // 2 :]
    slope = statistics.linear_regression([h for h, _ in tail], [m for _, m in tail]).slope
    return Idle(
        cpu_s_per_hour=cpu_per_hour,
        rss_start_mb=samples[0][1],
        rss_end_mb=samples[-1][1],
        uss_end_mb=end.uss_mb,
        growth_mb_per_hour=slope,
        monitored_hours=samples[-1][0],
        rss_bare_mb=bare,
    )


if __name__ == "__main__":
    print(measure(cpu_s=30, rss_s=45))
