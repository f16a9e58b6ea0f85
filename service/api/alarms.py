"""Alarm actions: acknowledge, responsibility, audio pause, limits; and the audit log.

Every action is taken by the signed-in user and lands in the audit log. Acknowledging and
responsibility need a nurse: either the signed-in user is one, or a nurse walking up to a
tablet signed in as the sitter gives their user name and PIN with the request (no sign-out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service import serialize
from service.alarms.engine import Output, PauseRefused
from service.alarms.limits import LIMITS
from service.alarms.model import AlarmTransition
from service.api.deps import AlarmsDep, RuntimeDep
from service.api.proof import NurseProof, acting_nurse
from service.api.security import Nurse, Viewer
from service.api.types import AlarmId
from service.auth.users import Role, User
from service.persistence.models import AuditLogRow

router = APIRouter(tags=["alarms"])
log = logging.getLogger(__name__)


class AudioPause(NurseProof):
    """How long (at most 120 s); a nurse's ``username`` and ``pin`` to pause an alarm again."""

    seconds: float | None = Field(None, gt=0, le=120, description="At most 120 s.")


class LimitChange(BaseModel):
    limits: dict[str, float] = Field(description="Limit name → new value (see GET /limits).")


def _out(outputs: list[Output]) -> list[dict[str, Any]]:
    return [
        serialize.transition(o) if isinstance(o, AlarmTransition) else serialize.message(o)
        for o in outputs
    ]


async def _alarm_action(
    action: Callable[[str, str], Awaitable[list[Output]]], alarm_id: str, user: User
) -> list[dict[str, Any]]:
    try:
        return _out(await action(alarm_id, user.username))
    except KeyError:
        raise HTTPException(404, f"no shown alarm with id {alarm_id!r}") from None


@router.post("/alarms/{alarm_id}/acknowledge", summary="Acknowledge an alarm (nurse)")
async def acknowledge(
    alarm_id: AlarmId,
    user: Viewer,
    runtime: RuntimeDep,
    alarms: AlarmsDep,
    body: NurseProof | None = None,
) -> list[dict[str, Any]]:
    nurse = await acting_nurse(user, body, runtime)
    return await _alarm_action(alarms.acknowledge, alarm_id, nurse)


@router.post("/alarms/{alarm_id}/accept", summary="Accept responsibility for an alarm (nurse)")
async def accept(
    alarm_id: AlarmId,
    user: Viewer,
    runtime: RuntimeDep,
    alarms: AlarmsDep,
    body: NurseProof | None = None,
) -> list[dict[str, Any]]:
    nurse = await acting_nurse(user, body, runtime)
    return await _alarm_action(alarms.accept_responsibility, alarm_id, nurse)


@router.post("/alarms/{alarm_id}/reject", summary="Reject responsibility: escalates at once")
async def reject(
    alarm_id: AlarmId,
    user: Viewer,
    runtime: RuntimeDep,
    alarms: AlarmsDep,
    body: NurseProof | None = None,
) -> list[dict[str, Any]]:
    nurse = await acting_nurse(user, body, runtime)
    return await _alarm_action(alarms.reject_responsibility, alarm_id, nurse)


@router.post("/audio/pause", summary="Pause audible alarm signals (at most 2 min)")
async def pause(
    user: Viewer, runtime: RuntimeDep, alarms: AlarmsDep, body: AudioPause | None = None
) -> list[dict[str, Any]]:
    """A sitter may pause an alarm once. Pausing again while an alarm an earlier pause silenced
    is still shown needs a nurse: one signed in, or a nurse's ``username`` and ``pin`` in the
    body (the pause is then recorded as the nurse's); otherwise 403, and the refusal is
    audited."""
    proof = body is not None and bool(body.username) and bool(body.pin)
    nurse = proof or user.role.at_least(Role.NURSE)
    actor = await acting_nurse(user, body, runtime) if nurse else user
    try:
        outputs = await alarms.pause_audio(
            actor.username, body.seconds if body else None, nurse=nurse
        )
    except PauseRefused as refused:
        raise HTTPException(403, str(refused)) from None
    return _out(outputs)


@router.post("/audio/resume", summary="End an audio pause")
async def resume(user: Viewer, alarms: AlarmsDep) -> list[dict[str, Any]]:
    return _out(await alarms.resume_audio(user.username))


@router.get("/alarms/limits", summary="Current alarm limits with defaults and sources")
async def limits(user: Viewer, alarms: AlarmsDep) -> dict[str, Any]:
    current = alarms.engine.limits.as_dict()
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


@router.put("/alarms/limits", summary="Change alarm limits (nurse; audited)")
async def change_limits(body: LimitChange, nurse: Nurse, alarms: AlarmsDep) -> list[dict[str, Any]]:
    try:
        return _out(await alarms.set_limits(body.limits, nurse.username))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        # Not stored, so not applied: a restart must never silently revert a limit.
        log.error("limit change not stored: %s", exc)
        raise HTTPException(
            503, "not saved: the unit cannot write to its disk; the limits are unchanged"
        ) from None


@router.get("/audit", summary="The audit log of human actions, newest first")
async def audit(
    user: Viewer, runtime: RuntimeDep, limit: int = Query(100, ge=1, le=10_000)
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
