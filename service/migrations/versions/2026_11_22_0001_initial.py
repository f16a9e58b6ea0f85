"""Initial tables: readings, device events, pump readings, alarm log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "readings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("validity", sa.String(16), nullable=False),
        sa.Column("measured_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_readings_metric_time", "readings", ["metric", "measured_at"])
    op.create_table(
        "device_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(256), nullable=False),
        sa.Column("detail", sa.String(512), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_device_events_at", "device_events", ["at"])
    op.create_table(
        "pump_readings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rate_ml_h", sa.Float, nullable=True),
        sa.Column("volume_infused_ml", sa.Float, nullable=True),
        sa.Column("vtbi_ml", sa.Float, nullable=True),
        sa.Column("time_remaining_s", sa.Float, nullable=True),
        sa.Column("drug", sa.String(64), nullable=True),
        sa.Column("conditions", sa.String(256), nullable=False),
    )
    op.create_index("ix_pump_readings_at", "pump_readings", ["at"])
    op.create_table(
        "alarm_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("alarm_id", sa.String(160), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.String(256), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_alarm_log_alarm_id", "alarm_log", ["alarm_id"])
    op.create_index("ix_alarm_log_at", "alarm_log", ["at"])


def downgrade() -> None:
    op.drop_table("alarm_log")
    op.drop_table("pump_readings")
    op.drop_table("device_events")
    op.drop_table("readings")
