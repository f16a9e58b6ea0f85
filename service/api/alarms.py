"""Alarm actions: acknowledge, responsibility, audio pause, limits; and the audit log.

Every action names its user and lands in the audit log. Until sign-in exists, the user is
taken from the request body as given: the API must then only be reachable from the clinic's
tablets.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import serialize
from service.alarms.engine import Output
from service.alarms.limits import LIMITS
from service.alarms.model import AlarmTransition
from service.api.deps import RuntimeDep
from service.persistence.models import AuditLogRow

router = APIRouter(tags=["alarms"])


class Actor(BaseModel):
    user: str = Field(min_length=1, max_length=64, description="Who acts (audited).")


class AudioPause(Actor):
    seconds: float | None = Field(None, gt=0, le=120, description="At most 120 s.")


class LimitChange(Actor):
    limits: dict[str, float] = Field(description="Limit name → new value (see GET /limits).")


def _out(outputs: list[Output]) -> list[dict[str, Any]]:
    return [
        serialize.transition(o) if isinstance(o, AlarmTransition) else serialize.message(o)
        for o in outputs
    ]


@router.post("/alarms/{alarm_id}/acknowledge", summary="Acknowledge an alarm")
async def acknowledge(alarm_id: str, body: Actor, runtime: RuntimeDep) -> list[dict[str, Any]]:
    try:
        return _out(runtime.acknowledge(alarm_id, body.user))
    except KeyError:
        raise HTTPException(404, f"no shown alarm with id {alarm_id!r}") from None


@router.post("/alarms/{alarm_id}/accept", summary="Accept responsibility for an alarm")
async def accept(alarm_id: str, body: Actor, runtime: RuntimeDep) -> list[dict[str, Any]]:
    try:
        return _out(runtime.accept_responsibility(alarm_id, body.user))
    except KeyError:
        raise HTTPException(404, f"no shown alarm with id {alarm_id!r}") from None


@router.post("/alarms/{alarm_id}/reject", summary="Reject responsibility (escalates at once)")
async def reject(alarm_id: str, body: Actor, runtime: RuntimeDep) -> list[dict[str, Any]]:
    try:
        return _out(runtime.reject_responsibility(alarm_id, body.user))
    except KeyError:
        raise HTTPException(404, f"no shown alarm with id {alarm_id!r}") from None


@router.post("/audio/pause", summary="Pause audible alarm signals (at most 2 min)")
async def pause(body: AudioPause, runtime: RuntimeDep) -> list[dict[str, Any]]:
    return _out(runtime.pause_audio(body.user, body.seconds))


@router.post("/audio/resume", summary="End an audio pause")
async def resume(body: Actor, runtime: RuntimeDep) -> list[dict[str, Any]]:
    return _out(runtime.resume_audio(body.user))


@router.get("/alarms/limits", summary="Current alarm limits with defaults and sources")
async def limits(runtime: RuntimeDep) -> dict[str, Any]:
    current = runtime.engine.limits.as_dict()
    return {
        name: {
            "value": current[name],
            "default": info.default,
            "unit": info.unit,
            "meaning": info.meaning,
            "source": info.source,
            "range": [info.low, info.high],
        }
        for name, info in LIMITS.items()
    }


@router.put("/alarms/limits", summary="Change alarm limits (audited)")
async def change_limits(body: LimitChange, runtime: RuntimeDep) -> list[dict[str, Any]]:
    try:
        return _out(runtime.set_limits(body.limits, body.user))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/audit", summary="The audit log of human actions, newest first")
async def audit(
    runtime: RuntimeDep, limit: int = Query(100, ge=1, le=10_000)
) -> list[dict[str, Any]]:
    def query() -> list[dict[str, Any]]:
        with Session(runtime.db) as session:
            rows = session.scalars(
                select(AuditLogRow).order_by(AuditLogRow.id.desc()).limit(limit)
            ).all()
        return [
            {"at": serialize.iso(r.at), "user": r.user, "action": r.action, "detail": r.detail}
            for r in rows
        ]

    return await asyncio.to_thread(query)
