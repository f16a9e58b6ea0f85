"""Alarm limits changed at the bedside are kept across restarts.

Revision ID: 0006_alarm_limits
Revises: 0005_central
Create Date: 2026-12-03

* ``alarm_limits``: one row per limit a nurse changed (name, value, who, when). At start-up the
  stored values are applied over the TOML configuration's; a change is on disk before it takes
  effect, so a restart never silently reverts it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_alarm_limits"
down_revision = "0005_central"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarm_limits",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alarm_limits")
