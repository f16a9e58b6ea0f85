"""The central station's tables (its own metadata; created by central/migrations).

``central_beds`` and ``central_events`` are the central's own. ``readings``, ``alarm_log`` and
``audit_log`` keep the shapes a bed's tables have (docs/central.md), with ``bed`` naming the bed
a row came from. ``users`` and ``sign_ins`` are the shared sign-in's (service/auth/users.py
maps them); central/migrations creates them in that shape, and tests/central/test_migrations.py
checks every mapped column exists.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.persistence.models import UtcDateTime


class CentralBase(DeclarativeBase):
    pass


class BedRow(CentralBase):
    """One bedside unit, its last known state (JSON) and the last event sequence."""

    __tablename__ = "central_beds"
    bed: Mapped[str] = mapped_column(String(64), primary_key=True)
    clinic: Mapped[str] = mapped_column(String(64))
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(Text, default="{}")


class EventRow(CentralBase):
    """Every event a bed sent, stored once (unique bed + seq)."""

    __tablename__ = "central_events"
    __table_args__ = (UniqueConstraint("bed", "seq", name="uq_central_events_bed_seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bed: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[str] = mapped_column(Text)


class ReadingRow(CentralBase):
    """A vital reading a bed sent (``up/vitals``)."""

    __tablename__ = "readings"
    __table_args__ = (
        Index("ix_readings_metric_time", "metric", "measured_at"),
        Index("ix_readings_bed_measured_at", "bed", "measured_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    validity: Mapped[str] = mapped_column(String(16))
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    bed: Mapped[str | None] = mapped_column(String(64), default=None)


class AlarmLogRow(CentralBase):
    """An alarm transition a bed sent (an ``alarm`` event), as the bed logs it."""

    __tablename__ = "alarm_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[str] = mapped_column(String(160), index=True)
    key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    event: Mapped[str] = mapped_column(String(32))
    condition: Mapped[str] = mapped_column(String(16))
    signal: Mapped[str] = mapped_column(String(16))
    user: Mapped[str | None] = mapped_column(String(64))
    notify: Mapped[str | None] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(256), default="")
    mono: Mapped[float | None] = mapped_column(Float)
    bed: Mapped[str | None] = mapped_column(String(64), default=None, index=True)


class AuditLogRow(CentralBase):
    """A human action at the central (sign-ins, acknowledgements sent) or an escalation."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    mono: Mapped[float | None] = mapped_column(Float)
    user: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(512))
    bed: Mapped[str | None] = mapped_column(String(64), default=None)
