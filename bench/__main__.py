"""Run the benchmarks, print the figures and write them into docs/benchmarks.md."""

from __future__ import annotations

import logging
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench import alarm_latency, codecs, engine

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


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


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = codecs.run()
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (never part of `make test`); each run rewrites this file.",
        "",
        f"Machine: {machine()}. Date: {stamp}.",
        "",
        "## Codec decode throughput",
        "",
        "| driver | MB/s | × line rate | frames per pass |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| `{r.driver}` | {r.mb_per_s:.2f} | {r.multiple:,.0f} | {r.frames} |")
        print(f"{r.driver}: {r.mb_per_s:.2f} MB/s = {r.multiple:,.0f}× its line rate")
    rate = engine.throughput()
    print(f"alarm engine: {rate:,.0f} readings/s")
    lat = alarm_latency.measure()
    print(f"alarm signal generation delay: p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms")
    lines += [
        "",
        "## Alarm engine",
        "",
        f"- Throughput: {rate:,.0f} readings/s through `AlarmEngine.observe` (one core).",
        f"- Alarm signal generation delay inside the service (reading published → alarm message "
        f"at a WebSocket client, real uvicorn, {lat['trials']:.0f} trials): "
        f"p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, max {lat['max_ms']:.2f} ms.",
    ]
    DOC.write_text("\n".join(lines) + "\n")
    print(f"written to {DOC}")


if __name__ == "__main__":
    main()
