"""The in-process event bus.

``publish`` is synchronous and never blocks: the acquisition path must never wait for a
subscriber. Each subscriber has its own queue and an explicit overflow policy:

* ``KEEP_ALL`` (alarm runner, persistence): nothing is dropped. The queue is bounded only by a
  high-water mark; crossing it marks the subscriber ``backlogged`` so the service can raise a
  technical alarm while the data is kept.
* ``DROP_OLDEST`` (tablets): a slow client loses its oldest updates; ``overflowed`` tells its
  sender to resynchronise it with a fresh snapshot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Generic, TypeVar

T = TypeVar("T")


class Woken(Exception):
    """A waiting ``Subscription.get`` was woken without an item."""


class Overflow(Enum):
    KEEP_ALL = "keep_all"
    DROP_OLDEST = "drop_oldest"


class Subscription(Generic[T]):
    def __init__(
        self,
        bus: EventBus[T],
        name: str,
        policy: Overflow,
        limit: int,
        accept: Callable[[T], bool] | None = None,
    ) -> None:
        self._bus = bus
        self.accept = accept
        self.name = name
        self.policy = policy
        self.limit = limit
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.backlogged = False
        self.dropped = 0
        self._woken = False

    def put(self, item: T) -> None:
        if len(self._items) >= self.limit:
            if self.policy is Overflow.DROP_OLDEST:
                self._items.popleft()
                self.dropped += 1
                self.overflowed = True
            else:
                self.backlogged = True
        self._items.append(item)
        self._ready.set()

    async def get(self) -> T:
        """The next item; raises ``Woken`` if ``wake()`` was called while waiting."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
            if self._woken and not self._items:
                self._woken = False
                raise Woken
        self._woken = False
        return self._items.popleft()

    def wake(self) -> None:
        """Make a waiting ``get`` return early (raising ``Woken``) so its caller can look at
        its deadlines again."""
        self._woken = True
        self._ready.set()

    def get_nowait(self) -> T | None:
        return self._items.popleft() if self._items else None

    def drain(self, limit: int | None = None) -> list[T]:
        count = len(self._items) if limit is None else min(limit, len(self._items))
        out = [self._items.popleft() for _ in range(count)]
        if not self._items:
            self.backlogged = False
        return out

    def clear(self) -> None:
        self._items.clear()
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus(Generic[T]):
    def __init__(self) -> None:
        self._subscribers: list[Subscription[T]] = []

    def subscribe(
        self,
        name: str,
        policy: Overflow = Overflow.KEEP_ALL,
        limit: int = 100_000,
        accept: Callable[[T], bool] | None = None,
    ) -> Subscription[T]:
        """A new subscription; ``accept`` filters what it receives."""
        sub = Subscription(self, name, policy, limit, accept)
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription[T]) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def publish(self, item: T) -> None:
        for sub in self._subscribers:
            if sub.accept is None or sub.accept(item):
                sub.put(item)

    @property
    def subscribers(self) -> list[Subscription[T]]:
        return list(self._subscribers)
