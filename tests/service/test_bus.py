"""Bus overflow policies: keep-all never drops, drop-oldest flags a resync."""

from __future__ import annotations

from service.bus import EventBus, Overflow


async def test_keep_all_keeps_everything_and_flags_backlog() -> None:
    bus: EventBus[int] = EventBus()
    sub = bus.subscribe("writer", Overflow.KEEP_ALL, limit=3)
    for i in range(5):
        bus.publish(i)
    assert sub.backlogged
    assert sub.drain() == [0, 1, 2, 3, 4]
    assert not sub.backlogged


async def test_drop_oldest_drops_and_asks_for_a_snapshot() -> None:
    bus: EventBus[int] = EventBus()
    sub = bus.subscribe("tablet", Overflow.DROP_OLDEST, limit=3)
    for i in range(5):
        bus.publish(i)
    assert sub.overflowed and sub.dropped == 2
    assert [await sub.get() for _ in range(3)] == [2, 3, 4]


async def test_filter_and_unsubscribe() -> None:
    bus: EventBus[int] = EventBus()
    even = bus.subscribe("even", accept=lambda i: i % 2 == 0)
    bus.publish(1)
    bus.publish(2)
    assert even.drain() == [2]
    even.close()
    bus.publish(4)
    assert even.drain() == []
