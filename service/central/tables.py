"""Tables of the central link (migration 0005): the bedside outbox, and the central's beds and
received events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.models import Base, UtcDateTime


class CentralOutboxRow(Base):
    """Bedside: an event waiting for the broker's acknowledgement. ``id`` is the event's
    sequence number and is never reused (AUTOINCREMENT)."""

    __tablename__ = "central_outbox"
    __table_args__ = ({"sqlite_autoincrement": True},)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[str] = mapped_column(Text)


class CentralBedRow(Base):
    """Central: one bedside unit, its last known state (JSON) and the last event sequence."""

    __tablename__ = "central_beds"
    bed: Mapped[str] = mapped_column(String(64), primary_key=True)
    clinic: Mapped[str] = mapped_column(String(64))
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(Text, default="{}")


class CentralEventRow(Base):
    """Central: every event a bed sent, stored once (unique bed + seq)."""

    __tablename__ = "central_events"
    __table_args__ = (UniqueConstraint("bed", "seq", name="uq_central_events_bed_seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bed: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[str] = mapped_column(Text)
