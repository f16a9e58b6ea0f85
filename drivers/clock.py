"""Injected time.

Codecs never read a clock. Device sessions and the service receive a ``Clock`` so that tests can
replay an hour in milliseconds: ``FakeClock.advance()`` moves both the monotonic and the wall time;
``FakeClock.step_wall()`` steps the wall time alone (a clock correction).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for timeouts and delays)."""
        ...

    def utcnow(self) -> datetime:
        """Timezone-aware UTC wall time (for records)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None, monotonic: float = 1000.0) -> None:
        self._wall = start or datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        self._mono = monotonic

    def monotonic(self) -> float:
        return self._mono

    def utcnow(self) -> datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)

    def step_wall(self, seconds: float) -> None:
        """Step the wall time alone, forward or back (NTP correcting the clock): the monotonic
        time does not move."""
        self._wall += timedelta(seconds=seconds)
