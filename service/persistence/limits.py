"""The alarm limits nurses changed at the bedside (table ``alarm_limits``). Blocking: called
through ``asyncio.to_thread``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.persistence.models import AlarmLimitRow


def stored_limits(engine: Engine) -> dict[str, float]:
    with Session(engine) as session:
        rows = session.scalars(select(AlarmLimitRow)).all()
    return {row.name: row.value for row in rows}


def save_limits(engine: Engine, changes: dict[str, float], user: str, at: datetime) -> None:
    """One transaction: every change is on disk, or none is."""
    with Session(engine) as session, session.begin():
        for name, value in changes.items():
            session.merge(AlarmLimitRow(name=name, value=value, changed_by=user, changed_at=at))
