"""Run the benchmarks, print the figures and write them into docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench import codecs

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
    DOC.write_text("\n".join(lines) + "\n")
    print(f"written to {DOC}")


if __name__ == "__main__":
    main()
