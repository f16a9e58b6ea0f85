"""Alembic environment: runs against the URL put in the config by ``service.persistence.db``."""

from __future__ import annotations

from alembic import context

from service.persistence.db import make_engine
from service.persistence.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url must be set by service.persistence.db.alembic_config"

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: batch mode copies tables
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
