"""One request at a time, with plain-number time: deadline, progress, retries and NAKs."""

from __future__ import annotations

import pytest

from drivers.errors import DriverUsageError
from drivers.handlers.poller import Poller


def poller(**changes: float) -> Poller:
    settings: dict[str, float] = dict(poll_interval=5.0, response_timeout=1.0, max_attempts=3)
    settings.update(changes)
    return Poller(**settings, max_naks=2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", [{"poll_interval": 0.0}, {"response_timeout": -1.0}, {"max_attempts": 0}]
)
def test_settings_must_be_positive(bad: dict[str, float]) -> None:
    with pytest.raises(DriverUsageError, match="must be positive"):
        poller(**bad)


def test_a_request_is_due_when_none_is_pending_and_its_time_has_come() -> None:
    p = poller()
    assert p.due(0.0) and p.next_deadline() == 0.0
    p.next_request = 5.0
    assert not p.due(4.9) and p.due(5.0)
    p.sent("INF", 5.0)
    assert not p.due(9.0) and p.next_deadline() == 6.0
    p.answered()
    assert p.pending is None and p.next_deadline() == 5.0


def test_an_unanswered_request_expires_once_and_may_be_retried_max_attempts_times() -> None:
    p = poller()
    p.sent("INF", 0.0)
    assert p.expired(0.99) is None and p.timeouts == 0
    first = p.expired(1.0)
    assert first is not None and first.command == "INF" and p.pending is None
    assert p.timeouts == 1 and p.can_retry(first)
    second = p.sent("INF", 1.0, attempts=first.attempts + 1)
    third = p.sent("INF", 2.0, attempts=second.attempts + 1)
    assert p.can_retry(second) and not p.can_retry(third)
    assert p.expired(3.0) is third and p.timeouts == 2


def test_progress_pushes_the_deadline_never_before_the_floor() -> None:
    p = poller()
    request = p.sent("MEM:GET", 10.0, floor=15.0)
    assert request.deadline == 15.0  # a poll is not re-sent faster than the poll interval
    p.progress(14.5)
    assert request.deadline == 15.5
    p.progress(11.0)
    assert request.deadline == 15.0
    p.answered()
    p.progress(20.0)  # nothing pending: nothing to push


def test_naks_are_limited_per_request_and_reset_by_progress() -> None:
    p = poller()
    assert not p.nak(0.0)  # nothing was asked: nothing to NAK
    request = p.sent("MEM:GET", 0.0)
    assert p.nak(0.5) and p.nak(0.8) and request.deadline == 1.8
    assert not p.nak(0.9) and request.deadline == 1.8  # the third in a row runs out the clock
    assert p.naks_sent == 2
    p.progress(1.0)  # a good block: the count starts again
    assert request.naks == 0 and p.nak(1.2) and p.naks_sent == 3
