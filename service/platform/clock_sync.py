"""Is the system clock synchronised? (Every record and alarm carries a time.)

Usage::

    from service.platform.clock_sync import check_clock, watch_clock

    ok, detail = check_clock()                       # blocking (runs timedatectl): use a thread
    ok, detail = await asyncio.to_thread(check_clock, ["chronyc", "waitsync", "1"])
    task = asyncio.create_task(watch_clock(report, interval_s=60))   # report(ok, detail)
                                                     # called at start and on every change

A Raspberry Pi 4 has no battery-backed clock: until NTP answers it runs from the last saved
time (fake-hwclock) or 1970. Sources, in order:

1. plausibility: a clock before ``EARLIEST`` is wrong whatever any daemon says;
2. a configured command: exit status 0 means synchronised, its output is the detail;
3. ``timedatectl show -p NTPSynchronized --value`` (the kernel's view, any NTP daemon);
4. without timedatectl / D-Bus: ``/run/systemd/timesync/synchronized`` exists (timesyncd
   touches it once synchronised), else ``chronyc tracking`` ("Leap status : Normal");
5. otherwise: not known to be synchronised (False, with every reason tried).

The parsers are pure functions, tested with sample outputs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

#: No record Vigil writes can be older than this: a clock before it is certainly wrong.
EARLIEST = datetime(2025, 1, 1, tzinfo=UTC)
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
TIMEDATECTL = ["timedatectl", "show", "-p", "NTPSynchronized", "--value"]
CHRONYC = ["chronyc", "tracking"]

#: run(argv) -> (exit status, stdout + stderr), or None if the program cannot be started.
Runner = Callable[[Sequence[str]], "tuple[int, str] | None"]


def run_command(argv: Sequence[str], timeout: float = 5.0) -> tuple[int, str] | None:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.returncode, (done.stdout + done.stderr).strip()


# -- parsers (pure) --------------------------------------------------------------------------


def parse_timedatectl(output: str) -> bool | None:
    """``timedatectl show -p NTPSynchronized --value`` prints ``yes`` or ``no``; plain
    ``timedatectl show`` prints ``NTPSynchronized=yes`` among other lines; the human
    ``timedatectl status`` says ``System clock synchronized: yes``. None: not recognised."""
    text = output.strip()
    match = re.search(r"^\s*NTPSynchronized=(\S+)\s*$", text, re.MULTILINE) or re.search(
        r"System clock synchronized:\s*(\S+)", text
    )
    value = match.group(1) if match else text
    return {"yes": True, "no": False}.get(value.lower())


def parse_chronyc_tracking(output: str) -> tuple[bool | None, str]:
    """``chronyc tracking``: synchronised when ``Leap status`` is Normal (or a leap second
    insert/delete) and a reference is set; the detail names the reference and the offset."""
    fields: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    leap = fields.get("leap status")
    if leap is None:
        return None, "chronyc: no 'Leap status' in its output"
    reference = fields.get("reference id", "")
    offset = fields.get("system time", "")
    detail = f"chrony: {leap.lower()}, reference {reference or '?'}, {offset or 'offset ?'}"
    if leap.lower() == "not synchronised" or reference.startswith("00000000"):
        return False, detail
    return True, detail


#: adjtimex(2) status bit "clock unsynchronised".
STA_UNSYNC = 0x0040


def parse_adjtimex_status(output: str) -> bool | None:
    """``adjtimex --print`` (Debian package adjtimex) prints ``status: 8193``; the clock is
    synchronised when the STA_UNSYNC bit (0x40) is clear."""
    match = re.search(r"^\s*status:\s*(\d+)\s*$", output, re.MULTILINE)
    if match is None:
        return None
    return not int(match.group(1)) & STA_UNSYNC


def plausible(now: datetime, earliest: datetime = EARLIEST) -> tuple[bool, str]:
    if now < earliest:
        return False, f"the clock reads {now:%Y-%m-%d %H:%M} UTC, before {earliest:%Y-%m-%d}"
    return True, ""


# -- the check -------------------------------------------------------------------------------


def check_clock(
    command: Sequence[str] | None = None,
    *,
    run: Runner = run_command,
    timesync_flag: Path = TIMESYNC_FLAG,
    now: datetime | None = None,
) -> tuple[bool, str]:
    """(synchronised, detail). Blocking: runs programs with a 5 s timeout each."""
    ok, why = plausible(now or datetime.now(UTC))
    if not ok:
        return False, why
    if command:
        result = run(command)
        if result is None:
            return False, f"clock check command {command[0]!r} cannot be run"
        status, output = result
        detail = output or f"{command[0]} exited with {status}"
        return status == 0, detail
    reasons: list[str] = []
    result = run(TIMEDATECTL)
    if result is not None and result[0] == 0:
        synced = parse_timedatectl(result[1])
        if synced is not None:
            state = "synchronised" if synced else "NOT synchronised"
            return synced, f"timedatectl: system clock {state} (NTPSynchronized={result[1]})"
        reasons.append(f"timedatectl said {result[1]!r}")
    else:
        reasons.append(
            "timedatectl not available"
            if result is None
            else f"timedatectl failed: {(result[1].splitlines() or [str(result[0])])[0]}"
        )
    if timesync_flag.exists():
        return True, f"systemd-timesyncd: synchronised ({timesync_flag} exists)"
    reasons.append(f"no {timesync_flag}")
    result = run(CHRONYC)
    if result is not None and result[0] == 0:
        synced, detail = parse_chronyc_tracking(result[1])
        if synced is not None:
            return synced, detail
        reasons.append(detail)
    else:
        reasons.append("chronyc not available" if result is None else "chronyc failed")
    return False, "cannot tell whether the clock is synchronised: " + "; ".join(reasons)


async def watch_clock(
    report: Callable[[bool, str], None],
    *,
    interval_s: float = 60.0,
    command: Sequence[str] | None = None,
    check: Callable[[], tuple[bool, str]] | None = None,
) -> None:
    """Check every ``interval_s`` in a worker thread; ``report(ok, detail)`` at the first
    result and whenever ``ok`` changes. Runs until cancelled."""
    checker = check or (lambda: check_clock(command))
    last: bool | None = None
    while True:
        ok, detail = await asyncio.to_thread(checker)
        if ok != last:
            (log.info if ok else log.warning)("clock: %s", detail)
            report(ok, detail)
            last = ok
        await asyncio.sleep(interval_s)
