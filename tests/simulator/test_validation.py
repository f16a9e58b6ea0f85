"""A simulated cohort falls inside the published ranges (reference/alarms.md §4)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from simulator.scenario import KetamineScenario, ScenarioConfig
from simulator.validate import CohortResult, format_table, measure, rows, run_cohort


@pytest.fixture(scope="module")
def cohort() -> CohortResult:
    began = time.perf_counter()
    result = run_cohort(n=1000, seed=1)
    assert time.perf_counter() - began < 10.0
    return result


def test_the_cohort_matches_the_published_figures(cohort: CohortResult) -> None:
    failed = [row for row in rows(cohort) if not row.ok]
    assert not failed, format_table(cohort)


def test_the_figures_themselves(cohort: CohortResult) -> None:
    s = cohort.sessions
    mean = sum(m.d_sbp for m in s) / len(s)
    assert 7.0 <= mean <= 16.0
    assert 6.0 <= sum(m.d_dbp for m in s) / len(s) <= 11.0
    assert 0.0 <= sum(m.d_hr for m in s) / len(s) <= 4.0
    assert 0.005 <= sum(m.severe for m in s) / len(s) <= 0.02
    assert all(m.back_min is None or m.back_min > 0 for m in s)
    # The population looks like a clinic's: adults, some older, some hypertensive, 0.5–1 mg/kg.
    assert 0.15 <= sum(m.age >= 50 for m in s) / len(s) <= 0.45
    assert 0.10 <= sum(m.hypertension for m in s) / len(s) <= 0.35
    assert all(0.5 <= m.dose_mg_kg <= 1.0 for m in s)


def test_covariates_show_in_the_cohort(cohort: CohortResult) -> None:
    def mean(group: list[float]) -> float:
        return sum(group) / len(group)

    s = cohort.sessions
    assert mean([m.d_sbp for m in s if m.hypertension]) > mean(
        [m.d_sbp for m in s if not m.hypertension]
    )
    assert mean([m.d_sbp for m in s if m.age >= 50]) > mean([m.d_sbp for m in s if m.age < 50])


def test_the_table_names_each_figure(cohort: CohortResult) -> None:
    table = format_table(cohort)
    for words in ("peak ΔSBP", "peak ΔDBP", "ΔHR", "time of peak", "180/110", "back to baseline"):
        assert words in table
    assert "| NO |" not in table


def test_measure_reads_cuff_readings_as_the_studies_did() -> None:
    config = ScenarioConfig(response={"sbp": 30.0, "dbp": 15.0, "hr": 0.0})
    scenario = KetamineScenario(config, seed=4)
    m = measure(scenario)
    good = [r for r in scenario.cuff_readings() if not r.failed]
    base = [r.sbp for r in good if r.end <= 600]
    window = [r for r in good if 600 <= r.start <= 3000 + 1800]
    assert m.d_sbp == pytest.approx(max(r.sbp for r in window) - sum(base) / len(base))
    assert 20.0 <= m.d_sbp <= 40.0
    assert m.peak_min in (20.0, 30.0, 40.0)
    assert m.back_min is not None and 15.0 <= m.back_min <= 90.0


def test_validation_needs_no_matplotlib_unless_asked_to_plot() -> None:
    code = "import sys, simulator.validate; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
