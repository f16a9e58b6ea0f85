"""The clinic central station keeps its own database and migrations: its tables leave the bed's.

Revision ID: 0007_central_apart
Revises: 0006_alarm_limits
Create Date: 2026-12-10

* ``central_beds`` and ``central_events`` (made by 0005 in every database) belong to the central
  station, which now has its own chain (central/migrations). A bed never wrote them: they are
  dropped here. A database that holds rows in them is a central station's, not a bed's; it is
  refused untouched (the central adopts it with its own chain at its next start).
* ``central_outbox`` stays: it is the bed's side of the link.
* The ``bed`` columns 0005 added stay: the bed's tables declare them (empty at a bed).

Downgrade re-creates the two tables empty, as 0005 made them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_central_apart"
down_revision = "0006_alarm_limits"
branch_labels = None
depends_on = None

CENTRAL_TABLES = ("central_events", "central_beds")


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    for table in CENTRAL_TABLES:
        if table in present:
            rows = bind.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0
            if rows:
                raise RuntimeError(
                    f"{table} holds {rows} row(s): this is a clinic central station's database, "
                    "not a bed's. The central station migrates its database itself "
                    "(`vigil central`); nothing was changed."
                )
    for table in CENTRAL_TABLES:
        if table in present:
            op.drop_table(table)


def downgrade() -> None:
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
