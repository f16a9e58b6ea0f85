"""One request at a time: the transaction bookkeeping of the handlers that poll (the pumps).

A polling driver asks, waits for the answer and asks again when none comes. ``Poller`` holds
what that takes, once for every such driver:

* the one ``Request`` outstanding and its deadline: ``response_timeout`` after it was sent or
  after the last sign of progress (a block of a multi-block answer, a NAK asking the device to
  send again), never before the request's ``floor`` (a poll is not re-sent faster than its
  poll interval);
* ``expired``: the request whose deadline has passed (counted in ``timeouts``), and
  ``can_retry``: whether it may go out again, ``max_attempts`` times in all;
* ``nak``: whether a corrupt answer may be NAKed, at most ``max_naks`` times in a row;
* ``next_request``: when the next request (a poll, a handshake step) may go out; with the
  outstanding request's deadline it makes ``next_deadline``.

What to send and what an answer means stay with the handler: its allow-list of commands, its
phases, its poll cycle. Time is passed in; nothing here does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.errors import DriverUsageError


@dataclass(slots=True)
class Request:
    """The request waiting for its answer."""

    command: str
    sent_at: float
    deadline: float
    #: This request was sent that many times (the first time included).
    attempts: int = 1
    #: NAKs sent for it since its last progress.
    naks: int = 0
    #: Progress never brings the deadline before this.
    floor: float = -math.inf


class Poller:
    """The outstanding request of one handler, its deadline, retries and NAKs."""

    def __init__(
        self,
        *,
        poll_interval: float,
        response_timeout: float,
        max_attempts: int,
        max_naks: int = 0,
    ) -> None:
        if poll_interval <= 0 or response_timeout <= 0 or max_attempts < 1:
            raise DriverUsageError("poll interval, timeout and attempts must be positive")
        self.poll_interval = poll_interval
        self.response_timeout = response_timeout
        self.max_attempts = max_attempts
        self.max_naks = max_naks
        self.pending: Request | None = None
        #: When the next request may go out (while none is pending).
        self.next_request = 0.0
        #: Diagnostics: requests that went unanswered, NAKs sent.
        self.timeouts = 0
        self.naks_sent = 0

    def sent(
        self, command: str, mono: float, *, attempts: int = 1, floor: float = -math.inf
    ) -> Request:
        """``command`` has just been written: it is now the pending request."""
        deadline = max(mono + self.response_timeout, floor)
        self.pending = Request(command, mono, deadline, attempts, floor=floor)
        return self.pending

    def progress(self, mono: float) -> None:
        """Part of the answer arrived: the device is working on it."""
        pending = self.pending
        if pending is not None:
            pending.naks = 0
            pending.deadline = self._deadline(pending, mono)

    def nak(self, mono: float) -> bool:
        """A corrupt answer arrived: True when the handler should NAK it (the device then sends
        it again), which also pushes the deadline. Nothing to NAK without a pending request."""
        pending = self.pending
        if pending is None:
            return False
        pending.naks += 1
        if pending.naks > self.max_naks:
            return False  # let the request run into its deadline
        self.naks_sent += 1
        pending.deadline = self._deadline(pending, mono)
        return True

    def answered(self) -> None:
        """The pending request got its answer (or one that ends it)."""
        self.pending = None

    def expired(self, mono: float) -> Request | None:
        """The pending request if its deadline has passed, no longer pending; else None."""
        pending = self.pending
        if pending is None or mono < pending.deadline:
            return None
        self.pending = None
        self.timeouts += 1
        return pending

    def can_retry(self, request: Request) -> bool:
        return request.attempts < self.max_attempts

    def due(self, mono: float) -> bool:
        """No request is pending and the next one may go out."""
        return self.pending is None and mono >= self.next_request

    def next_deadline(self) -> float:
        return self.pending.deadline if self.pending is not None else self.next_request

    def _deadline(self, request: Request, mono: float) -> float:
        return max(mono + self.response_timeout, request.floor)
