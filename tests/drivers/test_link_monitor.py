"""The availability state machine, replayed with plain numbers for time (no sleeps)."""

from __future__ import annotations

from drivers.link_monitor import LinkMonitor, LinkTimings
from drivers.readings import Availability

T = LinkTimings(stale_after=3.0, backoff_initial=0.5, backoff_max=5.0, reopen_after=30.0)


def test_data_connects_and_silence_goes_stale_then_data_recovers() -> None:
    link = LinkMonitor(T)
    assert link.retry_due(0.0)
    assert link.opened(0.0) is None
    assert link.tick(2.9) is None
    assert link.data(1.0) is Availability.CONNECTED
    assert link.data(2.0) is None  # no change, no event
    assert link.tick(4.9) is None
    assert link.tick(5.0) is Availability.STALE
    assert link.tick(6.0) is None  # reported once
    assert link.data(6.5) is Availability.CONNECTED


def test_open_without_any_data_goes_stale() -> None:
    link = LinkMonitor(T)
    link.opened(10.0)
    assert link.next_deadline() == 13.0
    assert link.tick(13.0) is Availability.STALE


def test_open_failures_back_off_exponentially_up_to_the_cap() -> None:
    link = LinkMonitor(T)
    now = 0.0
    retries = []
    assert link.open_failed(now, "no such file") is Availability.DISCONNECTED
    for _ in range(6):
        deadline = link.next_deadline()
        assert deadline is not None
        assert not link.retry_due(deadline - 0.01)
        assert link.retry_due(deadline)
        retries.append(round(deadline - now, 3))
        now = deadline
        assert link.open_failed(now, "no such file") is None  # still disconnected: no new event
    assert retries == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_unplug_replug_replayed_for_an_hour_in_milliseconds() -> None:
    link = LinkMonitor(T)
    events: list[Availability] = []
    now = 0.0
    plugged = True
    link.opened(now)
    for second in range(3600):
        now = float(second)
        if second == 600:
            plugged = False
            change = link.failed(now, "read failed")
            events += [change] if change else []
        if second == 1800:
            plugged = True
        if link.retry_due(now):
            if plugged:
                link.opened(now)
            else:
                change = link.open_failed(now, "gone")
                events += [change] if change else []
        if link.is_open and plugged:
            change = link.data(now)
            events += [change] if change else []
        change = link.tick(now)
        events += [change] if change else []
    assert events == [Availability.CONNECTED, Availability.DISCONNECTED, Availability.CONNECTED]


def test_stale_link_is_reopened_after_long_silence() -> None:
    link = LinkMonitor(T)
    link.opened(0.0)
    link.data(0.0)
    link.tick(3.0)
    assert not link.should_reopen(29.9)
    assert link.should_reopen(30.0)
    link.closed_for_reopen(30.0)
    assert link.retry_due(30.0)
