"""Health, latest readings and alarms."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import serialize
from service.api.deps import RuntimeDep
from service.api.security import OptionalUser, Viewer
from service.persistence.models import AlarmLogRow, ReadingRow

router = APIRouter(tags=["status"])


@router.get(
    "/health",
    summary="Status and bed; signed in: devices, their availability, storage and clients",
)
async def health(runtime: RuntimeDep, user: OptionalUser) -> dict[str, Any]:
    """Anyone (a monitoring probe) gets ``{"status", "bed"}``; the details (device URLs,
    counts, last errors) only a signed-in user."""
    full = runtime.health()
    if user is None:
        return {"status": full["status"], "bed": full["bed"]}
    return full


@router.get("/readings/latest", summary="The latest value of every metric, pump and condition")
async def latest(user: Viewer, runtime: RuntimeDep) -> dict[str, Any]:
    snap = runtime.snapshot()
    return {key: snap[key] for key in ("server_time", "vitals", "conditions", "pumps", "devices")}


@router.get("/alarms", summary="Alarms active now, highest priority first")
async def alarms(user: Viewer, runtime: RuntimeDep) -> list[dict[str, Any]]:
    return [serialize.alarm(a, runtime.live.audible.get(a.id)) for a in runtime.live.alarms]


@router.get("/alarms/log", summary="The alarm log, newest first")
async def alarm_log(
    user: Viewer, runtime: RuntimeDep, limit: int = Query(100, ge=1, le=10_000)
) -> list[dict[str, Any]]:
    def query() -> list[dict[str, Any]]:
        with Session(runtime.db) as session:
            rows = session.scalars(
                select(AlarmLogRow).order_by(AlarmLogRow.id.desc()).limit(limit)
            ).all()
        return [
            {
                "event": r.event,
                "condition": r.condition,
                "signal": r.signal,
                "user": r.user,
                "notify": r.notify,
                "cause": r.cause,
                "alarm_id": r.alarm_id,
                "key": r.key,
                "kind": r.kind,
                "priority": r.priority,
                "state": r.state,
                "message": r.message,
                "source": r.source,
                "started_at": serialize.iso(r.started_at),
                "at": serialize.iso(r.at),
            }
            for r in rows
        ]

    return await asyncio.to_thread(query)


@router.get("/readings/history", summary="Stored vital readings of the last minutes, per metric")
async def history(
    user: Viewer,
    runtime: RuntimeDep,
    minutes: float = Query(240, gt=0, le=24 * 60),
    metrics: str = Query("hr,pulse_rate,spo2,nibp_sys,nibp_dia,nibp_mean,resp_rate,etco2"),
) -> dict[str, Any]:
    """``{"metrics": {name: [[unix_seconds, value_or_null], ...]}}``, oldest first; invalid
    readings are ``null`` so a chart shows the gap."""
    wanted = [m.strip() for m in metrics.split(",") if m.strip()]
    since = runtime.clock.utcnow() - timedelta(minutes=minutes)

    def query() -> dict[str, list[list[float | None]]]:
        out: dict[str, list[list[float | None]]] = {m: [] for m in wanted}
        with Session(runtime.db) as session:
            rows = session.execute(
                select(ReadingRow.metric, ReadingRow.measured_at, ReadingRow.value)
                .where(ReadingRow.metric.in_(wanted), ReadingRow.measured_at >= since)
                .order_by(ReadingRow.measured_at)
            ).all()
        for metric, at, value in rows:
            out[metric].append([at.timestamp(), value])
        return out

    return {"since": serialize.iso(since), "metrics": await asyncio.to_thread(query)}
