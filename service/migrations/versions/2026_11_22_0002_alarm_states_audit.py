"""Alarm log with IEC 60601-1-8 states, users and monotonic time; audit log of human actions.

Revision ID: 0002_alarm_states_audit
Revises: 0001_initial
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_alarm_states_audit"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarm_log") as batch:
        batch.add_column(sa.Column("event", sa.String(32), nullable=False, server_default="raised"))
        batch.add_column(
            sa.Column("condition", sa.String(16), nullable=False, server_default="active")
        )
        batch.add_column(sa.Column("signal", sa.String(16), nullable=False, server_default="on"))
        batch.add_column(sa.Column("user", sa.String(64), nullable=True))
        batch.add_column(sa.Column("notify", sa.String(32), nullable=True))
        batch.add_column(sa.Column("cause", sa.String(256), nullable=False, server_default=""))
        batch.add_column(sa.Column("mono", sa.Float, nullable=True))
    # Rows of the first version: "cleared" meant the alarm was over.
    op.execute(
        "UPDATE alarm_log SET event = 'ended', condition = 'inactive', signal = 'off' "
        "WHERE state = 'cleared'"
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("mono", sa.Float, nullable=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(512), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    with op.batch_alter_table("alarm_log") as batch:
        for column in ("mono", "cause", "notify", "user", "signal", "condition", "event"):
            batch.drop_column(column)
