"""The central's database: batched writes in a worker thread, and the reads of its API.

The board (central/board.py) produces records; ``CentralWriter`` queues them and writes
them in batches, one transaction per batch, in a worker thread, so neither the event loop nor
the MQTT thread ever waits for the database. A failed write keeps the batch and retries with
back-off (the overview shows "storage failing"); nothing is dropped but vital readings beyond
``max_queued`` while the database is away.

Each ``put`` returns a ticket; ``written`` is the highest ticket whose records (and every
record before them) are committed. The station acknowledges the broker's QoS 1 messages by
ticket (PUBACK after the commit, see station.py).

An event is stored once: ``central_events`` has a unique (bed, seq) and the insert is ``ON
CONFLICT DO NOTHING``; its alarm_log row is written only when the event row was new, and the
bed's ``last_seq`` is raised in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, create_engine, event, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from central.board import AuditRecord, BedRecord, EventRecord, ReadingRecord, Record
from central.tables import AlarmLogRow, AuditLogRow, BedRow, EventRow, ReadingRow
from service.persistence.db import make_engine
from service.serialize import iso

log = logging.getLogger(__name__)

BATCH = 1000
#: Beyond this many queued records, new vital readings are dropped (and counted); events,
#: alarms, beds and audit records are always kept.
MAX_QUEUED = 500_000


def central_engine(url: str) -> Engine:
    """SQLite (as at a bed: WAL, synchronous=FULL) or PostgreSQL, with a connect time-out so a
    database host that vanished fails a write in seconds instead of minutes."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return make_engine(url)
    if backend != "postgresql":
        raise ValueError(f"db_url: the central runs on SQLite or PostgreSQL, not {backend}")
    engine = create_engine(
        url, pool_pre_ping=True, pool_size=5, connect_args={"connect_timeout": 5}
    )
    event.listen(engine, "connect", _statement_timeout)
    return engine


def _statement_timeout(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '30s'")
    dbapi_connection.commit()


def _insert(engine: Engine, table: Any) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def write_batch(engine: Engine, clinic: str, records: Sequence[Record]) -> None:
    """One transaction: readings, events (each once), beds, audit records."""
    readings: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    beds: dict[str, BedRecord] = {}
    events: list[EventRecord] = []
    for r in records:
        if isinstance(r, ReadingRecord):
            readings.append(
                {
                    "bed": r.bed,
                    "source": r.source[:64],
                    "metric": r.metric[:32],
                    "value": r.value,
                    "validity": r.validity[:16],
                    "measured_at": r.measured_at,
                }
            )
        elif isinstance(r, EventRecord):
            events.append(r)
        elif isinstance(r, BedRecord):
            beds[r.bed] = r  # the newest of the batch
        elif isinstance(r, AuditRecord):
            audits.append(
                {
                    "bed": r.bed,
                    "at": r.at,
                    "mono": None,
                    "user": r.user[:64],
                    "action": r.action[:64],
                    "detail": r.detail[:512],
                }
            )
    beds_table = BedRow.__table__
    with engine.begin() as conn:
        if readings:
            conn.execute(insert(ReadingRow), readings)
        last_seq: dict[str, int] = {}
        for e in events:
            stmt = (
                _insert(engine, EventRow.__table__)
                .values(
                    bed=e.bed,
                    seq=e.seq,
                    kind=e.kind[:32],
                    at=e.at,
                    received_at=e.received_at,
                    payload=e.payload,
                )
                .on_conflict_do_nothing(index_elements=["bed", "seq"])
                .returning(EventRow.__table__.c.id)
            )
            new = conn.execute(stmt).first() is not None
            if new and e.alarm_log is not None:
                conn.execute(insert(AlarmLogRow), [e.alarm_log])
            last_seq[e.bed] = max(last_seq.get(e.bed, 0), e.seq)
        for bed, seq in last_seq.items():
            up = _insert(engine, beds_table).values(bed=bed, clinic=clinic, last_seq=seq)
            conn.execute(
                up.on_conflict_do_update(
                    index_elements=["bed"],
                    set_={
                        "last_seq": case(
                            (beds_table.c.last_seq < up.excluded.last_seq, up.excluded.last_seq),
                            else_=beds_table.c.last_seq,
                        )
                    },
                )
            )
        for b in beds.values():
            values = {
                "online": b.online,
                "status_at": b.status_at,
                "last_seen": b.last_seen,
                "state": b.state,
            }
            up = _insert(engine, beds_table).values(bed=b.bed, clinic=clinic, **values)
            conn.execute(up.on_conflict_do_update(index_elements=["bed"], set_=values))
        if audits:
            conn.execute(insert(AuditLogRow), audits)


class CentralWriter:
    def __init__(self, engine: Engine, clinic: str, max_queued: int = MAX_QUEUED) -> None:
        self.engine = engine
        self.clinic = clinic
        self.max_queued = max_queued
        self._queue: deque[tuple[int, Record]] = deque()
        self._wake = asyncio.Event()
        self.ticket = 0
        #: Every record up to this ticket is committed.
        self.written_ticket = 0
        self.written = 0
        self.dropped = 0
        self.failing = False
        self.last_error = ""
        #: Called on the loop after every commit and when the writer starts failing.
        self.on_written: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, records: Sequence[Record]) -> int:
        """Queue records (never blocks); returns the ticket to wait for."""
        if records:
            if len(self._queue) >= self.max_queued:
                kept = [r for r in records if not isinstance(r, ReadingRecord)]
                self.dropped += len(records) - len(kept)
                records = kept
            if records:
                self.ticket += 1
                self._queue.extend((self.ticket, r) for r in records)
                self._wake.set()
        if not self._queue:
            self.written_ticket = self.ticket
        return self.ticket

    async def run(self) -> None:
        delay = 0.2
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue[i] for i in range(min(BATCH, len(self._queue)))]
            try:
                await asyncio.to_thread(
                    write_batch, self.engine, self.clinic, [r for _, r in batch]
                )
            except (SQLAlchemyError, OSError) as exc:
                self.last_error = str(exc).splitlines()[0][:200] if str(exc) else repr(exc)
                if not self.failing:
                    self.failing = True
                    log.error("storage failing, keeping %d records: %s", len(self._queue), exc)
                    self._notify()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for _ in batch:
                self._queue.popleft()
            self.written += len(batch)
            self.written_ticket = self._queue[0][0] - 1 if self._queue else self.ticket
            delay = 0.2
            if self.failing:
                self.failing = False
                self.last_error = ""
                log.info("storage recovered")
            self._notify()

    def _notify(self) -> None:
        for callback in self.on_written:
            callback()

    async def flush(self, timeout: float = 5.0) -> None:
        """Write what is queued (at shutdown), once."""
        records = [r for _, r in self._queue]
        if not records:
            return
        async with asyncio.timeout(timeout):
            await asyncio.to_thread(write_batch, self.engine, self.clinic, records)
        self._queue.clear()
        self.written += len(records)
        self.written_ticket = self.ticket

    def health(self) -> dict[str, Any]:
        return {
            "ok": not self.failing,
            "written": self.written,
            "queued": len(self._queue),
            "dropped_readings": self.dropped,
            "last_error": self.last_error,
        }


