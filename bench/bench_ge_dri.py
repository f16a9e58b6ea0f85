"""Decode throughput of the GE DRI codec on the real B650 session capture.

    python bench/bench_ge_dri.py

Prints MB/s for the whole capture fed at once and in 64-byte reads, and the ratio to what a
19200-baud 8E1 line can deliver (19200 / 11 bits per byte ≈ 1.75 kB/s).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.codecs.ge_dri import GeDriCodec

CAPTURE = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "fixtures"
    / "ge-carescape"
    / "b650-2018-07-26-session.raw"
)
LINE_BYTES_PER_S = 19200 / 11  # start bit, 8 data bits, parity, stop bit


def decode(data: bytes, chunk: int) -> int:
    codec = GeDriCodec()
    count = 0
    for at in range(0, len(data), chunk):
        codec.receive(data[at : at + chunk])
        count += sum(1 for _ in codec.events())
    return count


def measure(data: bytes, chunk: int, repeat: int = 20) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        decode(data, chunk)
        best = min(best, time.perf_counter() - start)
    return len(data) / best


def main() -> None:
    data = CAPTURE.read_bytes()
    print(f"capture: {len(data):,} bytes, {decode(data, len(data))} events")
    for label, chunk in (("whole capture", len(data)), ("64-byte reads", 64)):
        rate = measure(data, chunk)
        ratio = rate / LINE_BYTES_PER_S
        print(f"{label:>14}: {rate / 1e6:6.1f} MB/s = {ratio:,.0f} × a 19200-baud line")


if __name__ == "__main__":
    main()
