"""The simulated cohort matches the published series, and a no-drug control fails as it must."""

from __future__ import annotations

import random
import statistics
import subprocess
import sys

import pytest

from simulator import validate
from simulator.cohort import clinic_session
from simulator.physiology import KetamineResponse, Patient, draw_clinic_patient
from simulator.scenario import KetamineScenario, ScenarioConfig
from simulator.validate import (
    DISCRIMINATING,
    CohortResult,
    format_table,
    measure,
    rows,
    run_cohort,
    verdict,
)

#: Small and quick; the rare-event rows (severe share, first-three share) swing with the seed at
#: this size (docs/simulator.md), so the seed is fixed.
N, SEED = 600, 2


@pytest.fixture(scope="module")
def cohort() -> CohortResult:
    return run_cohort(N, SEED)


@pytest.fixture(scope="module")
def control() -> CohortResult:
    return run_cohort(N, SEED, drug=False)


def test_the_cohort_matches_the_published_figures(cohort: CohortResult) -> None:
    failed = [row.label for row in rows(cohort) if row.ok is False]
    assert not failed, format_table(cohort, "cohort")


def test_the_negative_control_fails_every_row_that_needs_a_drug(control: CohortResult) -> None:
    discriminating = [r for r in rows(control) if r.kind in DISCRIMINATING]
    assert len(discriminating) >= 10
    passed = [r.label for r in discriminating if r.ok]
    assert not passed, format_table(control, "control")
    # ... while the rows that do not depend on the drug still pass without it.
    assert all(r.ok for r in rows(control) if r.kind == "consistency")


def test_verdict_needs_both(cohort: CohortResult, control: CohortResult) -> None:
    assert verdict(cohort, control) == (True, [])
    ok, problems = verdict(cohort, cohort)  # a "control" with the drug passes: nothing proven
    assert not ok and all("negative control passes" in p for p in problems)
    ok, problems = verdict(control, control)
    assert not ok and any("cohort misses" in p for p in problems)


def test_the_control_is_the_same_sessions_without_the_drug() -> None:
    with_drug = clinic_session(SEED, 7)
    without = clinic_session(SEED, 7, validate.CohortOptions(drug=False))
    assert with_drug.scenario.patient == without.scenario.patient
    assert with_drug.baseline == without.baseline
    assert without.scenario.response.sbp == 0.0 and with_drug.scenario.response.sbp > 0.0
    assert with_drug.scenario.truth(300.0) == without.scenario.truth(300.0)


def test_every_row_names_a_source_and_a_kind(cohort: CohortResult) -> None:
    for row in rows(cohort):
        assert row.published and row.kind in ("size", "shape", "consistency", "events", "info")
        assert (row.ok is None) == (row.kind == "info")
    table = format_table(cohort, "cohort")
    for words in ("mean ΔSBP curve", "at 10 min", "at 90 min", "180/110", "infusions 1–3"):
        assert words in table


def test_the_response_is_never_a_fall_and_concentrates_in_first_infusions() -> None:
    rng = random.Random(11)
    first, sixth = [], []
    for _ in range(3000):
        patient, dose = draw_clinic_patient(rng)
        first.append(KetamineResponse.draw(rng, patient, dose, infusion_number=1))
        sixth.append(KetamineResponse.draw(rng, patient, dose, infusion_number=6))
    assert all(r.sbp >= 0.0 and r.dbp >= 0.0 for r in first + sixth)
    big = 25.0
    assert sum(r.sbp > big for r in first) > 1.5 * sum(r.sbp > big for r in sixth)
    # ... while the mean hardly moves over the series (741-infusion cohort).
    mean_first = statistics.fmean(r.sbp for r in first)
    assert abs(mean_first - statistics.fmean(r.sbp for r in sixth)) < 0.25 * mean_first


def test_measure_reads_cuff_readings_as_the_studies_did() -> None:
    config = ScenarioConfig(response={"sbp": 30.0, "dbp": 15.0, "hr": 0.0})
    scenario = KetamineScenario(config, seed=4)
    m = measure(scenario)
    good = [r for r in scenario.cuff_readings() if not r.failed]
    base = [r.sbp for r in good if r.end <= 600]
    at30 = next(r for r in good if r.start == 600 + 1800)
    assert m.delta[30][0] == pytest.approx(at30.sbp - sum(base) / len(base))
    assert m.delta[40][0] > 15.0
    assert abs(m.delta[130][0]) < 12.0
    assert m.back_min is not None and 15.0 <= m.back_min <= 90.0
    assert Patient().sbp > 0


def test_main_exits_non_zero_when_the_negative_control_passes(
    monkeypatch: pytest.MonkeyPatch, cohort: CohortResult, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(validate, "run_cohort", lambda n, seed, drug=True: cohort)
    assert validate.main(["--n", "600"]) == 1
    out = capsys.readouterr().out
    assert "negative control: PASSES" in out and "cohort: PASS" in out


def test_main_passes_the_real_pair(
    monkeypatch: pytest.MonkeyPatch,
    cohort: CohortResult,
    control: CohortResult,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(
        validate, "run_cohort", lambda n, seed, drug=True: cohort if drug else control
    )
    assert validate.main(["--n", "600"]) == 0
    out = capsys.readouterr().out
    assert "negative control: FAILS as it must" in out
    assert "Negative control (no drug effect" in out


def test_validation_needs_no_matplotlib_unless_asked_to_plot() -> None:
    code = "import sys, simulator.validate; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
