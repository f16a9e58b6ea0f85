"""Sign-ins do not leave 16 MiB behind each (service/platform/memory.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys, threading
from service.auth.passwords import hash_secret
from service.platform.memory import pin_mmap_threshold
if sys.argv[1] == "pin":
    assert pin_mmap_threshold()
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
hash_secret("1234")  # the first one, and the imports
before = rss()
threads = [threading.Thread(target=hash_secret, args=("1234",)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(rss() - before)
"""


def grown_mb(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc behaviour")
def test_hash_buffers_are_returned_once_the_threshold_is_pinned() -> None:
    assert grown_mb("pin") < 8
    # Without it, glibc keeps them (the reason for the module): at least one 16 MiB buffer.
    assert grown_mb("default") > 14
