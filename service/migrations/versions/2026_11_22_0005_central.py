"""Clinic central station: the bedside outbox, the central's beds and events, a bed column.

Revision ID: 0005_central
Revises: 0004_sessions
Create Date: 2026-11-22

* ``central_outbox`` (bedside): events waiting for the broker's acknowledgement. Its ids must
  never be reused (they are the events' sequence numbers, which the central de-duplicates on),
  hence AUTOINCREMENT on SQLite.
* ``central_beds``, ``central_events`` (central): one row per bed with its last state; every
  event received once (unique bed + seq).
* ``bed`` on readings, pump readings, alarm log and audit log: which bed a row came from at the
  central (empty at a bedside unit, whose database is one bed's).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_central"
down_revision = "0004_sessions"
branch_labels = None
depends_on = None

BED_TABLES = ("readings", "pump_readings", "alarm_log", "audit_log", "device_events")


def upgrade() -> None:
    op.create_table(
        "central_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "central_beds",
        sa.Column("bed", sa.String(64), primary_key=True),
        sa.Column("clinic", sa.String(64), nullable=False),
        sa.Column("online", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status_at", sa.DateTime, nullable=True),
        sa.Column("last_seen", sa.DateTime, nullable=True),
        sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("state", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_table(
        "central_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("bed", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.UniqueConstraint("bed", "seq", name="uq_central_events_bed_seq"),
    )
    for table in BED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("bed", sa.String(64), nullable=True))
    with op.batch_alter_table("readings") as batch:
        batch.create_index("ix_readings_bed_measured_at", ["bed", "measured_at"])
    with op.batch_alter_table("alarm_log") as batch:
        batch.create_index("ix_alarm_log_bed", ["bed"])


def downgrade() -> None:
    with op.batch_alter_table("alarm_log") as batch:
        batch.drop_index("ix_alarm_log_bed")
    with op.batch_alter_table("readings") as batch:
        batch.drop_index("ix_readings_bed_measured_at")
    for table in BED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("bed")
    op.drop_table("central_events")
    op.drop_table("central_beds")
    op.drop_table("central_outbox")
