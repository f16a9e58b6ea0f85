"""The service's clock: the injected one, watched for wall-clock steps.

Clocks themselves are injected (``drivers.clock.Clock``: ``SystemClock`` in service,
``FakeClock`` in tests); this module only adds the step detector the alarm path needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from drivers.clock import Clock

#: A wall clock that moved this much more (or less) than the monotonic clock between two reads
#: was stepped (NTP correcting it, someone setting it): the alarm timers follow the step.
CLOCK_STEP_TOLERANCE_S = 2.0


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class SteppedClock:
    """The runtime's clock: the injected one, watched for wall-clock steps.

    The engine's timers are wall-clock ``datetime`` values (it takes ``now``), so a step of the
    wall clock would lengthen or shorten every audio pause, condition delay, reminder and
    escalation. Each ``utcnow()`` read on the event loop compares how far the wall clock moved
    since the previous read with how far the monotonic clock moved; a difference over
    ``tolerance_s`` is a step, reported to ``on_step(step, wall)`` *before* the new wall time is
    returned, so nothing on the loop uses the new time before the engine's timers were moved
    (``AlarmEngine.shift_time``). A slow NTP slew is not a step. Reads from worker threads
    (FastAPI runs plain ``def`` dependencies there) pass through without looking: they never
    reach the engine, and the next read on the loop sees the step.
    """

    def __init__(
        self,
        inner: Clock,
        on_step: Callable[[timedelta, datetime], None],
        tolerance_s: float = CLOCK_STEP_TOLERANCE_S,
        watching: Callable[[], bool] = _on_a_loop,
    ) -> None:
        self.inner = inner
        self.tolerance_s = tolerance_s
        self._on_step = on_step
        self._watching = watching
        self._last: tuple[datetime, float] | None = None

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def utcnow(self) -> datetime:
        if not self._watching():
            return self.inner.utcnow()
        before = self.inner.monotonic()
        wall = self.inner.utcnow()
        mono = self.inner.monotonic()
        if mono - before > self.tolerance_s:
            return wall  # the clock moved while being read (a test's fake clock): next time
        last, self._last = self._last, (wall, mono)
        if last is not None:
            step = (wall - last[0]).total_seconds() - (mono - last[1])
            if abs(step) > self.tolerance_s:
                self._on_step(timedelta(seconds=step), wall)
        return wall
