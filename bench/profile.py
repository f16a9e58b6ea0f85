"""Where the service spends its time under load: py-spy samples the ``vigil serve`` process
while N emulated devices and 10 tablets run (the capacity set-up), and the top functions by
own time and by inclusive time are printed (``make bench-profile``; py-spy from PyPI, an
external sampling profiler that attaches to the running process).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.e2e import rig
from bench.system import workdir


def collapsed_top(
    path: Path, n: int = 25
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def pct(c: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(f, 100 * v / total) for f, v in c.most_common(n)]

    return pct(own), pct(inclusive)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--beds", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--out", type=Path, default=Path("profile.txt"))
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with workdir("profile") as tmp, contextlib.ExitStack() as stack:
        service = rig(stack, tmp, args.beds, clients=10).service
        time.sleep(5)
        raw = tmp / "profile.collapsed"
        subprocess.run(
            [spy, "record", "--pid", str(service.pid), "--duration", str(int(args.seconds)),
             "--rate", "200", "--format", "raw", "--output", str(raw), "--nonblocking"],
            check=True, capture_output=True,
        )  # fmt: skip
        own, inclusive = collapsed_top(raw)
    lines = [f"py-spy, {args.beds * 2} devices + probe, 10 tablets, {args.seconds:.0f} s", ""]
    lines += ["own time:"] + [f"  {p:5.1f} %  {f}" for f, p in own]
    lines += ["", "inclusive:"] + [f"  {p:5.1f} %  {f}" for f, p in inclusive]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
