"""The central station's tables, in a database of its own; adopts a database made by the bed's
chain.

Revision ID: central_0001
Revises:
Create Date: 2026-12-10

A new database gets exactly the central's tables: ``central_beds``, ``central_events``, the
records the beds send (``readings``, ``alarm_log``, ``audit_log``, each with ``bed``) and the
shared sign-in's ``users`` and ``sign_ins``, in the shapes the bed's chain gave them (so an
adopted database and a new one are the same; tests/central/test_migrations.py compares them).

**Adoption.** Before the central had a chain of its own it ran the bed's (service/migrations, up
to 0006): its database then also holds the bed-only tables (outbox, pump readings, device
events, infusion sessions, patients, alarm limits), always empty at a central, and the bed's
``alembic_version``. The same holds for a new database in which ``vigil users add --db`` made
the users before the central's first start (the bed's chain, up to its head). This migration
keeps every central table and row, drops those empty bed-only tables and the bed's version table,
and creates whatever central table is missing. A database whose bed-only tables hold rows is a
bedside unit's: it is refused untouched (nothing a bed recorded is ever dropped).

Downgrade drops the central's tables (the database is then empty, as before a first start; an
adopted database is not handed back to the bed's chain).
"""

import sqlalchemy as sa
from alembic import op

revision = "central_0001"
down_revision = None
branch_labels = None
depends_on = None

#: The bed's version table, in a database made by the bed's chain.
BED_VERSION_TABLE = "alembic_version"
#: Tables the bed's chain made that the central never wrote; dropped in this order (notes
#: before sessions before patients: foreign keys).
BED_ONLY = (
    "session_notes",
    "infusion_sessions",
    "patients",
    "central_outbox",
    "pump_readings",
    "device_events",
    "alarm_limits",
)
CENTRAL = (
    "readings",
    "alarm_log",
    "audit_log",
    "users",
    "sign_ins",
    "central_beds",
    "central_events",
)


def _readings() -> None:
    op.create_table(
        "readings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("validity", sa.String(16), nullable=False),
        sa.Column("measured_at", sa.DateTime, nullable=False),
        sa.Column("bed", sa.String(64), nullable=True),
    )
    op.create_index("ix_readings_metric_time", "readings", ["metric", "measured_at"])
    op.create_index("ix_readings_bed_measured_at", "readings", ["bed", "measured_at"])


def _alarm_log() -> None:
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
        sa.Column("event", sa.String(32), nullable=False, server_default="raised"),
        sa.Column("condition", sa.String(16), nullable=False, server_default="active"),
        sa.Column("signal", sa.String(16), nullable=False, server_default="on"),
        sa.Column("user", sa.String(64), nullable=True),
        sa.Column("notify", sa.String(32), nullable=True),
        sa.Column("cause", sa.String(256), nullable=False, server_default=""),
        sa.Column("mono", sa.Float, nullable=True),
        sa.Column("bed", sa.String(64), nullable=True),
    )
    op.create_index("ix_alarm_log_alarm_id", "alarm_log", ["alarm_id"])
    op.create_index("ix_alarm_log_at", "alarm_log", ["at"])
    op.create_index("ix_alarm_log_bed", "alarm_log", ["bed"])


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("mono", sa.Float, nullable=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(512), nullable=False),
        sa.Column("bed", sa.String(64), nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def _users() -> None:
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


def _sign_ins() -> None:
    op.create_table(
        "sign_ins",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("expires", sa.DateTime, nullable=False),
    )


def _central_beds() -> None:
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


def _central_events() -> None:
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


CREATE = {
    "readings": _readings,
    "alarm_log": _alarm_log,
    "audit_log": _audit_log,
    "users": _users,
    "sign_ins": _sign_ins,
    "central_beds": _central_beds,
    "central_events": _central_events,
}


def _rows(bind: sa.engine.Connection, table: str) -> int:
    return int(bind.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0)


def _adopt(bind: sa.engine.Connection, present: set[str]) -> None:
    """A database made by the bed's chain: keep the central's tables, drop the bed's."""
    for table in BED_ONLY:
        if table in present and (rows := _rows(bind, table)):
            raise RuntimeError(
                f"{table} holds {rows} row(s): this database is a bedside unit's, not a central "
                "station's; nothing was changed"
            )
    for table in BED_ONLY:
        if table in present:
            op.drop_table(table)
    op.drop_table(BED_VERSION_TABLE)


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    if BED_VERSION_TABLE in present:
        _adopt(bind, present)
    for table in CENTRAL:
        if table not in present:
            CREATE[table]()


def downgrade() -> None:
    for table in reversed(CENTRAL):
        op.drop_table(table)
