"""Every scenario file loads, and each session does in fast mode what its file promises."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from simulator.devices.base import Fault
from simulator.model import PumpModelState, Vitals
from simulator.physiology import CuffReading
from simulator.scenario import (
    ConstantScenario,
    KetamineScenario,
    SessionTrace,
    TimeWindow,
    run_fast,
)
from simulator.scenario_files import (
    ScenarioError,
    list_scenarios,
    load_config,
    load_scenario,
    scenario_dir,
)

REQUIRED = {
    "typical-responder",
    "hypertensive-responder",
    "older-hypertensive",
    "tachycardia",
    "desaturation",
    "pump-occlusion",
    "monitor-unplugged",
    "garbage-on-line",
    "tablet-disconnected",
}
FILES = sorted(scenario_dir().glob("*.toml"))
SEEDS = (1, 2, 3)
_TRACES: dict[tuple[str, int], tuple[KetamineScenario, SessionTrace]] = {}


def session(name: str, seed: int) -> tuple[KetamineScenario, SessionTrace]:
    """Fast mode, cached: each (scenario, seed) is evaluated once for the whole module."""
    if (name, seed) not in _TRACES:
        scenario = load_scenario(name, seed)
        assert isinstance(scenario, KetamineScenario)
        _TRACES[name, seed] = scenario, run_fast(scenario, step_s=1.0)
    return _TRACES[name, seed]


def good(readings: list[CuffReading]) -> list[tuple[float, float, float]]:
    """(inflation time, sys, dia) of every successful cuff reading."""
    return [(r.start, r.sbp, r.dbp) for r in readings if not r.failed]


def cuff_only(name: str, seed: int) -> tuple[KetamineScenario, list[CuffReading]]:
    """The cuff readings alone: no need to evaluate every second."""
    scenario = load_scenario(name, seed)
    assert isinstance(scenario, KetamineScenario)
    return scenario, scenario.cuff_readings()


def test_the_required_scenarios_are_listed() -> None:
    listed = dict(list_scenarios())
    assert set(listed) >= REQUIRED
    assert "constant" in listed
    assert all(listed.values())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_file_loads_and_documents_its_promises(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem
    assert config.description
    assert "Promises" in path.read_text(encoding="utf-8")
    for seed in SEEDS:
        scenario = load_scenario(path, seed)
        assert isinstance(scenario, KetamineScenario)
        vitals, pump = scenario.state(0.0)
        assert isinstance(vitals, Vitals) and isinstance(pump, PumpModelState)


@pytest.mark.parametrize("seed", SEEDS)
def test_fast_mode_is_fast_and_covers_the_session(seed: int) -> None:
    scenario, trace = session("typical-responder", seed)
    assert trace.times[-1] == scenario.timeline.total_s == 9000.0
    assert len(trace.vitals) == 9001


@pytest.mark.parametrize("seed", SEEDS)
def test_typical_responder(seed: int) -> None:
    _scenario, trace = session("typical-responder", seed)
    readings = good(trace.readings)
    base = statistics.fmean(s for t, s, _ in readings if t < 600)
    peak_t, _peak_s, _ = max(((t, s, d) for t, s, d in readings if t >= 600), key=lambda r: r[1])
    assert 115 < base < 133
    assert 600 + 10 * 60 <= peak_t <= 600 + 40 * 60 + 1800
    assert all(s < 160 and d < 100 for _, s, d in readings)
    assert trace.longest(lambda v, p: (v.hr or 0) > 120) < 60
    assert trace.longest(lambda v, p: (v.spo2 or 100) < 90) < 15
    assert trace.pumps[3000].state == "complete"
    assert trace.pumps[3000].volume_infused_ml == pytest.approx(72.0)
    assert trace.pumps[1800].rate_ml_h == 108.0


@pytest.mark.parametrize("seed", SEEDS)
def test_hypertensive_responder_crosses_180_110_around_the_peak(seed: int) -> None:
    _, cuff = cuff_only("hypertensive-responder", seed)
    readings = {t: (s, d) for t, s, d in good(cuff)}
    severe = [t for t, (s, d) in readings.items() if s >= 180 or d >= 110]
    # Two readings >= 5 min apart (the HIGH rule), from 20 to 40 min into the infusion.
    assert len(severe) >= 2 and max(severe) - min(severe) >= 300, readings
    assert all(1800 <= t <= 3000 for t in severe), readings
    assert {2400.0, 3000.0} <= set(severe)
    s, d = readings[1200]  # 10 min in: MEDIUM first
    assert s >= 160 or d >= 100


@pytest.mark.parametrize("seed", SEEDS)
def test_older_hypertensive(seed: int) -> None:
    scenario, cuff = cuff_only("older-hypertensive", seed)
    assert scenario.patient.hypertension and scenario.patient.age >= 65
    baseline = [(s, d) for t, s, d in good(cuff) if t < 600]
    assert sum(s > 140 or d > 90 for s, d in baseline) >= 2
    assert any(s >= 160 for t, s, _ in good(cuff) if 1800 <= t <= 3900)


@pytest.mark.parametrize("seed", SEEDS)
def test_tachycardia_is_sustained_for_minutes(seed: int) -> None:
    _, trace = session("tachycardia", seed)
    assert trace.longest(lambda v, p: (v.hr or 0) > 120) >= 180
    assert trace.longest(lambda v, p: (v.pulse_rate or 0) > 120) >= 180
    high = [t for t, v in zip(trace.times, trace.vitals, strict=True) if (v.hr or 0) > 120]
    assert min(high) >= 1800 and max(high) <= 2100


@pytest.mark.parametrize("seed", SEEDS)
def test_desaturation_below_90_then_85(seed: int) -> None:
    _, trace = session("desaturation", seed)
    assert trace.longest(lambda v, p: (v.spo2 or 100) < 90) >= 150
    assert trace.longest(lambda v, p: (v.spo2 or 100) < 85) >= 120
    assert min(v.spo2 or 100 for v in trace.vitals) < 85
    assert trace.vitals[2550].resp_rate is not None and trace.vitals[2550].resp_rate < 10
    assert (trace.vitals[2800].spo2 or 0) > 92


@pytest.mark.parametrize("seed", SEEDS)
def test_pump_occlusion_is_reported_then_cleared(seed: int) -> None:
    scenario, trace = session("pump-occlusion", seed)
    occluded = [t for t, p in zip(trace.times, trace.pumps, strict=True) if "occlusion" in p.alarms]
    assert occluded[0] == 1800 and occluded[-1] == 1979
    assert all(trace.pumps[int(t)].state == "paused" for t in occluded)
    assert trace.pumps[1800].volume_infused_ml == trace.pumps[1979].volume_infused_ml
    assert trace.pumps[1980].state == "infusing"
    assert trace.pumps[3179].state == "infusing"
    assert trace.pumps[3180].state == "complete"
    assert scenario.pump.end_s == 3180
    assert 3180 + 900 in [r.start for r in trace.readings]  # the cuff follows the real end


def test_monitor_unplugged_windows() -> None:
    scenario = load_scenario("monitor-unplugged", 1)
    assert Fault.UNPLUG in scenario.active_faults(1500, "monitor")
    assert Fault.UNPLUG in scenario.active_faults(1559, "monitor")
    assert Fault.UNPLUG not in scenario.active_faults(1560, "monitor")
    assert Fault.UNPLUG in scenario.active_faults(4400, "monitor")
    assert not scenario.active_faults(1520, "pump")


def test_garbage_on_line_windows() -> None:
    scenario = load_scenario("garbage-on-line", 1)
    assert scenario.active_faults(950, "monitor") == {Fault.GARBAGE}
    assert scenario.active_faults(950, "pump") == {Fault.GARBAGE}
    assert scenario.active_faults(2730, "monitor") == {Fault.GARBAGE}
    assert scenario.active_faults(2730, "pump") == set()
    assert scenario.active_faults(1500, "monitor") == set()


def test_tablet_disconnected_flag_is_exposed() -> None:
    scenario = load_scenario("tablet-disconnected", 1)
    assert isinstance(scenario, KetamineScenario)
    assert scenario.tablet_disconnected == TimeWindow(2100.0, 120.0)
    assert scenario.tablet_disconnected.active(2150) and not scenario.tablet_disconnected.active(
        2220
    )
    other = load_scenario("typical-responder", 1)
    assert isinstance(other, KetamineScenario) and other.tablet_disconnected is None


@pytest.mark.parametrize("seed", SEEDS)
def test_cuff_failures_two_in_a_row(seed: int) -> None:
    _scenario, trace = session("cuff-failures", seed)
    by_start = {r.start: r for r in trace.readings}
    assert by_start[2400].failed and by_start[3000].failed and not by_start[3900].failed
    vitals = trace.vitals[int(by_start[2400].end) + 1]
    assert vitals.nibp_failed and not vitals.nibp_measuring
    assert vitals.nibp_at is not None and vitals.nibp_at < 2400
    assert trace.vitals[int(by_start[3900].end) + 1].nibp_at == by_start[3900].end


def test_vitals_carry_the_cuff_state() -> None:
    _scenario, trace = session("typical-responder", 1)
    first = trace.readings[0]
    assert trace.vitals[int(first.start) + 1].nibp_measuring
    after = trace.vitals[int(first.end) + 1]
    assert after.nibp == (first.sbp, first.dbp, first.mean) and after.nibp_at == first.end
    assert not after.nibp_measuring


def test_random_patient_differs_by_seed() -> None:
    a, b = load_scenario("random-patient", 1), load_scenario("random-patient", 2)
    assert isinstance(a, KetamineScenario) and isinstance(b, KetamineScenario)
    assert a.patient != b.patient


# -- the loader ----------------------------------------------------------------------------------


def test_constant_and_unknown_names() -> None:
    assert isinstance(load_scenario("constant"), ConstantScenario)
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'"):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match="no scenario file"):
        load_scenario("missing.toml")


def test_a_scenario_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'description = "test"\n'
        "tablet_disconnected = { start = 10, duration = 5 }\n"
        "[patient]\nage = 30\nsbp = 110\n"
        "[session]\nbaseline_min = 5\ninfusion_min = 30\nrecovery_min = 60\n"
        "[nibp]\ninfusion_cycle_min = 5\nfailure_rate = 0\n"
        "[[event]]\nkind = 'battery_low'\nstart = 600\n"
        "[[fault]]\nfault = 'silence'\nstart = 20\nduration = 5\ndevice = 'pump'\n"
    )
    scenario = load_scenario(path, seed=3)
    assert isinstance(scenario, KetamineScenario)
    assert scenario.name == "mine" and scenario.patient.sbp == 110 and scenario.patient.age == 30
    assert scenario.timeline.total_s == 95 * 60
    assert scenario.pump.end_s == 300 + 1800
    starts = [r.start for r in scenario.cuff_readings()]
    assert [s for s in starts if 300 < s <= 2100] == [300 + 300 * k for k in range(1, 7)]
    assert scenario.pump.state(700).battery_low
    assert scenario.active_faults(22, "pump") == {Fault.SILENCE}
    assert scenario.tablet_disconnected == TimeWindow(10, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[patient]\nagee = 3\n", "unknown key"),
        ("colour = 'red'\n", "unknown key"),
        ("[[event]]\nkind = 'meteor'\nstart = 1\n", "unknown kind"),
        ("[[event]]\nkind = 'tachycardia'\nstart = 1\n", "needs a target"),
        ("[[event]]\nkind = 'vital'\nchannel = 'glucose'\ntarget = 1\nstart = 1\n", "channel"),
        ("[[fault]]\nfault = 'meltdown'\nstart = 1\n", "unknown fault"),
        ("[[fault]]\nfault = 'unplug'\n", "needs a start"),
        ("[infusion]\ndose_mg_kg = 'lots'\n", "must be a number"),
        ("[patient\n", "Expected"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_config(path)
