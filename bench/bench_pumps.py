"""Decode throughput of the pump codecs against their serial line rates.

    python bench/bench_pumps.py

Feeds a stream of realistic device replies (made by the emulators) to each codec in 4 kB reads,
as a device session does, and prints MB/s and the multiple of the line rate (8N1: 10 bits on the
wire per byte, so 9600 baud = 960 B/s, 38400 baud = 3840 B/s). "+ content" also turns every
response into pump values, as the handler does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.codecs.alaris_asena import AlarisAsenaCodec
from drivers.codecs.bbraun_bcc import BbraunBccCodec, BccResponse, decode_content
from simulator.devices.alaris_asena import AlarisAsenaEmulator
from simulator.devices.bbraun_bcc import BbraunSpaceEmulator
from simulator.model import PumpModelState, Vitals

TARGET = 2_000_000  # bytes per run
CHUNK = 4096


def bcc_stream() -> bytes:
    pump = PumpModelState(rate_ml_h=12.5, volume_infused_ml=3.2, vtbi_ml=50.0, state="infusing")
    emulator = BbraunSpaceEmulator(slots=("11", "12", "13"), extra_pumps={"12": pump, "13": pump})
    mem_get = b"\x0100035\x02ComSysteem/1/1>MEEM:GEET\x0300153\x04"
    one = emulator.receive(mem_get, 100.0, Vitals(), pump)
    blocks = [one]
    while blocks[-1][-7] != 0x03:
        blocks.append(emulator.receive(b"\x06", 100.0, Vitals(), pump))
    response = b"".join(blocks)
    return response * (TARGET // len(response) + 1)


def asena_stream() -> bytes:
    pump = PumpModelState(rate_ml_h=12.5, volume_infused_ml=3.2, vtbi_ml=50.0, state="infusing")
    pump.alarms.add("occlusion")
    emulator = AlarisAsenaEmulator()
    cycle = b"".join(
        emulator.receive(q, 0.0, Vitals(), pump)
        for q in (b"!INF|4961\r", b"!INF_VTBI|8456\r", b"!ALARM|50B2\r")
    )
    return cycle * (TARGET // len(cycle) + 1)


def measure(feed: Callable[[bytes], int], data: bytes) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(3):
        start = time.perf_counter()
        count = feed(data)
        best = min(best, time.perf_counter() - start)
    return len(data) / best, count


def bcc_codec(data: bytes, content: bool = False) -> int:
    codec = BbraunBccCodec(stuffing=True)
    count = 0
    for i in range(0, len(data), CHUNK):
        codec.receive(data[i : i + CHUNK])
        for event in codec.events():
            if isinstance(event, BccResponse):
                count += 1
                if content:
                    decode_content(event.records)
    return count


def asena_codec(data: bytes) -> int:
    codec = AlarisAsenaCodec()
    count = 0
    for i in range(0, len(data), CHUNK):
        codec.receive(data[i : i + CHUNK])
        count += sum(1 for _ in codec.events())
    return count


def main() -> None:
    bcc = bcc_stream()
    asena = asena_stream()
    rows = [
        ("bbraun-bcc codec (stuffed)", 9600, *measure(bcc_codec, bcc)),
        ("bbraun-bcc codec + content", 9600, *measure(lambda d: bcc_codec(d, True), bcc)),
        ("alaris-asena codec", 38400, *measure(asena_codec, asena)),
    ]
    print(f"{'codec':30} {'MB/s':>8} {'x line rate':>12} {'units':>8}")
    for name, baud, rate, count in rows:
        line = baud / 10  # 8N1: 10 bits per byte
        print(f"{name:30} {rate / 1e6:8.2f} {rate / line:12,.0f} {count:8}")


if __name__ == "__main__":
    main()
