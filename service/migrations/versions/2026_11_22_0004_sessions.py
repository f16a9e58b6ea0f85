"""Infusion sessions: patients (pseudonymous), sessions from baseline to discharge, notes.

Revision ID: 0004_sessions
Revises: 0003_users
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_sessions"
down_revision = "0003_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pseudonym", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "infusion_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("bed", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("drug", sa.String(64), nullable=False),
        sa.Column("weight_kg", sa.Float, nullable=False),
        sa.Column("dose_mg_per_kg", sa.Float, nullable=False),
        sa.Column("concentration_mg_ml", sa.Float, nullable=False),
        sa.Column("duration_min", sa.Float, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("started_by", sa.String(64), nullable=True),
        sa.Column("infusion_ended_at", sa.DateTime, nullable=True),
        sa.Column("infusion_ended_by", sa.String(64), nullable=True),
        sa.Column("baseline_sys", sa.Float, nullable=True),
        sa.Column("baseline_dia", sa.Float, nullable=True),
        sa.Column("baseline_hr", sa.Float, nullable=True),
        sa.Column("baseline_readings", sa.Integer, nullable=True),
        sa.Column("gate_override_reason", sa.String(512), nullable=True),
        sa.Column("gate_override_by", sa.String(64), nullable=True),
        sa.Column("discharged_at", sa.DateTime, nullable=True),
        sa.Column("discharged_by", sa.String(64), nullable=True),
        sa.Column("discharge_override_reason", sa.String(512), nullable=True),
    )
    with op.batch_alter_table("infusion_sessions") as batch:
        batch.create_index("ix_infusion_sessions_patient_id", ["patient_id"])
        batch.create_index("ix_infusion_sessions_phase", ["phase"])
        batch.create_index("ix_infusion_sessions_created_at", ["created_at"])
    op.create_table(
        "session_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("infusion_sessions.id"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    with op.batch_alter_table("session_notes") as batch:
        batch.create_index("ix_session_notes_session_id", ["session_id"])


def downgrade() -> None:
    op.drop_table("session_notes")
    op.drop_table("infusion_sessions")
    op.drop_table("patients")
