"""No session input and no stored session record can stop the alarms.

The attack this answers: ``POST /sessions`` with ``"duration_min": 1e-323`` was stored, then
every later read divided by it: /health, the snapshot and every tablet's socket failed, and the
service could not start again (a crash loop under systemd with no alarms at all).
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from service.infusions.logic import PLAN_BOUNDS, Plan, plan_problems
from service.settings import Settings
from tests.support import RunningServer, start_server, wait_for

API = "/api/v1/sessions"
NEW = {"patient": "P-0042", "weight_kg": 70, "dose_mg_per_kg": 0.5,
       "concentration_mg_ml": 1.0, "duration_min": 40}  # fmt: skip


def start(data_dir: Path) -> RunningServer:
    return start_server(Settings(data_dir=data_dir))


def db_file(data_dir: Path) -> Path:
    return data_dir / "vigil.db"


# -- input: every plan field bounded, NaN/Infinity/denormals refused -----------------------


def edges() -> list[tuple[str, float, bool]]:
    """For every bounded field: at, just inside and just outside each edge."""
    out = []
    for name, b in PLAN_BOUNDS.items():
        step = (b.high - b.low) * 1e-6
        out += [(name, b.low, True), (name, b.high, True)]
        out += [(name, b.low + step, True), (name, b.high - step, True)]
        out += [(name, b.low - step, False), (name, b.high + step, False)]
    return out


@pytest.mark.parametrize(("name", "value", "ok"), edges())
def test_plan_bounds_at_their_edges(name: str, value: float, ok: bool) -> None:
    values: dict[str, object] = {**NEW, name: value}
    problems = plan_problems(values)
    assert (not problems) is ok, problems
    if not ok:
        assert name in problems[0]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 5e-324, 1e-323, "70", None, True])
def test_a_bad_number_is_a_problem_and_derives_nothing(bad: Any) -> None:
    assert plan_problems({**NEW, "duration_min": bad})
    plan = Plan(70, 0.5, 1.0, bad if isinstance(bad, float) else math.nan)
    assert plan.problems
    assert plan.dose_mg is None and plan.vtbi_ml is None and plan.rate_ml_h is None


def test_a_valid_plan_derives_finite_values_at_its_extremes() -> None:
    b = PLAN_BOUNDS
    worst = Plan(
        b["weight_kg"].high,
        b["dose_mg_per_kg"].high,
        b["concentration_mg_ml"].low,
        b["duration_min"].low,
    )
    assert worst.rate_ml_h is not None and math.isfinite(worst.rate_ml_h)
    assert worst.rate_ml_h == pytest.approx(400 * 5 / 0.1 * 60)


@pytest.fixture
def server(tmp_path: Path) -> Any:
    running = start(tmp_path / "data")
    yield running
    running.stop()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_min", 1e-323),
        ("duration_min", 0),
        ("weight_kg", 1e309),  # JSON overflow: parsed as infinity
        ("weight_kg", 1.5),
        ("dose_mg_per_kg", 50),
        ("concentration_mg_ml", 0.0),
        ("concentration_mg_ml", 1000),
    ],
)
def test_an_out_of_range_plan_is_refused_naming_the_field_and_nothing_is_stored(
    server: RunningServer, field: str, value: float
) -> None:
    nurse = server.login("nurse")
    body = json.dumps({**NEW, field: value}).replace("Infinity", "1e309")
    answer = nurse.post(API, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["detail"]] == [["body", field]]
    assert nurse.get(API).json() == []
    assert nurse.get(f"{API}/current").status_code == 404
    assert nurse.get("/api/v1/health").status_code == 200


# -- a damaged record already on disk ------------------------------------------------------


def damage(data_dir: Path, sql: str, *args: Any) -> None:
    with sqlite3.connect(db_file(data_dir)) as db:
        db.execute(sql, args)


def assert_alarms_still_work(server: RunningServer) -> None:
    """The bed alarms as ever: an extreme cuff reading is a HIGH alarm at once."""
    server.cuff(212, 126, 80)
    sitter = server.login("sitter")
    found = wait_for(
        lambda: [a for a in sitter.get("/api/v1/alarms").json() if a["key"] == "bp_high"]
    )
    assert found[0]["priority"] == "high"


@pytest.mark.e2e
def test_a_stored_denormal_duration_breaks_nothing_and_raises_a_technical_alarm(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    first = start(data)
    nurse = first.login("nurse")
    sid = nurse.post(API, json=NEW).json()["id"]
    first.stop()
    damage(data, "UPDATE infusion_sessions SET duration_min = ? WHERE id = ?", 1e-323, sid)

    server = start(data)  # start-up survives (was: ZeroDivisionError, a crash loop)
    try:
        sitter = server.login("sitter")
        health = sitter.get("/api/v1/health")
        assert health.status_code == 200
        current = sitter.get(f"{API}/current")
        assert current.status_code == 200, current.text
        body = current.json()
        assert "duration_min" in body["error"]
        assert body["expected_rate_ml_h"] is None and body["vtbi_ml"] is None
        alarms = wait_for(
            lambda: [a for a in sitter.get("/api/v1/alarms").json() if "damaged" in a["message"]]
        )
        assert alarms[0]["kind"] == "technical" and alarms[0]["priority"] == "medium"
        # The live socket opens and its snapshot is valid JSON (no NaN, no Infinity).
        headers = {"Cookie": f"vigil_session={sitter.cookies['vigil_session']}"}
        with connect(server.ws_url, additional_headers=headers) as ws:
            snap = json.loads(ws.recv(timeout=5), parse_constant=_refuse_constant)
            assert snap["type"] == "snapshot" and snap["infusion"]["error"]
        # History, details and every export answer.
        assert sitter.get(API).json()[0]["error"]
        for path in ("", "/trends", "/readings.csv", "/fhir", "/report.html", "/report.pdf"):
            assert sitter.get(f"{API}/{sid}{path}").status_code == 200, path
        # The damaged session can still be run to its end, and the alarm then ends.
        nurse = server.login("nurse")
        reason = {"override_reason": "record repaired by hand"}
        assert nurse.post(f"{API}/{sid}/discharge", json=reason).status_code == 200
        wait_for(
            lambda: (
                not [a for a in sitter.get("/api/v1/alarms").json() if "damaged" in a["message"]]
            )
        )
        assert_alarms_still_work(server)
    finally:
        server.stop()


@pytest.mark.e2e
def test_unreadable_rows_are_shown_damaged_and_a_new_session_can_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start(data)
    nurse = first.login("nurse")
    a = nurse.post(API, json=NEW).json()["id"]
    nurse.post(f"{API}/{a}/discharge", json={"override_reason": "test"}).raise_for_status()
    b = nurse.post(API, json=NEW | {"patient": "P-0043"}).json()["id"]
    first.stop()
    damage(data, "UPDATE infusion_sessions SET created_at = 'not a time' WHERE id = ?", a)
    damage(data, "UPDATE infusion_sessions SET phase = 'exploded', weight_kg = 'x' WHERE id = ?", b)

    server = start(data)
    try:
        nurse = server.login("nurse")
        assert nurse.get("/api/v1/health").status_code == 200
        assert nurse.get(f"{API}/current").status_code == 404  # unknown phase: not open
        listed = {r["id"]: r for r in nurse.get(API).json()}
        assert "cannot be read" in listed[a]["error"]
        assert "unknown phase" in listed[b]["error"] and "weight_kg" in listed[b]["error"]
        assert nurse.get(f"{API}/{a}").status_code == 200
        opened = nurse.post(API, json=NEW | {"patient": "P-0044"})
        assert opened.status_code == 200, opened.text
        assert wait_for(
            lambda: [x for x in nurse.get("/api/v1/alarms").json() if "damaged" in x["message"]]
        )
    finally:
        server.stop()


def _refuse_constant(name: str) -> None:
    raise AssertionError(f"{name} in JSON")