# -- reads (called in worker threads) ------------------------------------------------------------


def load_beds(engine: Engine, clinic: str) -> list[BedRow]:
    with Session(engine) as session:
        rows = session.scalars(select(BedRow).where(BedRow.clinic == clinic)).all()
        session.expunge_all()
        return list(rows)


def escalated_since(engine: Engine, since: datetime) -> dict[tuple[str, str], datetime]:
    """(bed, alarm id) → when, for the escalations recorded since ``since``."""
    out: dict[tuple[str, str], datetime] = {}
    with Session(engine) as session:
        rows = session.execute(
            select(AuditLogRow.bed, AuditLogRow.detail, AuditLogRow.at).where(
                AuditLogRow.action == "escalated", AuditLogRow.at >= since
            )
        ).all()
    for bed, detail, at in rows:
        try:
            alarm_id = json.loads(detail)["alarm_id"]
        except (ValueError, KeyError, TypeError):
            continue
        if bed is not None and isinstance(alarm_id, str):
            out[(bed, alarm_id)] = at
    return out


def alarm_log(engine: Engine, bed: str, limit: int = 100) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(AlarmLogRow)
            .where(AlarmLogRow.bed == bed)
            .order_by(AlarmLogRow.at.desc(), AlarmLogRow.id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "at": iso(r.at),
            "event": r.event,
            "alarm_id": r.alarm_id,
            "key": r.key,
            "kind": r.kind,
            "priority": r.priority,
            "state": r.state,
            "condition": r.condition,
            "signal": r.signal,
            "message": r.message,
            "source": r.source,
            "user": r.user,
            "cause": r.cause,
            "started_at": iso(r.started_at),
        }
        for r in rows
    ]


def trends(engine: Engine, bed: str, since: datetime) -> dict[str, list[list[float | None]]]:
    """``{name: [[unix_seconds, value_or_null], ...]}``, oldest first (as /readings/history)."""
    out: dict[str, list[list[float | None]]] = {}
    with Session(engine) as session:
        rows = session.execute(
            select(ReadingRow.metric, ReadingRow.measured_at, ReadingRow.value)
            .where(ReadingRow.bed == bed, ReadingRow.measured_at >= since)
            .order_by(ReadingRow.measured_at)
        ).all()
    for metric, at, value in rows:
        out.setdefault(metric, []).append([at.timestamp(), value])
    return out
