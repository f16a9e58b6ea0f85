"""Exports of one session: raw readings as CSV, a FHIR R4 Bundle, a printable HTML report.

Pure formatting of what ``InfusionManager.collect`` read. Exports carry the pseudonym only,
never the patient's name.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from html import escape
from typing import Any

from drivers.readings import METRICS, Metric
from service.infusions import views
from service.infusions.logic import AlarmEpisode, SessionRecord
from service.infusions.manager import Collected
from service.infusions.store import RawReading
from service.serialize import iso

KNOWN = {m.value for m in Metric}
CSV_COLUMNS = ("measured_at", "source", "metric", "value", "unit", "validity", "mdc_code")


def readings_csv(readings: list[RawReading]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in readings:
        info = METRICS[Metric(r.metric)] if r.metric in KNOWN else None
        writer.writerow(
            (
                iso(r.measured_at),
                r.source,
                r.metric,
                "" if r.value is None else f"{r.value:g}",
                info.unit if info else "",
                r.validity,
                info.mdc_code if info else "",
            )
        )
    return out.getvalue()


# -- FHIR ----------------------------------------------------------------------------------

MDC_SYSTEM = "urn:iso:std:iso:11073:10101"
LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
PATIENT_SYSTEM = "urn:vigil:patient"

#: LOINC codes of the metrics that have a well-known one (the MDC code is always given).
LOINC: dict[Metric, tuple[str, str]] = {
    Metric.HR: ("8867-4", "Heart rate"),
    Metric.PULSE_RATE: ("8889-8", "Heart rate by Pulse oximetry"),
    Metric.SPO2: ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    Metric.NIBP_SYS: ("8480-6", "Systolic blood pressure"),
    Metric.NIBP_DIA: ("8462-4", "Diastolic blood pressure"),
    Metric.NIBP_MEAN: ("8478-0", "Mean blood pressure"),
    Metric.RESP_RATE: ("9279-1", "Respiratory rate"),
    Metric.ETCO2: ("19889-5", "Carbon dioxide/Gas.total.at end expiration in Exhaled gas"),
    Metric.TEMP: ("8310-5", "Body temperature"),
}

UCUM = {"bpm": "/min", "/min": "/min", "%": "%", "mmHg": "mm[Hg]", "°C": "Cel"}


def _urn(session_id: int, what: str) -> str:
    # Stable ids: exporting the same session twice gives the same Bundle.
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'vigil/session/{session_id}/{what}')}"


def _observation(r: RawReading, patient: str) -> dict[str, Any] | None:
    if r.value is None or r.metric not in KNOWN:
        return None  # an invalid reading has no value to export
    metric = Metric(r.metric)
    info = METRICS[metric]
    coding = [{"system": MDC_SYSTEM, "code": str(info.mdc_code), "display": info.mdc_name}]
    if metric in LOINC:
        code, display = LOINC[metric]
        coding.insert(0, {"system": LOINC_SYSTEM, "code": code, "display": display})
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": coding, "text": info.label},
        "subject": {"reference": patient},
        "effectiveDateTime": iso(r.measured_at),
        "valueQuantity": {
            "value": r.value,
            "unit": info.unit,
            "system": UCUM_SYSTEM,
            "code": UCUM.get(info.unit, info.unit),
        },
        "device": {"display": r.source},
    }
    if r.validity != "valid":
        obs["note"] = [{"text": f"flagged {r.validity} by the device"}]
    return obs


def _flag(e: AlarmEpisode, patient: str) -> dict[str, Any]:
    period = {"start": iso(e.raised_at)}
    if e.ended_at is not None:
        period["end"] = iso(e.ended_at)
    ack = (
        f"; acknowledged by {e.acknowledged_by} after {e.response_s:.0f} s"
        if e.response_s is not None
        else "; not acknowledged"
    )
    return {
        "resourceType": "Flag",
        "status": "inactive" if e.ended_at else "active",
        "category": [{"text": "alarm"}],
        "code": {"text": f"{e.priority.upper()} {e.key}: {e.message}{ack}"},
        "subject": {"reference": patient},
        "period": period,
    }


def fhir_bundle(c: Collected) -> dict[str, Any]:
    r = c.record
    patient_url = _urn(r.id, "patient")
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient_url,
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": PATIENT_SYSTEM, "value": r.patient}],
            },
        }
    ]
    for i, reading in enumerate(c.readings):
        obs = _observation(reading, patient_url)
        if obs is not None:
            entries.append({"fullUrl": _urn(r.id, f"obs/{i}"), "resource": obs})
    for e in c.alarms:
        entries.append(
            {"fullUrl": _urn(r.id, f"alarm/{e.alarm_id}"), "resource": _flag(e, patient_url)}
        )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": iso(r.discharged_at or r.created_at),
        "entry": entries,
    }


# -- printable report ----------------------------------------------------------------------

STYLE = """
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; margin-bottom: 1em; }
td, th { border: 1px solid #999; padding: 0.2em 0.6em; text-align: left; }
@media print { body { margin: 0; } }
"""


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def alarm_rows(c: Collected) -> list[tuple[str, ...]]:
    return [
        (
            views.clock(e.raised_at),
            e.priority.upper(),
            e.message,
            views.clock(e.acknowledged_at),
            e.acknowledged_by or "-",
            views.response(e),
        )
        for e in c.alarms
    ]


ALARM_HEAD = ("raised", "priority", "alarm", "acknowledged", "by", "response")


def note_rows(c: Collected) -> list[tuple[str, ...]]:
    return [(views.clock(n.at), n.user, n.kind.value, n.text) for n in c.notes]


def title(r: SessionRecord) -> str:
    return f"Infusion session {r.id} - patient {r.patient} - {r.bed}"


def report_html(c: Collected) -> str:
    r, s = c.record, c.summary
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title(r))}</title>",
        f"<style>{STYLE}</style></head><body><h1>{escape(title(r))}</h1>",
        "<h2>Dose and volume</h2>",
        "".join(f"<p>{escape(line)}</p>" for line in views.dose_lines(r, s)),
        "<h2>Baseline and peaks</h2>",
        _table(("measure", "baseline", "peak", "at"), views.summary_rows(s)),
        "<h2>Alarms</h2>",
        _table(ALARM_HEAD, alarm_rows(c)) if c.alarms else "<p>No alarms.</p>",
        "<h2>Notes</h2>",
        _table(("at", "by", "kind", "text"), note_rows(c)) if c.notes else "<p>No notes.</p>",
        "<h2>Signatures</h2>",
        "".join(f"<p>{escape(line)}</p>" for line in views.signature_lines(r)),
        "</body></html>",
    ]
    return "".join(parts)
