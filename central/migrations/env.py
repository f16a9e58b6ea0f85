"""Alembic environment of the central station's chain: runs against the URL put in the config by
``service.persistence.db``, recording its revision in ``central_alembic_version``."""

from __future__ import annotations

from alembic import context

from central.db import CHAIN
from central.tables import CentralBase
from service.persistence.db import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url must be set by service.persistence.db.alembic_config"

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=CentralBase.metadata,
        version_table=CHAIN.version_table,
        render_as_batch=True,  # SQLite cannot ALTER most things: batch mode copies tables
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
