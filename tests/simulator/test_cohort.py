"""The clinic cohort, random clinical episodes and the ground truth read from the true state."""

from __future__ import annotations

import random

import pytest

from simulator.cohort import GATE_DIA, GATE_SYS, SERIES_LENGTH, clinic_session
from simulator.episodes import Episode, EpisodeRates, draw_episodes
from simulator.physiology import TrueState
from simulator.truth import find_severe


def test_a_session_is_the_same_whatever_was_built_before() -> None:
    alone = clinic_session(3, 14)
    for index in range(14):
        clinic_session(3, index)
    again = clinic_session(3, 14)
    assert alone.scenario.patient == again.scenario.patient
    assert alone.scenario.response == again.scenario.response
    assert [alone.scenario.truth(t) for t in (0.0, 1500.0, 4000.0)] == [
        again.scenario.truth(t) for t in (0.0, 1500.0, 4000.0)
    ]


def test_each_patient_is_treated_over_a_series_of_six() -> None:
    series = [clinic_session(2, i) for i in range(SERIES_LENGTH * 2)]
    assert [s.infusion_number for s in series] == [1, 2, 3, 4, 5, 6] * 2
    first, second = series[:SERIES_LENGTH], series[SERIES_LENGTH:]
    assert len({s.scenario.patient.age for s in first}) == 1
    assert first[0].scenario.patient.age != second[0].scenario.patient.age
    assert len({s.scenario.config.response_scale for s in first}) == 1
    # Day-to-day variation: the resting BP differs a little between the days of one patient.
    assert len({round(s.scenario.patient.sbp, 3) for s in first}) == SERIES_LENGTH


def test_the_gate_lets_a_high_baseline_start_only_with_an_override() -> None:
    sessions = [clinic_session(1, i) for i in range(300)]
    for s in sessions:
        assert s.baseline is not None
        high = s.baseline[0] > GATE_SYS or s.baseline[1] > GATE_DIA
        assert high == s.override
    assert any(s.override for s in sessions) and any(s.deferred for s in sessions)


def test_episodes_appear_at_their_rates_and_never_without_a_rate() -> None:
    rng = random.Random(4)
    counts = {"desaturation": 0, "apnoea": 0, "vasovagal": 0, "tachycardia": 0}
    n = 4000
    rates = EpisodeRates()
    for _ in range(n):
        for ep in draw_episodes(
            rng, rates, infusion_start_s=600.0, infusion_end_s=3000.0, session_end_s=9000.0
        ):
            counts[ep.kind] += 1
    for kind, rate in (
        ("desaturation", rates.desaturation),
        ("apnoea", rates.apnoea),
        ("vasovagal", rates.vasovagal),
        ("tachycardia", rates.tachycardia),
    ):
        assert abs(counts[kind] - rate * n) <= 4 * (rate * n) ** 0.5 + 1, (kind, counts)
    none = rates.scaled(0.0)
    assert not draw_episodes(
        rng, none, infusion_start_s=600.0, infusion_end_s=3000.0, session_end_s=9000.0
    )


def test_episodes_change_the_truth_not_only_the_reading() -> None:
    faint = Episode("vasovagal", 1000.0, 200.0, 20.0, sbp_drop=50.0, dbp_drop=30.0, hr_target=42)
    session = clinic_session(1, 0)
    scenario = session.scenario
    scenario.physiology.episodes = [faint]
    before, during = scenario.truth(990.0), scenario.truth(1100.0)
    assert during.sbp < before.sbp - 35.0 and during.hr < 50.0
    apnoea = Episode("apnoea", 2000.0, 40.0, 0.0, rr_target=0.0)
    scenario.physiology.episodes = [apnoea]
    assert scenario.truth(2030.0).apnoea and scenario.truth(2030.0).resp_rate == 0.0
    assert scenario.truth(2039.0).spo2 < scenario.truth(1990.0).spo2 - 1.0
    assert scenario.physiology.measure(2030.0, scenario.truth(2030.0)).etco2 == 0.0
    with pytest.raises(ValueError, match="unknown episode"):
        Episode("meteor", 0.0, 1.0)


def _state(**changes: float) -> TrueState:
    values = {"sbp": 125.0, "dbp": 80.0, "hr": 75.0, "spo2": 97.0, "resp_rate": 14.0}
    values |= changes
    return TrueState(
        etco2=37.0,
        apnoea=bool(changes.get("apnoea", False)),
        **{k: v for k, v in values.items() if k != "apnoea"},
    )


@pytest.mark.parametrize(
    ("change", "seconds", "kind"),
    [
        ({"sbp": 182.0}, 300, "hypertension"),
        ({"dbp": 111.0}, 300, "hypertension"),
        ({"spo2": 84.0}, 30, "desaturation"),
        ({"sbp": 70.0, "dbp": 45.0}, 60, "hypotension"),
        ({"apnoea": 1.0, "resp_rate": 0.0}, 30, "apnoea"),
        ({"hr": 141.0}, 60, "tachycardia"),
    ],
)
def test_severe_needs_its_threshold_for_its_duration(
    change: dict[str, float], seconds: int, kind: str
) -> None:
    step = 5.0

    def trace(lasting: float) -> list:
        times = [i * step for i in range(400)]
        states = [_state(**change) if 600.0 <= t < 600.0 + lasting else _state() for t in times]
        return find_severe(times, states, step)

    found = trace(seconds)
    assert [(e.kind, e.onset, e.end) for e in found] == [(kind, 600.0, 600.0 + seconds)]
    assert trace(seconds - step) == []
