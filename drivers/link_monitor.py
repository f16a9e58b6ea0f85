"""The pure availability state machine of one device link (no I/O, time passed in).

Everything that decides whether a device counts as connected, stale or disconnected, and when to
try the port again, lives here, so that a test can replay an unplugged cable for an hour in
milliseconds.

=============  ==============================  ================================================
state          entered when                    left when
=============  ==============================  ================================================
(unknown)      start                           first open attempt
DISCONNECTED   open failed, or the port failed  reopened and valid data arrives (CONNECTED),
                                               or reopened and none within ``stale_after``
                                               (STALE)
CONNECTED      valid data arrived              no valid data for ``stale_after`` (STALE), or the
                                               port failed (DISCONNECTED)
STALE          open, but no valid data for     valid data (CONNECTED), port failed
               ``stale_after``                 (DISCONNECTED)
=============  ==============================  ================================================

Reopen attempts back off exponentially from ``backoff_initial`` to ``backoff_max`` and reset once
valid data flows again. A stale but open link is closed and reopened after ``reopen_after`` of
silence: a USB adapter that was replugged often leaves the old port open but dead.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.readings import Availability


@dataclass(frozen=True, slots=True)
class LinkTimings:
    stale_after: float
    backoff_initial: float = 0.5
    backoff_max: float = 5.0
    reopen_after: float = 30.0


class LinkMonitor:
    def __init__(self, timings: LinkTimings) -> None:
        self.timings = timings
        self.state: Availability | None = None
        self.detail = ""
        self.is_open = False
        self._last_data: float | None = None
        self._opened_at: float | None = None
        self._backoff = timings.backoff_initial
        self._retry_at: float | None = None

    # -- events ------------------------------------------------------------------------------

    def opened(self, now: float) -> Availability | None:
        self.is_open = True
        self._opened_at = now
        self._retry_at = None
        return None

    def open_failed(self, now: float, reason: str) -> Availability | None:
        self.is_open = False
        self._schedule_retry(now)
        return self._set(Availability.DISCONNECTED, reason)

    def failed(self, now: float, reason: str) -> Availability | None:
        """The open port failed (read error, device gone)."""
        self.is_open = False
        self._schedule_retry(now)
        return self._set(Availability.DISCONNECTED, reason)

    def data(self, now: float) -> Availability | None:
        """Valid data (at least one decoded frame) arrived."""
        self._last_data = now
        self._backoff = self.timings.backoff_initial
        return self._set(Availability.CONNECTED, "")

    def tick(self, now: float) -> Availability | None:
        if not self.is_open:
            return None
        since = self._last_data if self._last_data is not None else self._opened_at
        if since is not None and self._opened_at is not None:
            since = max(since, self._opened_at)
        if since is not None and now - since >= self.timings.stale_after:
            silent = now - since
            return self._set(Availability.STALE, f"no valid data for {silent:.0f} s")
        return None

    def should_reopen(self, now: float) -> bool:
        """An open link silent for ``reopen_after`` should be closed and opened again."""
        if not self.is_open:
            return False
        since = max(self._last_data or 0.0, self._opened_at or 0.0)
        return now - since >= self.timings.reopen_after

    def closed_for_reopen(self, now: float) -> None:
        self.is_open = False
        self._retry_at = now

    # -- scheduling --------------------------------------------------------------------------

    def retry_due(self, now: float) -> bool:
        return not self.is_open and (self._retry_at is None or now >= self._retry_at)

    def next_deadline(self) -> float | None:
        """The monotonic time at which ``tick``/``retry_due`` next has something to say."""
        if not self.is_open:
            return self._retry_at
        since = max(self._last_data or 0.0, self._opened_at or 0.0)
        if self.state is Availability.STALE:
            return since + self.timings.reopen_after
        return since + self.timings.stale_after

    # -- internals ---------------------------------------------------------------------------

    def _schedule_retry(self, now: float) -> None:
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self.timings.backoff_max)

    def _set(self, state: Availability, detail: str) -> Availability | None:
        if state is self.state:
            self.detail = detail
            return None
        self.state = state
        self.detail = detail
        return state
