"""Sessions as JSON-ready dicts (the API) and the shared wording of reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from service.infusions.logic import (
    AlarmEpisode,
    Baseline,
    DischargeCheck,
    Gate,
    Note,
    SessionRecord,
    Summary,
)
from service.infusions.store import RawReading
from service.serialize import iso

#: Labels of the summary's peak metrics, in report order.
PEAK_LABELS = {"nibp_sys": "SBP", "nibp_dia": "DBP", "hr": "HR"}
BASELINE_FIELDS = {"nibp_sys": "sys", "nibp_dia": "dia", "hr": "hr"}


def baseline(found: Baseline | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {"sys": found.sys, "dia": found.dia, "hr": found.hr, "readings": found.readings}


def record(r: SessionRecord) -> dict[str, Any]:
    plan = r.plan
    return {
        "id": r.id,
        "bed": r.bed,
        "patient": r.patient,
        "drug": r.drug,
        "weight_kg": _finite(plan.weight_kg),
        "dose_mg_per_kg": _finite(plan.dose_mg_per_kg),
        "concentration_mg_ml": _finite(plan.concentration_mg_ml),
        "duration_min": _finite(plan.duration_min),
        "dose_mg": _round(plan.dose_mg),
        "expected_rate_ml_h": _round(plan.rate_ml_h),
        "vtbi_ml": _round(plan.vtbi_ml),
        "phase": r.phase.value,
        "created_at": iso(r.created_at),
        "created_by": r.created_by,
        "started_at": iso(r.started_at),
        "started_by": r.started_by,
        "infusion_ended_at": iso(r.infusion_ended_at),
        "infusion_ended_by": r.infusion_ended_by,
        "baseline": baseline(r.baseline),
        "gate_override": _override(r.gate_override_reason, r.gate_override_by),
        "discharged_at": iso(r.discharged_at),
        "discharged_by": r.discharged_by,
        "discharge_override_reason": r.discharge_override_reason,
        "error": r.problem,
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _round(value: float | None) -> float | None:
    """Two decimals; ``None`` for a damaged plan (never NaN or infinity: JSON has neither)."""
    return None if value is None or not math.isfinite(value) else round(value, 2)


def _override(reason: str | None, by: str | None) -> dict[str, Any] | None:
    return None if reason is None else {"reason": reason, "by": by}


def gate(g: Gate) -> dict[str, Any]:
    return {"ok": g.ok, "reasons": list(g.reasons)}


def check(c: DischargeCheck) -> dict[str, Any]:
    return {
        "ready": c.ready,
        "criteria": [{"name": x.name, "ok": x.ok, "detail": x.detail} for x in c.criteria],
    }


def note(n: Note) -> dict[str, Any]:
    return {"at": iso(n.at), "user": n.user, "kind": n.kind.value, "text": n.text}


def episode(e: AlarmEpisode) -> dict[str, Any]:
    return {
        "alarm_id": e.alarm_id,
        "key": e.key,
        "priority": e.priority,
        "message": e.message,
        "raised_at": iso(e.raised_at),
        "acknowledged_at": iso(e.acknowledged_at),
        "acknowledged_by": e.acknowledged_by,
        "response_s": e.response_s,
        "ended_at": iso(e.ended_at),
    }


def summary(s: Summary) -> dict[str, Any]:
    return {
        "planned_dose_mg": s.planned_dose_mg,
        "planned_volume_ml": s.planned_volume_ml,
        "expected_rate_ml_h": s.expected_rate_ml_h,
        "volume_delivered_ml": s.volume_delivered_ml,
        "dose_delivered_mg": s.dose_delivered_mg,
        "baseline": baseline(s.baseline),
        "peaks": {PEAK_LABELS[m]: {"value": p.value, "at": iso(p.at)} for m, p in s.peaks.items()},
    }


def clock(at: datetime | None) -> str:
    """Wall time as printed in reports (UTC; the clinic's tablets show local time)."""
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value: float | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:g} {unit}".strip()


def response(e: AlarmEpisode) -> str:
    return "-" if e.response_s is None else f"{e.response_s:.0f} s"


def summary_rows(s: Summary) -> list[tuple[str, str, str, str]]:
    """(measure, baseline, peak, peak time) rows shared by the HTML and PDF reports."""
    rows = []
    for metric, label in PEAK_LABELS.items():
        base = getattr(s.baseline, BASELINE_FIELDS[metric]) if s.baseline else None
        peak = s.peaks.get(metric)
        rows.append(
            (
                label,
                number(base),
                number(peak.value if peak else None),
                clock(peak.at if peak else None),
            )
        )
    return rows


def dose_lines(r: SessionRecord, s: Summary) -> list[str]:
    p = r.plan
    lines = [
        f"Drug: {r.drug}, {number(p.concentration_mg_ml, 'mg/mL')}",
        f"Planned: {number(p.dose_mg_per_kg, 'mg/kg')} x {number(p.weight_kg, 'kg')} = "
        f"{number(s.planned_dose_mg, 'mg')}, {number(s.planned_volume_ml, 'mL')} over "
        f"{number(p.duration_min, 'min')} at {number(s.expected_rate_ml_h, 'mL/h')}",
        f"Delivered (pump): {number(s.volume_delivered_ml, 'mL')}, "
        f"{number(s.dose_delivered_mg, 'mg')}",
    ]
    if r.problem:
        lines.insert(0, f"DAMAGED RECORD: {r.problem}")
    return lines


def signature_lines(r: SessionRecord) -> list[str]:
    lines = [
        f"Infusion started {clock(r.started_at)} by {r.started_by or '-'}",
        f"Infusion ended {clock(r.infusion_ended_at)} by {r.infusion_ended_by or '-'}",
        f"Discharged {clock(r.discharged_at)} by {r.discharged_by or '-'}",
    ]
    if r.gate_override_reason:
        lines.append(f"BP gate overridden by {r.gate_override_by}: {r.gate_override_reason}")
    if r.discharge_override_reason:
        lines.append(f"Discharge check overridden: {r.discharge_override_reason}")
    return lines


#: Metrics the tablet's trend charts draw (web/js/trends.js).
TREND_METRICS = ("hr", "pulse_rate", "spo2", "nibp_sys", "nibp_dia", "nibp_mean")


def trends(readings: Sequence[RawReading], start: datetime, end: datetime) -> dict[str, Any]:
    """``GET /readings/history``'s shape over a session window: ``{"since", "until",
    "metrics": {name: [[unix_seconds, value_or_null], ...]}}``; a reading that is not valid is
    ``null`` so the chart shows a gap rather than a questionable value."""
    out: dict[str, list[list[float | None]]] = {m: [] for m in TREND_METRICS}
    for r in sorted(readings, key=lambda r: r.measured_at):
        if r.metric in out:
            value = r.value if r.validity == "valid" else None
            out[r.metric].append([r.measured_at.timestamp(), value])
    return {"since": iso(start), "until": iso(end), "metrics": out}
