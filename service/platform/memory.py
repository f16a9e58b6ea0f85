"""Keep glibc from holding on to the sign-in hash's memory.

A PIN check runs scrypt with n=2**14, r=8: one 16 MiB buffer, allocated in a worker thread and
freed at once. glibc's *dynamic* mmap threshold rises to the size of the last large block freed,
so from the second sign-in on these buffers come from the thread's heap arena and stay resident:
measured, 80 MB → 97 MB after one sign-in and 114 MB after four (docs/benchmarks.md). Pinning
the threshold (which also turns the dynamic adjustment off) makes every block above it a private
mapping returned to the system on free. No effect, and no error, where the C library is not
glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

#: ``mallopt`` parameter number of M_MMAP_THRESHOLD in glibc's malloc.h.
M_MMAP_THRESHOLD = -3
THRESHOLD = 1 << 20  # 1 MiB: readings and JSON stay far below; hash buffers far above


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def pin_mmap_threshold(size: int = THRESHOLD) -> bool:
    """True when glibc accepted the fixed threshold."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, size))
    if not ok:
        log.warning("could not pin the malloc mmap threshold: sign-ins may keep 16 MiB each")
    return ok
