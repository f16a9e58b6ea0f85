"""Tables. Readings, device events and the alarm log are append-only."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class ReadingRow(Base):
    __tablename__ = "readings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    validity: Mapped[str] = mapped_column(String(16))
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The bed a row came from, at the clinic central station (None at a bedside unit).
    bed: Mapped[str | None] = mapped_column(String(64), default=None)
    __table_args__ = (
        Index("ix_readings_metric_time", "metric", "measured_at"),
        Index("ix_readings_bed_measured_at", "bed", "measured_at"),
    )


class DeviceEventRow(Base):
    """Availability changes, device-reported condition sets and Vigil's own faults."""

    __tablename__ = "device_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # availability | conditions | service
    state: Mapped[str] = mapped_column(String(256))
    detail: Mapped[str] = mapped_column(String(512), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    bed: Mapped[str | None] = mapped_column(String(64), default=None)


class PumpReadingRow(Base):
    __tablename__ = "pump_readings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16))
    rate_ml_h: Mapped[float | None] = mapped_column(Float)
    volume_infused_ml: Mapped[float | None] = mapped_column(Float)
    vtbi_ml: Mapped[float | None] = mapped_column(Float)
    time_remaining_s: Mapped[float | None] = mapped_column(Float)
    drug: Mapped[str | None] = mapped_column(String(64))
    conditions: Mapped[str] = mapped_column(String(256), default="")
    bed: Mapped[str | None] = mapped_column(String(64), default=None)


class AlarmLogRow(Base):
    """Every alarm transition, with the user for human ones."""

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
    #: What happened (raised, acknowledged, latched, ended...) and the states after it.
    event: Mapped[str] = mapped_column(String(32))
    condition: Mapped[str] = mapped_column(String(16))
    signal: Mapped[str] = mapped_column(String(16))
    user: Mapped[str | None] = mapped_column(String(64))
    notify: Mapped[str | None] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(256), default="")
    mono: Mapped[float | None] = mapped_column(Float)
    bed: Mapped[str | None] = mapped_column(String(64), default=None, index=True)


class AuditLogRow(Base):
    """Every human action (acknowledgements, audio pauses, limit changes...) with its user."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    mono: Mapped[float | None] = mapped_column(Float)
    user: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(512))
    bed: Mapped[str | None] = mapped_column(String(64), default=None)


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    #: scrypt hash of the PIN or password (service/auth/passwords.py).
    secret_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean)
    failures: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlarmLimitRow(Base):
    """A limit a nurse changed at the bedside (migration 0006); applied at start-up."""

    __tablename__ = "alarm_limits"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SignInRow(Base):
    """A sign-in session, so that a restart (e.g. by the watchdog) does not sign the tablet out.
    Only a SHA-256 of the token is stored."""

    __tablename__ = "sign_ins"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    expires: Mapped[datetime] = mapped_column(UtcDateTime)
