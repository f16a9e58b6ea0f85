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


def others() -> list[Result]:
    """The other drivers' codecs, measured by their own scripts' functions, in 64-byte reads
    (GE on the real B650 capture; IntelliVue and the pumps on emulator output)."""
    from bench import bench_ge_dri, bench_intellivue, bench_pumps

    ge = bench_ge_dri.CAPTURE.read_bytes()
    iv = bench_intellivue.stream()
    bcc, bcc_frames = bench_pumps.measure(bench_pumps.bcc_codec, bench_pumps.bcc_stream())
    asena, asena_frames = bench_pumps.measure(bench_pumps.asena_codec, bench_pumps.asena_stream())
    return [
        Result(
            "ge-dri",
            bench_ge_dri.measure(ge, 64, repeat=5) / 1e6,
            bench_ge_dri.LINE_BYTES_PER_S,
            bench_ge_dri.decode(ge, len(ge)),
        ),
        Result(
            "philips-intellivue",
            bench_intellivue.measure(iv, 64, repeat=3) / 1e6,
            bench_intellivue.LINE_BYTES_PER_S,
            bench_intellivue.decode(iv, len(iv))[0],
        ),
        Result("bbraun-bcc", bcc / 1e6, 9600 / 10, bcc_frames),
        Result("alaris-asena", asena / 1e6, 38400 / 10, asena_frames),
    ]


def run() -> list[Result]:
    return [masimo(), *others()]
