"""Tables of infusion sessions (migration 0004). Readings, alarms and the audit log are not
copied here: they belong to a session by time (``SessionRecord.window``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.models import Base, UtcDateTime


class PatientRow(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Pseudonymous identifier (the clinic's own code); the only identity exported or logged.
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    #: Optional, shown to staff only; never written to logs, audit entries or exports.
    name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InfusionSessionRow(Base):
    __tablename__ = "infusion_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bed: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    drug: Mapped[str] = mapped_column(String(64))
    weight_kg: Mapped[float] = mapped_column(Float)
    dose_mg_per_kg: Mapped[float] = mapped_column(Float)
    concentration_mg_ml: Mapped[float] = mapped_column(Float)
    duration_min: Mapped[float] = mapped_column(Float)
    phase: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_by: Mapped[str | None] = mapped_column(String(64))
    infusion_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    infusion_ended_by: Mapped[str | None] = mapped_column(String(64))
    baseline_sys: Mapped[float | None] = mapped_column(Float)
    baseline_dia: Mapped[float | None] = mapped_column(Float)
    baseline_hr: Mapped[float | None] = mapped_column(Float)
    baseline_readings: Mapped[int | None] = mapped_column(Integer)
    gate_override_reason: Mapped[str | None] = mapped_column(String(512))
    gate_override_by: Mapped[str | None] = mapped_column(String(64))
    discharged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    discharged_by: Mapped[str | None] = mapped_column(String(64))
    discharge_override_reason: Mapped[str | None] = mapped_column(String(512))


class SessionNoteRow(Base):
    __tablename__ = "session_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    user: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
