"""The bed's outbox (table ``central_outbox`` in the bed's own database): events waiting for the
broker's acknowledgement. Functions here run in worker threads.

A row's ``id`` is the event's sequence number (``seq`` of docs/mqtt.md) and is never reused
(AUTOINCREMENT on SQLite): the central de-duplicates on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Integer, String, Text, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.persistence.models import Base, UtcDateTime


class OutboxRow(Base):
    """An event waiting for the broker's acknowledgement (migration 0005)."""

    __tablename__ = "central_outbox"
    __table_args__ = ({"sqlite_autoincrement": True},)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class Queued:
    seq: int
    kind: str
    at: datetime
    payload: str


def outbox_append(engine: Engine, rows: Sequence[tuple[str, datetime, str]], limit: int) -> int:
    """Append ``(kind, at, payload JSON)`` rows; keep at most ``limit`` (oldest dropped).
    Returns how many were dropped."""
    with Session(engine) as session, session.begin():
        if rows:
            session.execute(
                insert(OutboxRow),
                [{"kind": k, "at": at, "payload": p} for k, at, p in rows],
            )
        count = session.scalar(select(func.count()).select_from(OutboxRow)) or 0
        excess = count - limit
        if excess > 0:
            oldest = select(OutboxRow.id).order_by(OutboxRow.id).limit(excess)
            session.execute(delete(OutboxRow).where(OutboxRow.id.in_(oldest)))
            return excess
    return 0


def outbox_after(engine: Engine, after: int, limit: int) -> list[Queued]:
    with Session(engine) as session:
        rows = session.scalars(
            select(OutboxRow).where(OutboxRow.id > after).order_by(OutboxRow.id).limit(limit)
        ).all()
        return [Queued(r.id, r.kind, r.at, r.payload) for r in rows]


def outbox_delete(engine: Engine, seqs: Sequence[int]) -> None:
    with Session(engine) as session, session.begin():
        session.execute(delete(OutboxRow).where(OutboxRow.id.in_(list(seqs))))


def outbox_size(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)
