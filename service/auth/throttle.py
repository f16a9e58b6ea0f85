"""Throttling of wrong PINs per (client, user name), in memory, on the monotonic clock.

This replaces account lock-out. A lock-out lets anyone on the clinic network lock a nurse out
by typing five wrong PINs for her name; a throttle slows only the client that guesses: a wrong
PIN from one client never delays a sign-in from another, nor a nurse confirming at a signed-in
tablet (that confirmation is keyed by the tablet's sign-in, not its address).

Each key may fail ``free`` times without delay; every further failure doubles the wait before
the next attempt from that key is even checked (``base_s``, 2×, 4×, … up to ``cap_s``). A right
PIN clears the key. The counts live in memory only, so a full disk cannot stop them (and a
restart clears them: docs/security.md counts that in the guessing arithmetic).

A *burst* is ``burst_at`` failures of one key without a success in between: it is reported once
(an audit entry and a LOW technical alarm), not per attempt. The alarm ends when no wrong PIN
has been seen for ``quiet_s``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Key:
    failures: int = 0
    last: float = 0.0
    next_try: float = 0.0
    reported: bool = False


@dataclass(frozen=True, slots=True)
class Burst:
    """A key reached ``burst_at`` failures (reported once per burst)."""

    client: str
    username: str
    failures: int


class Throttle:
    def __init__(
        self,
        *,
        free: int = 3,
        base_s: float = 1.0,
        cap_s: float = 300.0,
        burst_at: int = 5,
        quiet_s: float = 600.0,
        forget_s: float = 24 * 3600.0,
        max_keys: int = 10_000,
    ) -> None:
        self.free = free
        self.base_s = base_s
        self.cap_s = cap_s
        self.burst_at = burst_at
        self.quiet_s = quiet_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self._keys: OrderedDict[tuple[str, str], _Key] = OrderedDict()
        self._last_failure: float | None = None
        self._busy: set[tuple[str, str]] = set()

    @staticmethod
    def key(client: str, username: str) -> tuple[str, str]:
        return client, username.strip().lower()

    def wait(self, client: str, username: str, now: float) -> float:
        """Seconds before this key may try again (0: now)."""
        found = self._keys.get(self.key(client, username))
        if found is None:
            return 0.0
        return max(0.0, found.next_try - now)

    def begin(self, client: str, username: str) -> bool:
        """Start an attempt; False while another attempt of the same key is being checked (a
        burst of parallel requests would otherwise pass the wait before any failure counts)."""
        k = self.key(client, username)
        if k in self._busy:
            return False
        self._busy.add(k)
        return True

    def end(self, client: str, username: str) -> None:
        self._busy.discard(self.key(client, username))

    def delay_after(self, failures: int) -> float:
        """The wait that follows the ``failures``-th wrong PIN in a row."""
        if failures <= self.free:
            return 0.0
        return min(self.cap_s, self.base_s * 2.0 ** (failures - self.free - 1))

    def failed(self, client: str, username: str, now: float) -> Burst | None:
        """Count a wrong PIN; a ``Burst`` the first time this key reaches ``burst_at``."""
        self._forget(now)
        k = self.key(client, username)
        found = self._keys.pop(k, None) or _Key()
        found.failures += 1
        found.last = now
        found.next_try = now + self.delay_after(found.failures)
        self._keys[k] = found  # most recent last
        self._last_failure = now
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        if found.failures >= self.burst_at and not found.reported:
            found.reported = True
            return Burst(k[0], k[1], found.failures)
        return None

    def succeeded(self, client: str, username: str) -> None:
        self._keys.pop(self.key(client, username), None)

    def bursting(self, now: float) -> bool:
        """A wrong PIN was seen within ``quiet_s`` after a burst (the alarm is due)."""
        if self._last_failure is None or now - self._last_failure >= self.quiet_s:
            return False
        return any(k.reported and now - k.last < self.quiet_s for k in self._keys.values())

    def _forget(self, now: float) -> None:
        while self._keys:
            oldest = next(iter(self._keys.values()))
            if now - oldest.last < self.forget_s:
                break
            self._keys.popitem(last=False)
