"""Run the benchmarks, print the figures and write them into docs/benchmarks.md.

``python -m bench`` runs everything (``make bench``, under 10 minutes on the development
machine); ``python -m bench --quick`` runs shorter versions (for trying a change, not for the
record). The profile record (before/after) is kept by hand in bench/profile-notes.md and copied
into the document.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import alarm_burden, alarm_latency, central, codecs, e2e, engine, idle, storage

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
NOTES = Path(__file__).resolve().parent / "profile-notes.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def say(text: str) -> None:
    print(text, flush=True)


def mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="short runs, not for the record")
    args = parser.parse_args()
    q = args.quick
    logging.basicConfig(level=logging.ERROR)
    began = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (never part of `make test`); each run rewrites this file "
        "except the profile record at the end (bench/profile-notes.md). The methods are in "
        "each benchmark's module text (bench/*.py).",
        "",
        f"Machine: {machine()}. Date: {stamp}.",
        "",
    ]

    # 1. end-to-end alarm latency, one bed -------------------------------------------------
    one = e2e.run(1, clients=1, trials=60 if q else 200)
    say(f"e2e alarm latency, one bed, one client: p50 {one.p50_ms:.1f} ms, "
        f"p99 {one.p99_ms:.1f} ms, max {one.max_ms:.1f} ms")  # fmt: skip

    # 2. capacity (and the latency under load) ------------------------------------------------
    steps = (25, 50) if q else (25, 50, 100, 150)
    runs = e2e.capacity(steps, trials=60 if q else 200)
    passed = [r for r in runs if r.ok]
    best = max((r.devices for r in passed), default=0)
    loaded = next((r for r in runs if r.devices == 100), runs[-1])

    # 3. idle cost of one bed -------------------------------------------------------------------
    cost = idle.measure(cpu_s=20 if q else 60, rss_s=30 if q else 90)
    say(f"one bed: {cost.cpu_s_per_hour:.1f} CPU-s per hour, RSS {cost.rss_end_mb:.0f} MB "
        f"(bare service {cost.rss_bare_mb:.0f} MB), growth {cost.growth_mb_per_hour:+.2f} MB "
        f"per monitored hour over {cost.monitored_hours:.1f} h")  # fmt: skip

    # 4. codecs and the engine ----------------------------------------------------------------
    rows = codecs.run()
    for r in rows:
        say(f"{r.driver}: {r.mb_per_s:.2f} MB/s = {r.multiple:,.0f}× its line rate")
    rate = engine.throughput()
    say(f"alarm engine: {rate:,.0f} readings/s")
    inside = alarm_latency.measure(100 if q else 300)
    say(f"alarm signal generation delay: p50 {inside['p50_ms']:.2f} ms, "
        f"p99 {inside['p99_ms']:.2f} ms")  # fmt: skip

    # 5. storage and start-up -----------------------------------------------------------------
    store = storage.measure(speed=150, startups=3 if q else 5)
    say(f"storage: {store.bytes_per_session / 1e3:.0f} kB per 2.5 h session, "
        f"{store.mb_per_year:,.0f} MB per clinic-year; start-up to the first reading "
        f"{store.startup_median_s:.2f} s (median of {len(store.startup_s)})")  # fmt: skip

    # 6. the clinic central station -------------------------------------------------------------
    clinic = central.run(beds=16 if q else 64, trials=60 if q else 200)
    say(
        f"central, {clinic.beds} beds: bedside alarm → overview p50 {clinic.p50_ms:.1f} ms, "
        f"p99 {clinic.p99_ms:.1f} ms; broker {clinic.broker_cpu_pct:.1f} %, PostgreSQL "
        f"{clinic.postgres_cpu_pct:.1f} %, central {clinic.central_cpu_pct:.0f} % of a core"
    )

    took = time.perf_counter() - began
    say(f"benchmarks took {took / 60:.1f} min")

    # 7. the alarm burden of a simulated cohort (its own document, docs/alarm-burden.md) ----------
    burden_began = time.perf_counter()
    burden_out = Path(tempfile.gettempdir()) / "alarm-burden-quick.md" if q else alarm_burden.DOC
    burden_args = ["--sessions", "200" if q else "2000", "--no-fail", "--out", str(burden_out)]
    alarm_burden.main(burden_args)
    burden_took = time.perf_counter() - burden_began
    say(f"alarm burden took {burden_took / 60:.1f} min ({burden_out})")

    out += [
        "## Targets (issue: Benchmarks)",
        "",
        "| what | target | measured | |",
        "|---|---|---|---|",
        f"| alarm latency end to end, one bed, one client, p99 | < 25 ms | "
        f"{one.p99_ms:.1f} ms | {mark(one.p99_ms < 25)} |",
        f"| alarm latency under load ({loaded.devices} devices, 10 clients), p99 | < 100 ms | "
        f"{loaded.p99_ms:.1f} ms | {mark(loaded.ok)} |",
        f"| capacity: devices on one process with p99 < 100 ms and nothing lost | ≥ 100 | "
        f"{best}{'+' if len(passed) == len(runs) else ''} | {mark(best >= 100)} |",
        f"| CPU per hour of one bed (monitor + pump + 2 tablets) | ≤ 36 CPU-s | "
        f"{cost.cpu_s_per_hour:.1f} CPU-s | {mark(cost.cpu_s_per_hour <= 36)} |",
        f"| resident memory of one bed | ≤ 80 MB | {cost.rss_end_mb:.0f} MB | "
        f"{mark(cost.rss_end_mb <= 80)} |",
        f"| memory growth per monitored hour | 0 | {cost.growth_mb_per_hour:+.2f} MB | "
        f"{mark(abs(cost.growth_mb_per_hour) < 1)} |",
        f"| `make bench` run time, without the alarm burden | < 10 min | {took / 60:.1f} min | "
        f"{mark(took < 600)} |",
        f"| alarm burden, {burden_args[1]} sessions × 3 behaviours (docs/alarm-burden.md) | "
        f"≤ 5 min | {burden_took / 60:.1f} min | {mark(burden_took <= 300)} |",
        "",
        "## Alarm latency end to end",
        "",
        "From the return of the write of the last byte of a Masimo line with the sensor-off "
        "exception (a pty written by the benchmark; `sensor_delay_s = 0`, so the alarm has no "
        "condition delay) to the alarm message at a WebSocket client of a real `vigil serve` "
        "process (bench/e2e.py).",
        "",
        "| set-up | trials | p50 | p99 | max | CPU: service / simulator / clients (% of one core) "
        "| messages per client |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in [one, *runs]:
        status = "" if run.ok else " — " + ("; ".join(run.lost[:2]) or "p99 ≥ 100 ms")
        plural = "s" if run.clients > 1 else ""
        cpu = f"{run.service_cpu_pct:.0f} / {run.simulator_cpu_pct:.0f} / {run.clients_cpu_pct:.0f}"
        out.append(
            f"| {run.devices} devices + probe, {run.clients} client{plural}{status} | "
            f"{run.trials} | {run.p50_ms:.1f} ms | {run.p99_ms:.1f} ms | {run.max_ms:.1f} ms "
            f"| {cpu} | {run.messages_per_client_s:.0f}/s |"
        )
    out += [
        "",
        "Capacity: half the beds an emulated Masimo (1 line/s) with a B. Braun pump, half a GE "
        "CARESCAPE monitor with an Alaris pump (pumps polled every 5 s), each device on its own "
        "pty, the simulator in its own process on the same two cores. A step fails when p99 "
        "reaches 100 ms, a frame is rejected, a device is not connected at the end, or an "
        "oximeter delivered fewer than 90 % of its lines. "
        + (f"The largest passing step: **{best} devices**." if best else "No step passed.")
        + (
            " Every step passed: the capacity is at least that." if len(passed) == len(runs) else ""
        ),
        "",
        "## One bed: CPU and memory",
        "",
        f"- CPU: **{cost.cpu_s_per_hour:.1f} CPU-seconds per hour** of monitoring one GE "
        "monitor and one B. Braun pump with two tablets connected "
        f"({cost.cpu_s_per_hour / 36:.0%} of the 36 CPU-s budget).",
        f"- Resident memory: **{cost.rss_end_mb:.0f} MB** at the end of "
        f"{cost.monitored_hours:.1f} accelerated monitored hours (started at "
        f"{cost.rss_start_mb:.0f} MB), of which {cost.uss_end_mb:.0f} MB private to the process "
        f"(the rest: shared libraries' pages); the service alone with no device and no "
        f"sign-in: {cost.rss_bare_mb:.0f} MB.",
        f"- Growth: **{cost.growth_mb_per_hour:+.2f} MB per monitored hour** (least-squares "
        "slope over the second half of the run, after the caches' warm-up).",
        "",
        "## Codec decode throughput",
        "",
        "| driver | MB/s | × line rate | frames per pass |",
        "|---|---|---|---|",
    ]
    for r in rows:
        out.append(f"| `{r.driver}` | {r.mb_per_s:.2f} | {r.multiple:,.0f} | {r.frames} |")
    out += [
        "",
        "## Alarm engine",
        "",
        f"- Throughput: {rate:,.0f} readings/s through `AlarmEngine.observe` (one core).",
        f"- Alarm signal generation delay inside the service (reading published → alarm message "
        f"at a WebSocket client, real uvicorn in the benchmark's process, "
        f"{inside['trials']:.0f} trials): p50 {inside['p50_ms']:.2f} ms, "
        f"p99 {inside['p99_ms']:.2f} ms, max {inside['max_ms']:.2f} ms.",
        "",
        "## Storage and start-up",
        "",
        f"- One 2.5 h session (GE monitor + B. Braun pump, opened, started, noted, ended and "
        f"discharged through the API): **{store.bytes_per_session / 1e3:.0f} kB** of SQLite "
        f"pages; a clinic-year (6 chairs × 3 sessions a day × 250 days = "
        f"{storage.SESSIONS_PER_YEAR:,} sessions): **{store.mb_per_year:,.0f} MB**.",
        "",
        "| table | kB per session |",
        "|---|---|",
    ]
    for table, size in sorted(store.by_table.items(), key=lambda kv: -kv[1]):
        out.append(f"| `{table}` | {size / 1e3:.1f} |")
    out += [
        "",
        f"- Start-up, `vigil serve` started → first reading served by `GET /readings/latest` "
        f"(an emulated Masimo already sending): median **{store.startup_median_s:.2f} s** "
        f"({', '.join(f'{t:.2f}' for t in store.startup_s)} s).",
        "",
    ]
    out += [
        "## Clinic central station",
        "",
        f"{clinic.beds} beds simulated as MQTT clients publishing what a bedside unit publishes "
        "(state every second, vitals every 2 s, heartbeat every 5 s), a real Mosquitto (TLS, "
        "the shipped ACL), the central station as its own process on a real PostgreSQL "
        "(bench/central.py).",
        "",
        f"- Bedside alarm event published → shown at a WebSocket client of the overview, "
        f"{clinic.trials} trials: p50 **{clinic.p50_ms:.1f} ms**, p99 **{clinic.p99_ms:.1f} ms**, "
        f"max {clinic.max_ms:.1f} ms.",
        f"- Load: Mosquitto {clinic.broker_cpu_pct:.1f} % of a core, PostgreSQL (all its "
        f"processes) {clinic.postgres_cpu_pct:.1f} %, {clinic.db_rows_per_s:.0f} rows written "
        f"per second; the central {clinic.central_cpu_pct:.0f} % of a core and "
        f"{clinic.central_rss_mb:.0f} MB resident; {clinic.messages_per_s:.0f} overview "
        f"messages per second to one page.",
        "",
    ]
    if NOTES.exists():
        out += [NOTES.read_text().rstrip(), ""]
    DOC.write_text("\n".join(out) + "\n")
    say(f"written to {DOC}")


if __name__ == "__main__":
    main()
