"""service.platform.clock_sync: the parsers on sample outputs, and the order of the sources
(with a stand-in runner: no program is started)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.platform import clock_sync
from service.platform.clock_sync import (
    check_clock,
    parse_adjtimex_status,
    parse_chronyc_tracking,
    parse_timedatectl,
    plausible,
    watch_clock,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

TIMEDATECTL_SHOW = """\
Timezone=Europe/Berlin
LocalRTC=no
CanNTP=yes
NTP=yes
NTPSynchronized=yes
TimeUSec=Sun 2026-03-01 10:00:00 CET
RTCTimeUSec=n/a
"""

TIMEDATECTL_STATUS = """\
               Local time: Sun 2026-03-01 10:00:00 CET
           Universal time: Sun 2026-03-01 09:00:00 UTC
                 RTC time: n/a
                Time zone: Europe/Berlin (CET, +0100)
System clock synchronized: no
              NTP service: active
          RTC in local TZ: no
"""

CHRONY_SYNCED = """\
Reference ID    : C0A80101 (192.168.1.1)
Stratum         : 3
Ref time (UTC)  : Sun Mar 01 09:00:00 2026
System time     : 0.000012345 seconds slow of NTP time
Last offset     : -0.000001234 seconds
RMS offset      : 0.000023456 seconds
Frequency       : 1.234 ppm fast
Update interval : 64.2 seconds
Leap status     : Normal
"""

CHRONY_UNSYNCED = """\
Reference ID    : 00000000 ()
Stratum         : 0
Ref time (UTC)  : Thu Jan 01 00:00:00 1970
System time     : 0.000000000 seconds fast of NTP time
Leap status     : Not synchronised
"""

ADJTIMEX = """\
         mode: 0
       offset: 0
    frequency: 123456
     maxerror: 16000000
     esterror: 16000000
       status: {status}
time_constant: 2
"""


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("yes\n", True),
        ("no\n", False),
        ("", None),
        ("Failed to connect to bus: No such file or directory", None),
        (TIMEDATECTL_SHOW, True),
        (TIMEDATECTL_SHOW.replace("NTPSynchronized=yes", "NTPSynchronized=no"), False),
        (TIMEDATECTL_STATUS, False),
        (TIMEDATECTL_STATUS.replace("synchronized: no", "synchronized: yes"), True),
    ],
)
def test_parse_timedatectl(output: str, expected: bool | None) -> None:
    assert parse_timedatectl(output) is expected


def test_parse_chronyc_tracking() -> None:
    ok, detail = parse_chronyc_tracking(CHRONY_SYNCED)
    assert ok is True
    assert detail == (
        "chrony: normal, reference C0A80101 (192.168.1.1), 0.000012345 seconds slow of NTP time"
    )
    ok, detail = parse_chronyc_tracking(CHRONY_UNSYNCED)
    assert ok is False and "not synchronised" in detail
    ok, detail = parse_chronyc_tracking("506 Cannot talk to daemon")
    assert ok is None and "no 'Leap status'" in detail


@pytest.mark.parametrize(
    ("status", "expected"),
    [("8193", True), ("0", True), ("64", False), ("8257", False)],  # 0x2001, 0x40, 0x2041
)
def test_parse_adjtimex_status(status: str, expected: bool) -> None:
    assert parse_adjtimex_status(ADJTIMEX.format(status=status)) is expected


def test_parse_adjtimex_garbage() -> None:
    assert parse_adjtimex_status("adjtimex: command not found") is None


def test_plausible() -> None:
    assert plausible(NOW) == (True, "")
    ok, why = plausible(datetime(1970, 1, 1, tzinfo=UTC))
    assert not ok and "1970-01-01 00:00" in why


class Runner:
    """Stand-in for running programs: argv[0] -> (status, output), or None (not installed)."""

    def __init__(self, **results: tuple[int, str] | None) -> None:
        self.results = results
        self.calls: list[str] = []

    def __call__(self, argv: Sequence[str]) -> tuple[int, str] | None:
        self.calls.append(argv[0])
        return self.results.get(argv[0])


def test_timedatectl_decides(tmp_path: Path) -> None:
    run = Runner(timedatectl=(0, "yes"))
    ok, detail = check_clock(run=run, timesync_flag=tmp_path / "none", now=NOW)
    assert ok and "timedatectl: system clock synchronised" in detail
    assert run.calls == ["timedatectl"]
    ok, detail = check_clock(run=Runner(timedatectl=(0, "no")), now=NOW)
    assert not ok and "NOT synchronised" in detail


def test_without_timedatectl_the_timesyncd_flag_counts(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    flag.touch()
    run = Runner(timedatectl=(1, "System has not been booted with systemd as init system"))
    ok, detail = check_clock(run=run, timesync_flag=flag, now=NOW)
    assert ok and "timesyncd" in detail and run.calls == ["timedatectl"]


def test_then_chrony(tmp_path: Path) -> None:
    run = Runner(chronyc=(0, CHRONY_SYNCED))
    ok, detail = check_clock(run=run, timesync_flag=tmp_path / "none", now=NOW)
    assert ok and detail.startswith("chrony: normal")
    assert run.calls == ["timedatectl", "chronyc"]


def test_nothing_answers_means_not_known_to_be_synchronised(tmp_path: Path) -> None:
    ok, detail = check_clock(run=Runner(), timesync_flag=tmp_path / "none", now=NOW)
    assert not ok
    assert detail == (
        "cannot tell whether the clock is synchronised: timedatectl not available; "
        f"no {tmp_path / 'none'}; chronyc not available"
    )


def test_a_configured_command_decides_by_exit_status() -> None:
    command = ["chronyc", "waitsync", "1"]
    ok, detail = check_clock(command, run=Runner(chronyc=(0, "try: 1, refid: C0A80101")), now=NOW)
    assert ok and detail == "try: 1, refid: C0A80101"
    ok, detail = check_clock(command, run=Runner(chronyc=(1, "")), now=NOW)
    assert not ok and detail == "chronyc exited with 1"
    ok, detail = check_clock(command, run=Runner(), now=NOW)
    assert not ok and "cannot be run" in detail


def test_an_implausible_clock_is_wrong_whatever_ntp_says() -> None:
    run = Runner(timedatectl=(0, "yes"))
    ok, detail = check_clock(run=run, now=datetime(1970, 1, 1, 0, 5, tzinfo=UTC))
    assert not ok and "before 2025-01-01" in detail and run.calls == []


def test_run_command_handles_missing_programs() -> None:
    assert clock_sync.run_command(["/nonexistent/timedatectl"]) is None
    assert clock_sync.run_command(["sh", "-c", "echo yes; exit 3"]) == (3, "yes")


async def test_watch_clock_reports_the_first_result_and_changes_only() -> None:
    results = iter([(False, "a"), (False, "b"), (True, "c"), (True, "d"), (False, "e")])
    reports: list[tuple[bool, str]] = []
    done = asyncio.Event()

    def check() -> tuple[bool, str]:
        try:
            return next(results)
        except StopIteration:
            done.set()
            return False, "e"

    task = asyncio.create_task(watch_clock(lambda *r: reports.append(r), interval_s=0, check=check))
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reports == [(False, "a"), (True, "c"), (False, "e")]
