"""Session rules with plain datetimes: dose maths, baseline, gate, discharge, stats, pump."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.infusions.logic import (
    AlarmEvent,
    Baseline,
    Cuff,
    Plan,
    Rules,
    Sample,
    baseline,
    check_discharge,
    check_gate,
    cuffs,
    episodes,
    summarize,
)

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def cuff(minutes: float, sys: float, dia: float) -> list[Sample]:
    return [Sample("nibp_sys", sys, at(minutes)), Sample("nibp_dia", dia, at(minutes))]


def test_rate_and_vtbi_from_dose_weight_and_concentration() -> None:
    plan = Plan(weight_kg=70, dose_mg_per_kg=0.5, concentration_mg_ml=1.0, duration_min=40)
    assert plan.dose_mg == 35
    assert plan.vtbi_ml == 35
    assert plan.rate_ml_h == pytest.approx(52.5)
    assert Plan(80, 0.75, 2.0, 60).rate_ml_h == pytest.approx(30.0)


def test_baseline_is_the_mean_of_at_least_two_cuff_readings() -> None:
    one = cuff(0, 120, 80) + [Sample("hr", 70, at(0))]
    assert baseline(one) is None
    two = one + cuff(5, 130, 84) + [Sample("hr", 74, at(5))]
    assert baseline(two) == Baseline(125, 82, 72, 2)
    # A systolic without its diastolic is no cuff reading.
    assert len(cuffs([*two, Sample("nibp_sys", 200, at(7))])) == 2


def test_gate_refuses_above_140_90_and_without_a_baseline() -> None:
    assert check_gate(Baseline(138, 88, None, 2)).ok
    high = check_gate(Baseline(150, 95, None, 2))
    assert not high.ok and high.reasons == ("baseline SBP 150 > 140", "baseline DBP 95 > 90")
    assert not check_gate(None).ok
    assert check_gate(Baseline(150, 95, None, 2), Rules(gate_sys=160, gate_dia=100)).ok


def test_discharge_criteria_each_say_why() -> None:
    base = Baseline(120, 80, 70, 2)
    ended = at(40)
    early = check_discharge(base, ended, Cuff(135, 85, at(50)), [], at(50))
    assert not early.ready
    by_name = {c.name: c for c in early.criteria}
    assert not by_name["recovery_time"].ok and "20 min left" in by_name["recovery_time"].detail
    assert by_name["bp_near_baseline"].ok and by_name["no_alarms"].ok

    high = check_discharge(base, ended, Cuff(145, 85, at(70)), [], at(71))
    assert [c.name for c in high.criteria if not c.ok] == ["bp_near_baseline"]
    assert "allowed up to 140/90" in high.criteria[1].detail

    alarm = check_discharge(base, ended, Cuff(130, 85, at(70)), ["SpO2 88 < 90"], at(71))
    assert [c.name for c in alarm.criteria if not c.ok] == ["no_alarms"]

    # A reading from during the infusion does not count as a recovery reading.
    stale = check_discharge(base, ended, Cuff(120, 80, at(30)), [], at(71))
    assert "no cuff reading since" in stale.criteria[1].detail

    assert check_discharge(base, ended, Cuff(140, 90, at(70)), [], at(71)).ready
    quick = Rules(min_recovery=timedelta(0))
    assert check_discharge(base, ended, Cuff(130, 85, at(41)), [], at(41), quick).ready
    assert not check_discharge(base, None, None, [], at(41)).ready


def test_summary_peaks_with_times_and_delivered_dose() -> None:
    plan = Plan(70, 0.5, 1.0, 40)
    samples = (
        cuff(0, 120, 80)
        + cuff(20, 150, 92)
        + cuff(30, 150, 95)
        + [Sample("hr", 72, at(1)), Sample("hr", 88, at(25)), Sample("spo2", 99, at(2))]
    )
    s = summarize(plan, Baseline(120, 80, 72, 2), samples, 33.5)
    assert (s.planned_dose_mg, s.planned_volume_ml, s.expected_rate_ml_h) == (35, 35, 52.5)
    assert s.volume_delivered_ml == 33.5 and s.dose_delivered_mg == 33.5
    assert s.peaks["nibp_sys"].value == 150 and s.peaks["nibp_sys"].at == at(20)  # first time
    assert s.peaks["nibp_dia"].value == 95 and s.peaks["nibp_dia"].at == at(30)
    assert s.peaks["hr"].value == 88 and "spo2" not in s.peaks
    assert summarize(plan, None, [], None).dose_delivered_mg is None


def test_alarm_episodes_give_the_response_time_and_who() -> None:
    def ev(event: str, minutes: float, user: str | None = None) -> AlarmEvent:
        return AlarmEvent("a1", "spo2_low", "medium", "SpO2 88", event, at(minutes), at(1), user)

    found = episodes([ev("raised", 1), ev("acknowledged", 1.5, "nurse"), ev("ended", 3)])
    assert len(found) == 1
    assert found[0].response_s == 30 and found[0].acknowledged_by == "nurse"
    assert found[0].ended_at == at(3)
    assert episodes([ev("raised", 1)])[0].response_s is None
    # A latched alarm ends when acknowledged: the "ended" event names the nurse.
    latched = episodes([ev("raised", 1), ev("latched", 2), ev("ended", 4, "nurse")])[0]
    assert latched.response_s == 180 and latched.acknowledged_by == "nurse"
