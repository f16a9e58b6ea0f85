"""The session lifecycle through the API on a real uvicorn server, with its exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from pypdf import PdfReader

from drivers.readings import Metric, PumpReading, PumpState, Validity, VitalReading
from service.alarms.model import TabletCount
from service.infusions.manager import InfusionManager
from service.settings import Settings
from tests.support import RunningServer, start_server, wait_for

API = "/api/v1/sessions"


def start(data_dir: Path) -> RunningServer:
    return start_server(Settings(data_dir=data_dir))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start(tmp_path / "data")
    yield running
    running.stop()


def pump(server: RunningServer, rate: float, volume: float, state: PumpState) -> None:
    now = server.app.state.runtime.clock.utcnow()
    server.publish(PumpReading("pump", now, state, "", rate, volume, 35.0))


def alarms(client: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = client.get("/api/v1/alarms").json()
    return result


NEW = {"patient": "P-0042", "name": "Ada Example", "weight_kg": 70, "dose_mg_per_kg": 0.5,
       "concentration_mg_ml": 1.0, "duration_min": 40}  # fmt: skip


def test_lifecycle_from_baseline_to_discharge(server: RunningServer) -> None:
    runtime = server.app.state.runtime
    nurse, sitter = server.login("nurse"), server.login("sitter")
    feed_tablet = TabletCount(1, runtime.clock.utcnow())  # a tablet watches (no "no tablet")
    runtime.loop.call_soon_threadsafe(runtime.publish, feed_tablet)

    assert sitter.post(API, json=NEW).status_code == 403
    created = nurse.post(API, json=NEW)
    assert created.status_code == 200, created.text
    session = created.json()
    sid = session["id"]
    assert session["phase"] == "baseline" and session["expected_rate_ml_h"] == 52.5
    assert session["vtbi_ml"] == 35 and "name" not in session
    assert nurse.post(API, json=NEW).status_code == 409  # one open session per bed

    # Two baseline cuff readings at 150/95.
    server.cuff(150, 95, 72)
    server.cuff(150, 95, 76)
    current = wait_for(
        lambda: (c := sitter.get(f"{API}/current").json()).get("baseline_preview") and c
    )
    assert current["baseline_preview"]["readings"] == 2
    assert current["gate"]["ok"] is False and current["patient_name"] == "Ada Example"

    # The gate refuses; a sitter may not start; the nurse overrides with a reason.
    assert sitter.post(f"{API}/{sid}/start", json={}).status_code == 403
    refused = nurse.post(f"{API}/{sid}/start", json={})
    assert refused.status_code == 409
    assert refused.json()["detail"]["gate"]["reasons"] == [
        "baseline SBP 150 > 140",
        "baseline DBP 95 > 90",
    ]
    reason = "white-coat hypertension, usual for this patient"
    started = nurse.post(f"{API}/{sid}/start", json={"override_reason": reason})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["phase"] == "infusion"
    assert body["baseline"] == {"sys": 150, "dia": 95, "hr": 74, "readings": 2}
    assert body["gate_override"] == {"reason": reason, "by": "nurse"}
    wait_for(lambda: runtime.engine._context.running and runtime.engine._context.baseline_sys)

    # Notes by the sitter.
    note = sitter.post(f"{API}/{sid}/notes", json={"kind": "nausea", "text": "mild"})
    assert note.status_code == 200 and note.json()["user"] == "sitter"
    assert sitter.post(f"{API}/{sid}/notes", json={"kind": "other"}).status_code == 422
    assert sitter.post(f"{API}/{sid}/notes", json={"kind": "asleep"}).status_code == 200

    # The pump runs at the wrong rate twice: a technical alarm the nurse acknowledges.
    pump(server, 12.0, 1.0, PumpState.INFUSING)
    pump(server, 12.0, 2.0, PumpState.INFUSING)
    mismatch = wait_for(
        lambda: [a for a in alarms(sitter) if a["key"].startswith("pump_rate:pump:")]
    )[0]
    assert "rate 12.0 mL/h ≠ expected 52.5 mL/h" in mismatch["message"]
    assert mismatch["priority"] == "medium"
    ack = nurse.post(f"/api/v1/alarms/{mismatch['id']}/acknowledge")
    assert ack.status_code == 200
    pump(server, 52.5, 30.0, PumpState.INFUSING)  # reprogrammed: the alarm ends
    server.cuff(158, 96, 95)  # the peak
    pump(server, 0.0, 35.0, PumpState.STANDBY)  # the whole VTBI delivered
    wait_for(lambda: not alarms(sitter))

    assert sitter.post(f"{API}/{sid}/end-infusion").status_code == 403
    ended = nurse.post(f"{API}/{sid}/end-infusion")
    assert ended.status_code == 200 and ended.json()["phase"] == "recovery"
    assert nurse.post(f"{API}/{sid}/discharge").status_code == 409  # not ready yet

    server.cuff(138, 88, 70)  # back near baseline
    check = wait_for(
        lambda: (c := sitter.get(f"{API}/{sid}/discharge-check").json())["criteria"][1]["ok"] and c
    )
    assert check["ready"] is False
    assert [c["name"] for c in check["criteria"] if not c["ok"]] == ["recovery_time"]

    # Time passes: instead of waiting 30 min, the clinic's minimum recovery becomes 0.
    manager: InfusionManager = server.app.state.runtime.infusions
    manager.rules = replace(manager.rules, min_recovery=timedelta(0))
    assert sitter.get(f"{API}/{sid}/discharge-check").json()["ready"] is True
    assert sitter.post(f"{API}/{sid}/discharge").status_code == 403
    done = nurse.post(f"{API}/{sid}/discharge")
    assert done.status_code == 200, done.text
    assert done.json()["phase"] == "ended" and done.json()["discharged_by"] == "nurse"
    assert sitter.get(f"{API}/current").status_code == 404
    assert [s["id"] for s in sitter.get(API).json()] == [sid]

    check_details(sitter, sid)
    check_exports(sitter, sid)
    check_audit(nurse)


def check_details(client: Any, sid: int) -> None:
    d = client.get(f"{API}/{sid}").json()
    assert d["summary"]["volume_delivered_ml"] == 35.0
    assert d["summary"]["dose_delivered_mg"] == 35.0
    assert d["summary"]["peaks"]["SBP"]["value"] == 158
    assert d["summary"]["peaks"]["HR"]["value"] == 95
    assert [n["kind"] for n in d["notes"]] == ["nausea", "asleep"]
    (alarm,) = d["alarms"]
    assert alarm["acknowledged_by"] == "nurse" and alarm["response_s"] >= 0


def check_exports(client: Any, sid: int) -> None:
    text = client.get(f"{API}/{sid}/readings.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    sys = [float(r["value"]) for r in rows if r["metric"] == "nibp_sys"]
    assert sys == [150, 150, 158, 138]
    assert rows[0]["mdc_code"] and rows[0]["unit"]

    bundle = client.get(f"{API}/{sid}/fhir").json()
    Bundle.model_validate(bundle)
    kinds = {"Patient": Patient, "Observation": Observation, "Flag": Flag}
    for entry in bundle["entry"]:
        kinds[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    (patient,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert patient["identifier"][0]["value"] == "P-0042" and "Ada" not in str(bundle)
    sbp = [
        e["resource"] for e in bundle["entry"]
        if e["resource"].get("code", {}).get("text") == "NIBP sys"
    ]  # fmt: skip
    codes = {c["code"] for c in sbp[0]["code"]["coding"]}
    assert codes == {"8480-6", "150021"} and len(sbp) == 4

    html = client.get(f"{API}/{sid}/report.html").text
    for figure in ("35 mg", "52.5 mL/h", "158", "nurse", "mild", "white-coat"):
        assert figure in html, figure

    response = client.get(f"{API}/{sid}/report.pdf")
    assert response.headers["content-type"] == "application/pdf"
    pdf_text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages
    )
    for figure in ("P-0042", "35 mg", "52.5 mL/h", "150", "158", "95", "mild", "Discharged"):
        assert figure in pdf_text, figure
    assert "Ada" not in pdf_text


def check_audit(client: Any) -> None:
    actions = wait_for(
        lambda: (
            {
                r["action"]
                for r in client.get("/api/v1/audit").json()
                if r["action"] == "patient_discharged" or r["action"].startswith(("session", "inf"))
            }
            >= {"session_created", "infusion_started", "infusion_ended", "patient_discharged"}
        )
    )
    assert actions
    details = " ".join(r["detail"] for r in client.get("/api/v1/audit").json())
    assert "Ada" not in details and "mild" not in details  # no name, no free text


def test_an_open_session_survives_a_restart(tmp_path: Path) -> None:
    first = start(tmp_path / "data")
    try:
        nurse = first.login("nurse")
        sid = nurse.post(API, json=NEW).json()["id"]
        first.cuff(120, 80, 70)
        first.cuff(124, 82, 72)
        wait_for(lambda: nurse.get(f"{API}/current").json()["gate"]["ok"])
        assert nurse.post(f"{API}/{sid}/start").status_code == 200  # gate passes: no reason
    finally:
        first.stop()
    second = start(tmp_path / "data")
    try:
        sitter = second.login("sitter")
        current = sitter.get(f"{API}/current").json()
        assert current["id"] == sid and current["phase"] == "infusion"
        assert current["baseline"]["sys"] == 122 and current["gate_override"] is None
        # The alarm engine hears about the running infusion and its baseline again.
        engine = second.app.state.runtime.engine
        wait_for(lambda: engine._context.running and engine._context.baseline_sys == 122)
    finally:
        second.stop()


def test_a_nurse_confirms_at_the_sitters_tablet_and_signs_with_their_pin(
    server: RunningServer,
) -> None:
    sitter, nurse = server.login("sitter"), server.login("nurse")
    proof = {"username": "nurse", "pin": "222222"}
    assert sitter.post(API, json=NEW).status_code == 403  # no proof
    assert sitter.post(API, json=NEW | {"username": "nurse", "pin": "0000"}).status_code == 401
    assert sitter.post(API, json=NEW | {"username": "sitter", "pin": "1111"}).status_code == 403
    created = sitter.post(API, json=NEW | proof)
    assert created.status_code == 200 and created.json()["created_by"] == "nurse"
    sid = created.json()["id"]
    reason = {"override_reason": "no cuff in this test"}
    started = sitter.post(f"{API}/{sid}/start", json=reason | proof)
    assert started.status_code == 200 and started.json()["started_by"] == "nurse"
    assert sitter.post(f"{API}/{sid}/end-infusion", json=proof).status_code == 200
    # A signature is checked even when a nurse is signed in: a wrong PIN is refused.
    wrong = nurse.post(f"{API}/{sid}/discharge", json=reason | {"username": "nurse", "pin": "9"})
    assert wrong.status_code == 401
    signed = nurse.post(
        f"{API}/{sid}/discharge", json=reason | {"username": "nurse2", "pin": "333333"}
    )
    assert signed.status_code == 200 and signed.json()["discharged_by"] == "nurse2"
    wait_for(
        lambda: any(
            e["action"] == "patient_discharged" and e["user"] == "nurse2"
            for e in nurse.get("/api/v1/audit").json()
        )
    )


def test_trends_of_a_session_cover_its_window_with_invalid_values_as_gaps(
    server: RunningServer,
) -> None:
    nurse = server.login("nurse")
    sid = nurse.post(API, json=NEW).json()["id"]
    server.cuff(120, 80, 70)
    now = server.app.state.runtime.clock.utcnow()
    server.publish(VitalReading("monitor", Metric.SPO2, None, now, validity=Validity.INVALID))
    trends = wait_for(
        lambda: (t := nurse.get(f"{API}/{sid}/trends").json())["metrics"]["spo2"] and t
    )
    assert trends["metrics"]["spo2"][0][1] is None
    assert [v for _, v in trends["metrics"]["nibp_sys"]] == [120]
    assert trends["since"] <= trends["until"]
    assert server.login("sitter").get(f"{API}/999/trends").status_code == 404


def test_a_completed_pump_never_blocks_the_discharge_check(server: RunningServer) -> None:
    nurse = server.login("nurse")
    sid = nurse.post(API, json=NEW).json()["id"]
    server.cuff(120, 80, 70)
    server.cuff(122, 80, 70)
    wait_for(lambda: nurse.get(f"{API}/current").json()["gate"]["ok"])
    assert nurse.post(f"{API}/{sid}/start").status_code == 200
    pump(server, 52.5, 35.0, PumpState.COMPLETE)
    complete = wait_for(lambda: [a for a in alarms(nurse) if a["key"].startswith("pump_complete:")])
    assert complete[0]["priority"] == "low"
    assert nurse.post(f"{API}/{sid}/end-infusion").status_code == 200
    # End infusion ends the "infusion complete" signal; it never counted against discharge.
    wait_for(lambda: not [a for a in alarms(nurse) if a["key"].startswith("pump_complete:")])
    pump(server, 0, 35.0, PumpState.COMPLETE)  # the pump still says complete: no new alarm
    server.cuff(121, 80, 70)  # (a later event: the pump reading above was handled before it)
    wait_for(
        lambda: nurse.get("/api/v1/readings/latest").json()["vitals"]["nibp_sys"]["value"] == 121
    )
    assert not [a for a in alarms(nurse) if a["key"].startswith("pump_complete:")]
    check = nurse.get(f"{API}/{sid}/discharge-check").json()
    no_alarms = next(c for c in check["criteria"] if c["name"] == "no_alarms")
    assert no_alarms["ok"], no_alarms
