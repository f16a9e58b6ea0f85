"""Users with roles, hashed PINs and lock-out state; sign-in sessions that survive a restart.

Revision ID: 0003_users
Revises: 0002_alarm_states_audit
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_users"
down_revision = "0002_alarm_states_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(32), nullable=False, unique=True),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(256), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "sign_ins",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("expires", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sign_ins")
    op.drop_table("users")
