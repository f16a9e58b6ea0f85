"""Codec decode throughput, in MB/s and as a multiple of the device's line rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drivers.codecs.masimo_ascii import MasimoAsciiCodec

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    driver: str
    mb_per_s: float
    line_rate_bytes_s: float
    frames: int

    @property
    def multiple(self) -> float:
        return self.mb_per_s * 1e6 / self.line_rate_bytes_s


def measure(feed: Callable[[bytes], int], data: bytes, seconds: float = 2.0) -> tuple[float, int]:
    """Feed ``data`` repeatedly for about ``seconds``; return MB/s and frames per pass."""
    frames = feed(data)
    passes = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        feed(data)
        passes += 1
    elapsed = time.perf_counter() - start
    return len(data) * passes / elapsed / 1e6, frames


def masimo() -> Result:
    lines = (ROOT / "tests/fixtures/masimo/radical-lines.txt").read_bytes().splitlines()
    data = b"".join(line + b"\r\n" for line in lines) * 100

    def feed(chunk: bytes) -> int:
        codec = MasimoAsciiCodec()
        for i in range(0, len(chunk), 64):  # arrives in small reads, as from a port
            codec.receive(chunk[i : i + 64])
        return sum(1 for _ in codec.events())

    mb_s, frames = measure(feed, data)
    # 9600 baud 8N1 = 10 bits per byte on the wire.
    return Result("masimo-ascii", mb_s, 9600 / 10, frames)


def run() -> list[Result]:
    return [masimo()]
