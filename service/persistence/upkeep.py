"""The database's upkeep loops: the writer's backlog watched, old records deleted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.alarms.model import ServiceFault
from service.persistence.retention import prune
from service.persistence.writer import PersistenceWriter

log = logging.getLogger(__name__)

#: How often old records are deleted when ``retention_days`` is set.
RETENTION_EVERY_S = 6 * 3600


async def watch_backlog(
    writer: PersistenceWriter,
    publish: Callable[[ServiceFault], None],
    now: Callable[[], datetime],
) -> None:
    """A writer queue past its high-water mark is a technical alarm (nothing is dropped)."""
    backlogged = False
    while True:
        await asyncio.sleep(1.0)
        now_backlogged = writer.sub.backlogged
        if now_backlogged != backlogged:
            backlogged = now_backlogged
            publish(
                ServiceFault(
                    "persistence_backlog",
                    backlogged,
                    f"records waiting to be written: {len(writer.sub)}",
                    now(),
                )
            )


async def retention(db: Engine, days: int, now: Callable[[], datetime]) -> None:
    """Delete records past ``days`` at start-up, then every 6 hours."""
    keep = timedelta(days=days)
    while True:
        try:
            pruned = await asyncio.to_thread(prune, db, now() - keep)
            log.info("retention: deleted %d rows older than %s", pruned.total, pruned.cutoff)
        except (SQLAlchemyError, OSError) as exc:
            log.error("retention: could not delete old records (will retry): %s", exc)
        await asyncio.sleep(RETENTION_EVERY_S)
