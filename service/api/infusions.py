"""Infusion sessions: create, start (BP gate), end, notes, discharge check and discharge,
history and exports (docs/infusions.md).

Every action awaits its database write before answering: a 200 means it is on disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from service.api.proof import NurseProof, acting_nurse
from service.api.security import Viewer
from service.api.types import RowId
from service.infusions import exports, pdf, views
from service.infusions.logic import PLAN_BOUNDS, NoteKind, Phase, Plan
from service.infusions.manager import (
    Collected,
    DischargeRefused,
    GateRefused,
    InfusionManager,
    SessionError,
)

router = APIRouter(tags=["sessions"])
log = logging.getLogger(__name__)

T = TypeVar("T")


async def _manager(request: Request) -> InfusionManager:
    """The runtime's infusion-session manager (loaded at start-up)."""
    manager: InfusionManager = request.app.state.runtime.infusions
    return manager


Manager = Annotated[InfusionManager, Depends(_manager)]


def _bounded(name: str, meaning: str) -> Any:
    """A plan field within its clinical range (``PLAN_BOUNDS``); NaN and infinity refused."""
    bound = PLAN_BOUNDS[name]
    return Field(
        ge=bound.low,
        le=bound.high,
        allow_inf_nan=False,
        description=f"{meaning} {bound.low:g}–{bound.high:g} {bound.unit}.",
    )


class NewSession(NurseProof):
    patient: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="Pseudonym."
    )
    name: str | None = Field(None, max_length=128, description="Shown to staff; never logged.")
    drug: str = Field("ketamine", min_length=1, max_length=64)
    weight_kg: float = _bounded("weight_kg", "Patient weight.")
    dose_mg_per_kg: float = _bounded("dose_mg_per_kg", "Planned dose per kg.")
    concentration_mg_ml: float = _bounded("concentration_mg_ml", "Concentration in the bag.")
    duration_min: float = _bounded("duration_min", "Planned infusion time.")


class Override(NurseProof):
    override_reason: str | None = Field(None, min_length=3, max_length=500)


class NewNote(BaseModel):
    kind: NoteKind
    text: str = Field("", max_length=2000)


async def _do(action: Awaitable[T]) -> T:
    """Turn the manager's refusals into HTTP answers that say why."""
    try:
        return await action
    except GateRefused as exc:
        detail: Any = {"message": str(exc), "gate": views.gate(exc.gate)}
        raise HTTPException(exc.status, detail) from None
    except DischargeRefused as exc:
        detail = {"message": str(exc), "check": views.check(exc.check)}
        raise HTTPException(exc.status, detail) from None
    except SessionError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        # A full or failing disk: the storage technical alarm is up; the session is unchanged.
        log.error("session action not stored: %s", exc)
        raise HTTPException(
            503, "not saved: the unit cannot write to its disk (see the storage alarm); try again"
        ) from None


@router.post("/sessions", summary="Open a session in the baseline phase (nurse)")
async def create(
    body: NewSession, user: Viewer, request: Request, manager: Manager
) -> dict[str, Any]:
    nurse = await acting_nurse(user, body, request.app.state.runtime)
    plan = Plan(body.weight_kg, body.dose_mg_per_kg, body.concentration_mg_ml, body.duration_min)
    record = await _do(
        manager.create(
            patient=body.patient, name=body.name, drug=body.drug, plan=plan, user=nurse.username
        )
    )
    return views.record(record)


