"""The alarm-burden benchmark runs through the real engine, and its ground truth works."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import alarm_burden as ab
from simulator.episodes import Episode
from simulator.physiology import ArtefactRates
from simulator.scenario import KetamineScenario, ScenarioConfig, SessionTimeline

QUIET = ArtefactRates(0.0, 0.0, 0.0, 0.0, 0.0)
SHORT = SessionTimeline(600.0, 2400.0, 1800.0)


def scenario(*episodes: Episode, drug: bool = True, seed: int = 3) -> KetamineScenario:
    config = ScenarioConfig(
        timeline=SHORT,
        response={} if drug else {"sbp": 0.0, "dbp": 0.0, "hr": 0.0},
        artefacts=QUIET,
        episodes=episodes,
        pump_cleared_after_s=60.0,
        pump_end_alarm_s=60.0,
    )
    return KetamineScenario(config, seed=seed)


@pytest.fixture(scope="module")
def small() -> dict[str, list[ab.SessionResult]]:
    return ab.run(20, seed=5, workers=1)


def test_a_small_cohort_runs_under_every_behaviour(
    small: dict[str, list[ab.SessionResult]],
) -> None:
    assert set(small) == {"none", "ack20", "ack60"}
    for behaviour, results in small.items():
        assert [r.index for r in results] == list(range(20))
        assert all(r.behaviour == behaviour for r in results)
    # Every session ends its infusion: the engine reports it (LOW), whatever the behaviour.
    for results in small.values():
        assert all(any(a.prefix == "pump_complete" for a in r.alarms) for r in results)
    # Acknowledging makes reminders; nobody acknowledging never does.
    assert sum(r.reminders for r in small["none"]) == 0
    assert sum(r.reminders for r in small["ack20"]) > 0


def test_the_summary_and_the_document(
    small: dict[str, list[ab.SessionResult]], tmp_path: Path
) -> None:
    summaries = {b: ab.summarise(r) for b, r in small.items()}
    for s in summaries.values():
        assert s["sessions"] == 20
        assert s["low_medium_per_typical"] >= s["low_medium_per_typical_without_complete"]
    checks = ab.targets(summaries)
    assert {t.behaviour for t in checks} == {"none", "ack20", "ack60"}
    meta = {
        "command": "test",
        "seed": 5,
        "sessions": 20,
        "recovery_min": 30.0,
        "cuff_cycle_s": 300.0,
        "date": "today",
        "run_time_s": 1.0,
        "machine": "test",
        "engine": "x",
        "severe_counts": "none",
        "severe_sessions": 0,
    }
    out = tmp_path / "burden.md"
    ab.write_doc(out, summaries, meta, {"meta": meta | {"note": "kept"}, "summaries": summaries})
    text = out.read_text()
    for words in ("## Now", "## Before the alarm-trust changes", "nuisance HIGH", "kept"):
        assert words in text


def test_a_session_forced_severe_is_counted_severe_and_reaches_high() -> None:
    deep = Episode("desaturation", 2000.0, 240.0, 30.0, spo2_target=78.0, rr_target=6.0)
    prepared = ab.prepare_scenario(scenario(deep))
    kinds = [e.kind for e in prepared.severe]
    assert kinds == ["desaturation"]
    onset = prepared.severe[0].onset
    assert 2000.0 <= onset <= 2100.0
    results = ab.run_session(prepared)
    for result in results.values():
        assert not result.typical
        summary = ab.summarise([result])
        assert summary["severe"]["desaturation"]["reached_high"] == 1
        assert summary["severe"]["desaturation"]["p90_s"] < 120.0


def test_a_session_without_events_has_no_severe_truth() -> None:
    prepared = ab.prepare_scenario(scenario(drug=False))
    assert prepared.severe == []
    results = ab.run_session(prepared)
    assert all(r.typical for r in results.values())
    # No physiological alarm either: nothing happened to the patient.
    for result in results.values():
        assert not [a for a in result.alarms if a.kind == "physiological"], result.alarms


def test_ground_truth_for_apnoea_and_hypotension() -> None:
    apnoea = Episode("apnoea", 2000.0, 45.0, 0.0, rr_target=0.0)
    faint = Episode("vasovagal", 3300.0, 240.0, 20.0, sbp_drop=60.0, dbp_drop=40.0, hr_target=40)
    prepared = ab.prepare_scenario(scenario(apnoea, faint))
    kinds = sorted(e.kind for e in prepared.severe)
    assert kinds == ["apnoea", "hypotension"]
    short = Episode("apnoea", 2000.0, 20.0, 0.0, rr_target=0.0)
    assert ab.prepare_scenario(scenario(short)).severe == []


def test_alarm_keys_group_by_rule_whatever_rules_the_engine_grows() -> None:
    assert ab.prefix_of("bp_high") == "bp_high"
    assert ab.prefix_of("apnoea:monitor") == "apnoea"
    assert ab.prefix_of("pump:pump::occlusion") == "pump (occlusion)"
    assert ab.prefix_of("sensor:monitor:sensor_off") == "sensor (sensor_off)"
    assert ab._matches("apnoea", "apnoea")
    assert ab._matches("apnoea", "etco2_low")
    assert ab._matches("hypotension", "hypotension")
    assert not ab._matches("hypertension", "bp_low")


def test_a_missed_target_fails_the_benchmark(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = ab.SessionResult(
        0,
        0,
        1,
        "none",
        [ab.AlarmRecord("spo2_low", "spo2_low", "physiological", 100.0, "high", "high", 100.0)],
        0,
        [],
    )
    monkeypatch.setattr(ab, "run", lambda *a, **k: {b: [fake] for b in ab.BEHAVIOURS})
    monkeypatch.setattr(ab, "BEFORE", tmp_path / "none.json")
    out = tmp_path / "doc.md"
    assert ab.main(["--sessions", "1", "--out", str(out)]) == 1  # a nuisance HIGH in 1 of 1
    assert ab.main(["--sessions", "1", "--out", str(out), "--no-fail"]) == 0
    assert "**not met**" in out.read_text()


def test_forked_behaviours_equal_a_replay_from_the_start() -> None:
    for index in (1, 8):
        prepared = ab.prepare(index, 5, ab.BenchOptions())
        forked = ab.run_session(prepared)
        for name in ("ack20", "ack60"):
            replay = ab._Run(prepared, None)
            replay.delay = ab.BEHAVIOURS[name]
            while replay.step():
                pass
            direct = replay.result(name)
            assert direct.alarms == forked[name].alarms
            assert direct.reminders == forked[name].reminders
