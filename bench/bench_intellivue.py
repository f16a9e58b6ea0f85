"""Decode throughput of the Philips IntelliVue codec on an emulated session.

    python bench/bench_intellivue.py

No RS232 capture of an IntelliVue is public, so the stream is what the emulator sends a client:
the Association Result, the MDS Create Event and a run of extended-poll replies carrying the
full set of numerics (HR, pulse, SpO2, NIBP compound, two RR, the CO2 compound, temperature, each
with type, label, label string, value and time stamps). Half the replies are split into linked
results (a 250-byte MTU) so that reassembly is measured too. Prints MB/s for the whole stream fed
at once and in 64-byte reads, and the ratio to what a 115200-baud 8N1 line can deliver
(115200 / 10 bits per byte = 11.5 kB/s).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.codecs.philips_intellivue import PhilipsIntellivueCodec, PollReply
from simulator.devices import philips_intellivue as monitor
from simulator.model import Vitals

LINE_BYTES_PER_S = 115200 / 10  # start bit, 8 data bits, stop bit
REPLIES = 600


def stream() -> bytes:
    emulator = monitor.PhilipsIntellivueEmulator(epoch=datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    vitals = Vitals(nibp=(121, 79, 93), nibp_at=0.0, temp_c=36.6)
    noon = emulator.wall(0.0)
    parts = [
        monitor.association_result(8000, 1000, 1000, monitor.POLL_EXT_PERIOD_NU_1SEC),
        monitor.mds_create_event(1, emulator.ticks(0.0), noon, False),
    ]
    for n in range(REPLIES):
        t = 1.0 + n
        header = monitor.PollHeader(2, True, 1, n, emulator.ticks(t), emulator.wall(t), 6, 0)
        mtu = 250 if n % 2 else 1000
        parts += monitor.split_poll_result(header, emulator.numerics(t, vitals), mtu)
    return b"".join(monitor.frame(part) for part in parts)


def decode(data: bytes, chunk: int) -> tuple[int, int]:
    codec = PhilipsIntellivueCodec()
    events = replies = 0
    for at in range(0, len(data), chunk):
        codec.receive(data[at : at + chunk])
        for event in codec.events():
            events += 1
            replies += isinstance(event, PollReply)
    return events, replies


def measure(data: bytes, chunk: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        decode(data, chunk)
        best = min(best, time.perf_counter() - start)
    return len(data) / best


def main() -> None:
    data = stream()
    events, replies = decode(data, len(data))
    print(f"stream: {len(data):,} bytes, {events} events ({replies} poll replies)")
    for label, chunk in (("whole stream", len(data)), ("64-byte reads", 64)):
        rate = measure(data, chunk)
        ratio = rate / LINE_BYTES_PER_S
        print(f"{label:>14}: {rate / 1e6:6.2f} MB/s = {ratio:,.0f} × a 115200-baud line")


if __name__ == "__main__":
    main()