@router.get("/sessions", summary="Session history, newest first")
async def history(
    user: Viewer, manager: Manager, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    return [views.record(r) for r in await manager.history(limit)]


async def _details(manager: InfusionManager, session_id: int) -> dict[str, Any]:
    c = await _do(manager.collect(session_id))
    out = views.record(c.record)
    out |= {
        "patient_name": c.patient_name,
        "summary": views.summary(c.summary),
        "notes": [views.note(n) for n in c.notes],
        "alarms": [views.episode(e) for e in c.alarms],
    }
    if c.record.phase is Phase.BASELINE:
        found, gate = await manager.baseline_preview(c.record)
        out |= {"baseline_preview": views.baseline(found), "gate": views.gate(gate)}
    if c.record.phase is Phase.RECOVERY:
        out["discharge_check"] = views.check(await manager.discharge_check(session_id))
    return out


@router.get("/sessions/current", summary="The bed's open session with its details (404: none)")
async def current(user: Viewer, manager: Manager) -> dict[str, Any]:
    if manager.current is None:
        raise HTTPException(404, "no open session")
    return await _details(manager, manager.current.id)


@router.get("/sessions/{session_id}", summary="A session: details, summary, notes, alarms")
async def details(session_id: RowId, user: Viewer, manager: Manager) -> dict[str, Any]:
    return await _details(manager, session_id)


@router.post("/sessions/{session_id}/start", summary="Start the infusion (nurse; BP gate)")
async def start(
    session_id: RowId,
    user: Viewer,
    request: Request,
    manager: Manager,
    body: Override | None = None,
) -> dict[str, Any]:
    nurse = await acting_nurse(user, body, request.app.state.runtime)
    reason = body.override_reason if body else None
    return views.record(await _do(manager.start(session_id, nurse.username, reason)))


@router.post("/sessions/{session_id}/end-infusion", summary="End the infusion (nurse)")
async def end_infusion(
    session_id: RowId,
    user: Viewer,
    request: Request,
    manager: Manager,
    body: NurseProof | None = None,
) -> dict[str, Any]:
    nurse = await acting_nurse(user, body, request.app.state.runtime)
    return views.record(await _do(manager.end_infusion(session_id, nurse.username)))


@router.post("/sessions/{session_id}/notes", summary="Add a note (sitter)")
async def add_note(
    session_id: RowId, body: NewNote, user: Viewer, manager: Manager
) -> dict[str, Any]:
    if body.kind is NoteKind.OTHER and not body.text.strip():
        raise HTTPException(422, "a note of kind 'other' needs text")
    return views.note(await _do(manager.add_note(session_id, user.username, body.kind, body.text)))


@router.get("/sessions/{session_id}/discharge-check", summary="Is the patient ready to go?")
async def discharge_check(session_id: RowId, user: Viewer, manager: Manager) -> dict[str, Any]:
    return views.check(await _do(manager.discharge_check(session_id)))


@router.post("/sessions/{session_id}/discharge", summary="Discharge (nurse; check or override)")
async def discharge(
    session_id: RowId,
    user: Viewer,
    request: Request,
    manager: Manager,
    body: Override | None = None,
) -> dict[str, Any]:
    nurse = await acting_nurse(user, body, request.app.state.runtime)
    reason = body.override_reason if body else None
    return views.record(await _do(manager.discharge(session_id, nurse.username, reason)))


# -- exports (rendered in a worker thread: a PDF takes tens of milliseconds) ---------------


async def _collect(manager: InfusionManager, session_id: int) -> Collected:
    return await _do(manager.collect(session_id))


def _download(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get("/sessions/{session_id}/trends", summary="The session's readings for the trend charts")
async def trends(session_id: RowId, user: Viewer, manager: Manager) -> dict[str, Any]:
    """Same shape as ``GET /readings/history``, over the session window."""
    c = await _collect(manager, session_id)
    end = c.record.discharged_at or manager.host.clock.utcnow()
    return views.trends(c.readings, c.record.created_at, end)


@router.get("/sessions/{session_id}/readings.csv", summary="Raw readings in the session window")
async def readings_csv(session_id: RowId, user: Viewer, manager: Manager) -> Response:
    c = await _collect(manager, session_id)
    text = await asyncio.to_thread(exports.readings_csv, c.readings)
    headers = _download(f"session-{session_id}-readings.csv")
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/sessions/{session_id}/fhir", summary="FHIR R4 Bundle (pseudonymous)")
async def fhir(session_id: RowId, user: Viewer, manager: Manager) -> dict[str, Any]:
    c = await _collect(manager, session_id)
    return await asyncio.to_thread(exports.fhir_bundle, c)


@router.get("/sessions/{session_id}/report.html", summary="Printable session report")
async def report_html(session_id: RowId, user: Viewer, manager: Manager) -> HTMLResponse:
    c = await _collect(manager, session_id)
    return HTMLResponse(await asyncio.to_thread(exports.report_html, c))


@router.get("/sessions/{session_id}/report.pdf", summary="Session report as PDF")
async def report_pdf(session_id: RowId, user: Viewer, manager: Manager) -> Response:
    c = await _collect(manager, session_id)
    body = await asyncio.to_thread(pdf.report_pdf, c)
    headers = _download(f"session-{session_id}-report.pdf")
    return Response(body, media_type="application/pdf", headers=headers)
