"""The alarm engine, scenario by scenario, with a fake clock (plain datetimes, no sleeps)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from drivers.readings import (
    Availability,
    AvailabilityChange,
    Condition,
    DeviceConditions,
    Metric,
    PumpCondition,
    PumpReading,
    PumpState,
    Validity,
    VitalReading,
)
from service.alarms import (
    ALLOWED,
    AlarmEngine,
    AlarmTransition,
    ConditionState,
    Event,
    InfusionContext,
    Kind,
    Limits,
    OperatorAction,
    Output,
    Priority,
    ServiceFault,
    SignalState,
    TabletCount,
)

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def vital(metric: Metric, value: float | None, t: float) -> VitalReading:
    validity = Validity.INVALID if value is None else Validity.VALID
    return VitalReading("monitor", metric, value, at(t), validity)


def cuff(engine: AlarmEngine, sys: float, dia: float, t: float) -> list[Output]:
    out = engine.observe(vital(Metric.NIBP_SYS, sys, t), at(t))
    out += engine.observe(vital(Metric.NIBP_DIA, dia, t), at(t))
    return out + engine.observe(vital(Metric.NIBP_MEAN, (sys + 2 * dia) / 3, t), at(t))


def transitions(outputs: Iterable[Output]) -> list[AlarmTransition]:
    return [o for o in outputs if isinstance(o, AlarmTransition)]


def events(outputs: Iterable[Output]) -> list[tuple[str, Event, Priority]]:
    return [(t.alarm.key, t.event, t.alarm.priority) for t in transitions(outputs)]


def stream(
    engine: AlarmEngine, metric: Metric, values: list[float], start: float = 0.0, step: float = 1.0
) -> list[Output]:
    out: list[Output] = []
    for i, value in enumerate(values):
        t = start + i * step
        out += engine.observe(vital(metric, value, t), at(t))
        out += engine.tick(at(t))
    return out


# -- vocabulary --------------------------------------------------------------------------------


def test_allowed_state_table_cites_its_clauses() -> None:
    assert set(ALLOWED) == {
        (ConditionState.ACTIVE, SignalState.ON),
        (ConditionState.ACTIVE, SignalState.ACKNOWLEDGED),
        (ConditionState.INACTIVE, SignalState.LATCHED),
        (ConditionState.INACTIVE, SignalState.OFF),
    }
    assert all(source.startswith("§6.") for _, source in ALLOWED.values())
    assert [p.marker for p in Priority] == ["***", "**", "*"]


# -- blood pressure ------------------------------------------------------------------------------

# NIBP every 10 min of a typical-to-strong ketamine response, peaking at 172/104 at 40 min.
KETAMINE_CURVE = [
    (0, 128, 80),
    (10, 141, 86),
    (20, 158, 95),
    (30, 167, 101),
    (40, 172, 104),
    (50, 163, 99),
    (65, 149, 91),
    (80, 138, 85),
]


def test_ketamine_curve_peaking_at_172_104_raises_medium_and_no_high() -> None:
    engine = AlarmEngine()
    out: list[Output] = []
    for minute, s, d in KETAMINE_CURVE:
        out += cuff(engine, s, d, minute * 60)
    seen = events(out)
    assert ("bp_high", Event.RAISED, Priority.LOW) in seen  # 167/101: repeat NIBP
    assert ("bp_high", Event.UPDATED, Priority.MEDIUM) in seen  # confirmed by 172/104
    assert all(p is not Priority.HIGH for _, _, p in seen)
    assert seen[-1] == ("bp_high", Event.ENDED, Priority.MEDIUM)  # 149/91 ends it


def test_a_severe_reading_asks_for_a_repeat_that_confirms_it_as_high() -> None:
    engine = AlarmEngine()
    first = transitions(cuff(engine, 184, 100, 0))
    assert first[0].alarm.priority is Priority.MEDIUM
    assert first[0].message == "SBP 184 ≥ 180: repeat NIBP now"
    assert transitions(cuff(engine, 186, 112, 119)) == []  # < 2 min later: too soon to confirm
    [high] = transitions(cuff(engine, 182, 111, 240))
    assert (high.event, high.alarm.priority, high.message) == (
        Event.UPDATED,
        Priority.HIGH,
        "SBP 182 ≥ 180 (confirmed by a repeat)",
    )
    assert high.alarm.latching


def test_a_single_205_125_raises_high_at_once() -> None:
    engine = AlarmEngine()
    raised = transitions(cuff(engine, 205, 125, 0))
    assert [(t.event, t.alarm.priority, t.message) for t in raised] == [
        (Event.RAISED, Priority.HIGH, "SBP 205 ≥ 200")
    ]


def test_high_bp_latches_until_acknowledged() -> None:
    engine = AlarmEngine()
    [raised] = transitions(cuff(engine, 205, 125, 0))
    [latched] = transitions(cuff(engine, 140, 85, 600))
    assert (latched.event, latched.alarm.signal) == (Event.LATCHED, SignalState.LATCHED)
    [ended] = transitions(engine.acknowledge(raised.alarm.id, "nurse.kim", at(620)))
    assert (ended.event, ended.user, ended.alarm.signal) == (
        Event.ENDED,
        "nurse.kim",
        SignalState.OFF,
    )
    assert engine.active() == []


def test_sbp_over_the_patients_baseline() -> None:
    engine = AlarmEngine()
    engine.observe(InfusionContext(True, at(0), baseline_sys=110, baseline_dia=70), at(0))
    [low] = transitions(cuff(engine, 152, 88, 600))
    assert low.message == "SBP 152 ≥ baseline 110 + 40 (repeat NIBP)"
    [medium] = transitions(cuff(engine, 155, 90, 1200))
    assert medium.alarm.priority is Priority.MEDIUM


def test_hypotension_and_questionable_cuff_readings() -> None:
    engine = AlarmEngine()
    [hypo] = transitions(cuff(engine, 84, 50, 0))
    assert (hypo.alarm.key, hypo.message) == ("bp_low", "SBP 84 < 90")
    old = VitalReading("monitor", Metric.NIBP_SYS, 230, at(10), Validity.QUESTIONABLE)
    assert engine.observe(old, at(10)) == []  # flagged (e.g. older than 60 s): not used


# -- heart rate, SpO2, respiration -----------------------------------------------------------


def test_hr_125_for_10_s_raises_nothing_for_60_s_medium() -> None:
    engine = AlarmEngine()
    assert transitions(stream(engine, Metric.HR, [125] * 10)) == []
    assert transitions(stream(engine, Metric.HR, [80] * 5, start=10)) == []
    out = stream(engine, Metric.HR, [125] * 60, start=20)
    [raised] = transitions(out)
    assert (raised.alarm.key, raised.alarm.priority, raised.message) == (
        "hr_high",
        Priority.MEDIUM,
        "HR 125 > 120",
    )
    assert raised.at == at(20 + 30)  # the 30 s condition delay


def test_hr_above_140_is_high_and_pulse_rate_stands_in_without_ecg() -> None:
    engine = AlarmEngine()
    out = stream(engine, Metric.PULSE_RATE, [150] * 40)
    assert events(out) == [("hr_high", Event.RAISED, Priority.HIGH)]
    assert transitions(out)[0].message == "Pulse 150 > 140"
    assert "hr_low" not in [a.key for a in engine.active()]


def test_a_3_s_spo2_dip_to_88_raises_nothing() -> None:
    engine = AlarmEngine()
    out = stream(engine, Metric.SPO2, [97, 97, 88, 88, 88, 96, 97, 97])
    assert transitions(out) == []


def test_spo2_satseconds_medium_then_high() -> None:
    engine = AlarmEngine()
    # 88 %: 2 %·s per second, 25 %·s reached after 13 readings.
    out = stream(engine, Metric.SPO2, [88] * 15)
    [medium] = transitions(out)
    assert (medium.alarm.priority, medium.message, medium.at) == (
        Priority.MEDIUM,
        "SpO2 88 < 90",
        at(12),
    )
    [high] = transitions(stream(engine, Metric.SPO2, [80] * 10, start=15))
    assert (high.event, high.alarm.priority) == (Event.UPDATED, Priority.HIGH)


def test_three_brief_desaturations_within_60_s_alarm() -> None:
    engine = AlarmEngine()
    values = [89, 95, 95, 89, 95, 95, 89]
    [raised] = transitions(stream(engine, Metric.SPO2, values, step=5))
    assert raised.alarm.key == "spo2_low"


def test_invalid_values_never_alarm_or_clear() -> None:
    engine = AlarmEngine()
    stream(engine, Metric.SPO2, [80] * 10)
    assert [a.key for a in engine.active()] == ["spo2_low"]
    assert engine.observe(vital(Metric.SPO2, None, 11), at(11)) == []
    assert [a.key for a in engine.active()] == ["spo2_low"]


def test_low_respiratory_rate() -> None:
    engine = AlarmEngine()
    [raised] = transitions(stream(engine, Metric.RESP_RATE, [6] * 40))
    assert raised.message == "RR 6 < 8"


# -- technical -------------------------------------------------------------------------------


def test_pump_occlusion_raises_high_within_one_reading() -> None:
    engine = AlarmEngine()
    pump = PumpReading(
        "pump", at(0), PumpState.ALARM, conditions=frozenset({PumpCondition.OCCLUSION})
    )
    raised = transitions(engine.observe(pump, at(0)))
    assert [(t.alarm.key, t.alarm.priority, t.alarm.kind) for t in raised] == [
        ("pump:pump::occlusion", Priority.HIGH, Kind.TECHNICAL)
    ]
    assert raised[0].message == "Pump pump: occlusion"


def test_pump_stopped_with_volume_left_for_2_min_then_complete() -> None:
    engine = AlarmEngine()

    def pump(state: PumpState, t: float, vi: float) -> list[Output]:
        return engine.observe(
            PumpReading("pump", at(t), state, rate_ml_h=60, volume_infused_ml=vi, vtbi_ml=40),
            at(t),
        )

    assert transitions(pump(PumpState.STANDBY, 0, 0)) == []  # before the start: nothing
    pump(PumpState.INFUSING, 10, 1)
    pump(PumpState.PAUSED, 60, 5)
    assert transitions(engine.tick(at(179))) == []
    assert engine.next_deadline() == at(180)
    [stopped] = transitions(engine.tick(at(180)))
    assert (stopped.alarm.priority, stopped.message) == (
        Priority.MEDIUM,
        "Pump pump stopped with volume left",
    )
    ended = transitions(pump(PumpState.INFUSING, 200, 5))
    assert [t.event for t in ended] == [Event.ENDED]
    [complete] = transitions(pump(PumpState.COMPLETE, 2500, 40))
    assert (complete.alarm.priority, complete.message) == (
        Priority.LOW,
        "Pump pump: infusion complete",
    )


def test_device_link_and_sensor_conditions() -> None:
    engine = AlarmEngine()
    [link] = transitions(
        engine.observe(AvailabilityChange("monitor", Availability.STALE, at(0), "silent"), at(0))
    )
    assert (link.alarm.kind, link.alarm.priority, link.message) == (
        Kind.TECHNICAL,
        Priority.MEDIUM,
        "monitor stale: silent",
    )
    off = DeviceConditions("monitor", frozenset({Condition.SENSOR_OFF}), at(0))
    assert transitions(engine.observe(off, at(0))) == []  # a finger moved: wait
    [sensor] = transitions(engine.tick(at(10)))
    assert sensor.message == "monitor: sensor off"
    back = DeviceConditions("monitor", frozenset(), at(12))
    assert [t.event for t in transitions(engine.observe(back, at(12)))] == [Event.ENDED]


def test_nibp_failed_low_then_medium_after_two_in_a_row() -> None:
    engine = AlarmEngine()
    failed = DeviceConditions("monitor", frozenset({Condition.NIBP_MEASUREMENT_FAILED}), at(0))
    [first] = transitions(engine.observe(failed, at(0)))
    assert first.alarm.priority is Priority.LOW
    engine.observe(DeviceConditions("monitor", frozenset(), at(60)), at(60))
    [second] = transitions(engine.observe(failed, at(600)))
    assert (second.alarm.priority, second.message) == (
        Priority.MEDIUM,
        "monitor: NIBP measurement failed (2 in a row)",
    )
    ended = transitions(cuff(engine, 130, 80, 660))
    assert ("nibp_failed:monitor", Event.ENDED) in [(t.alarm.key, t.event) for t in ended]


def test_no_tablet_connected_while_an_infusion_runs() -> None:
    engine = AlarmEngine()
    engine.observe(TabletCount(0, at(0)), at(0))
    assert transitions(engine.tick(at(60))) == []  # no infusion: nobody needs to watch
    engine.observe(InfusionContext(True, at(60)), at(60))
    [alarm] = transitions(engine.tick(at(70)))
    assert alarm.message == "No tablet connected during the infusion"
    [ended] = transitions(engine.observe(TabletCount(1, at(75)), at(75)))
    assert ended.event is Event.ENDED


def test_service_fault_is_high() -> None:
    engine = AlarmEngine()
    [raised] = transitions(engine.observe(ServiceFault("storage", True, "disk full", at(0)), at(0)))
    assert (raised.alarm.priority, raised.message) == (Priority.HIGH, "Vigil: disk full")


# -- signals: acknowledge, reminder, pause, escalation, responsibility ------------------------


def test_acknowledge_then_reminder_while_still_present() -> None:
    engine = AlarmEngine()
    [raised] = transitions(stream(engine, Metric.SPO2, [85] * 8))
    [ack] = transitions(engine.acknowledge(raised.alarm.id, "nurse.kim", at(10)))
    assert (ack.event, ack.alarm.signal, ack.user) == (
        Event.ACKNOWLEDGED,
        SignalState.ACKNOWLEDGED,
        "nurse.kim",
    )
    assert not engine.audible(ack.alarm, at(10))
    assert engine.acknowledge(raised.alarm.id, "nurse.kim", at(11)) == []
    assert engine.next_deadline() == at(130)
    [reminder] = transitions(engine.tick(at(130)))
    assert (reminder.event, reminder.alarm.signal) == (Event.REMINDED, SignalState.ON)


def test_acknowledged_alarm_that_gets_worse_sounds_again() -> None:
    engine = AlarmEngine()
    [raised] = transitions(stream(engine, Metric.SPO2, [88] * 13))
    engine.acknowledge(raised.alarm.id, "nurse.kim", at(13))
    [worse] = transitions(stream(engine, Metric.SPO2, [80] * 5, start=14))
    assert (worse.alarm.priority, worse.alarm.signal) == (Priority.HIGH, SignalState.ON)


def test_audio_pause_silences_present_alarms_but_a_higher_one_still_sounds() -> None:
    engine = AlarmEngine()
    transitions(stream(engine, Metric.SPO2, [88] * 13))
    [action] = engine.pause_audio("sitter.ana", at(20), seconds=300)
    assert isinstance(action, OperatorAction)
    assert action.detail == "audio paused for 120 s (up to medium)"  # capped at 2 min
    assert not engine.audible(engine.active()[0], at(21))
    [high] = transitions(cuff(engine, 210, 100, 30))
    assert engine.audible(high.alarm, at(30))
    assert engine.annunciation(at(30)) is Priority.HIGH
    after = engine.tick(at(140))
    [resumed] = [o for o in after if isinstance(o, OperatorAction)]
    assert resumed.action == "audio_resumed"
    # The pause silenced the sound, not the clock: the unacknowledged MEDIUM escalated at 132 s
    # (its notification; its priority stays what its rule says).
    assert events(after) == [("spo2_low", Event.ESCALATED, Priority.MEDIUM)]
    assert engine.audible(next(a for a in engine.active() if a.key == "spo2_low"), at(140))


def test_escalation_notifies_the_nurse_and_never_changes_the_priority() -> None:
    engine = AlarmEngine()
    engine.observe(AvailabilityChange("monitor", Availability.DISCONNECTED, at(0)), at(0))
    assert engine.next_deadline() == at(120)
    [esc] = transitions(engine.tick(at(120)))
    assert (esc.event, esc.alarm.priority, esc.notify, esc.alarm.escalated) == (
        Event.ESCALATED,
        Priority.MEDIUM,  # a technical alarm's priority never changes
        "nurse",
        True,
    )
    assert not esc.alarm.latching
    assert transitions(engine.tick(at(500))) == []  # once
    # HR 126 unattended: escalated, still MEDIUM; it becomes HIGH only when HR passes 140.
    engine = AlarmEngine()
    assert len(transitions(stream(engine, Metric.HR, [126] * 31))) == 1
    [esc] = transitions(engine.tick(at(30 + 120)))
    assert (esc.event, esc.alarm.priority) == (Event.ESCALATED, Priority.MEDIUM)
    assert [a.priority for a in engine.active()] == [Priority.MEDIUM]
    worse = transitions(stream(engine, Metric.HR, [150] * 31, start=200))
    assert [(t.event, t.alarm.priority) for t in worse] == [(Event.UPDATED, Priority.HIGH)]
    better = transitions(stream(engine, Metric.HR, [126] * 3, start=240))
    assert [(t.event, t.alarm.priority) for t in better] == [(Event.UPDATED, Priority.MEDIUM)]


def test_a_technical_high_alarm_ends_by_itself() -> None:
    engine = AlarmEngine()
    from service.alarms.model import ServiceFault

    [raised] = transitions(engine.observe(ServiceFault("storage", True, "disk full", at(0)), at(0)))
    assert raised.alarm.priority is Priority.HIGH and not raised.alarm.latching
    [ended] = transitions(engine.observe(ServiceFault("storage", False, "ok", at(5)), at(5)))
    assert ended.event is Event.ENDED and engine.active() == []


def test_responsibility_rejected_escalates_at_once_accepted_acknowledges() -> None:
    engine = AlarmEngine()
    [raised] = transitions(stream(engine, Metric.HR, [130] * 31))
    rejected = transitions(engine.reject_responsibility(raised.alarm.id, "nurse.bo", at(40)))
    assert [t.event for t in rejected] == [Event.RESPONSIBILITY_REJECTED, Event.ESCALATED]
    assert rejected[-1].notify == "nurse"
    accepted = transitions(engine.accept_responsibility(raised.alarm.id, "nurse.kim", at(50)))
    assert [t.event for t in accepted] == [Event.ACKNOWLEDGED, Event.RESPONSIBILITY_ACCEPTED]
    assert accepted[-1].alarm.responsible == "nurse.kim"


def test_unknown_alarm_id() -> None:
    with pytest.raises(KeyError):
        AlarmEngine().acknowledge("nope", "nurse.kim", at(0))


def test_restart_with_a_latched_alarm() -> None:
    engine = AlarmEngine()
    [raised] = transitions(cuff(engine, 205, 125, 0))
    cuff(engine, 130, 80, 600)
    [latched] = engine.active()
    restarted = AlarmEngine()
    restarted.restore([latched], at(700))
    assert restarted.active()[0].signal is SignalState.LATCHED
    [ended] = transitions(restarted.acknowledge(raised.alarm.id, "nurse.kim", at(710)))
    assert ended.event is Event.ENDED


# -- limits ------------------------------------------------------------------------------------


def test_limits_change_is_audited_and_validated() -> None:
    engine = AlarmEngine()
    [action] = engine.set_limits({"hr_medium": 110}, "nurse.kim", at(0))
    assert isinstance(action, OperatorAction)
    assert action.detail == "hr_medium 120→110"
    [raised] = transitions(stream(engine, Metric.HR, [115] * 31, start=1))
    assert raised.message == "HR 115 > 110"
    with pytest.raises(ValueError, match="outside"):
        engine.set_limits({"spo2_medium": 30}, "nurse.kim", at(1))
    with pytest.raises(ValueError, match="unknown alarm limit"):
        Limits().changed({"sbp_max": 1})
    with pytest.raises(ValueError, match="spo2_high must be below"):
        Limits().changed({"spo2_high": 92})


def test_latched_alarm_whose_cause_returns_sounds_again() -> None:
    engine = AlarmEngine()
    stream(engine, Metric.SPO2, [80] * 10)
    stream(engine, Metric.SPO2, [97] * 3, start=10)
    assert engine.active()[0].signal is SignalState.LATCHED
    back, worse = transitions(stream(engine, Metric.SPO2, [80] * 5, start=13))
    assert worse.alarm.priority is Priority.HIGH
    assert (back.event, back.alarm.condition, back.alarm.signal) == (
        Event.RAISED,
        ConditionState.ACTIVE,
        SignalState.ON,
    )


def test_docs_list_every_limit_with_its_default_and_source() -> None:
    from pathlib import Path

    from service.alarms.limits import markdown_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "alarms.md").read_text()
    assert markdown_table() in doc, "regenerate with: python -m service.alarms.limits"


def test_pump_rate_against_the_sessions_expected_rate() -> None:
    engine = AlarmEngine()
    engine.observe(InfusionContext(True, at(0), expected_rate_ml_h=52.5), at(0))

    def pump(rate: float, t: float, state: PumpState = PumpState.INFUSING) -> list[Output]:
        return engine.observe(PumpReading("pump", at(t), state, rate_ml_h=rate), at(t))

    assert transitions(pump(12.0, 1)) == []  # one odd reading (a rate change)
    assert transitions(pump(52.0, 2)) == []  # back within 10 %
    assert transitions(pump(12.0, 3)) == []
    [raised] = transitions(pump(12.0, 4))
    assert (raised.alarm.key, raised.alarm.priority, raised.message) == (
        "pump_rate:pump:",
        Priority.MEDIUM,
        "Pump pump: rate 12.0 mL/h ≠ expected 52.5 mL/h",
    )
    assert not raised.alarm.latching
    [ended] = transitions(pump(55.0, 5))
    assert ended.event is Event.ENDED
    pump(80.0, 6)
    pump(80.0, 7)
    [cleared] = transitions(engine.observe(InfusionContext(False, at(8)), at(8)))
    assert cleared.alarm.key == "pump_rate:pump:"


# -- message texts -------------------------------------------------------------------------------


def test_a_value_is_never_rounded_onto_the_limit_it_violates() -> None:
    engine = AlarmEngine(Limits().changed({"spo2_medium": 98}))
    [raised] = transitions(stream(engine, Metric.SPO2, [97.6] * 70))  # 0.4 %·s a second
    assert raised.message == "SpO2 97.6 < 98"
    # Three dips within 60 s to 97.96 %: "97.96 < 98", never "98 < 98".
    engine = AlarmEngine(Limits().changed({"spo2_medium": 98}))
    [dips] = transitions(stream(engine, Metric.SPO2, [97.96, 99, 97.96, 99, 97.96], step=5))
    assert dips.message == "SpO2 97.96 < 98"
    [hr] = transitions(stream(AlarmEngine(), Metric.HR, [120.04] * 31))
    assert hr.message == "HR 120.04 > 120"
    [rr] = transitions(stream(AlarmEngine(), Metric.RESP_RATE, [7.96] * 31))
    assert rr.message == "RR 7.96 < 8"
    [hypo] = transitions(cuff(AlarmEngine(), 89.97, 60, 0))
    assert hypo.message == "SBP 89.97 < 90"
    [bp] = transitions(cuff(AlarmEngine(), 200.04, 100, 0))
    assert bp.message == "SBP 200 ≥ 200"  # rounding toward the violating side reads true


def test_inside_the_hysteresis_band_the_text_says_when_the_alarm_ends() -> None:
    engine = AlarmEngine()
    stream(engine, Metric.SPO2, [88] * 13)
    stream(engine, Metric.SPO2, [90] * 3, start=13)  # back at the limit, not 1 % above it
    [spo2] = engine.active()
    assert spo2.message == "SpO2 90, alarm until ≥ 91"
    engine = AlarmEngine()
    stream(engine, Metric.HR, [125] * 31)
    stream(engine, Metric.HR, [118, 115.04], start=31)
    [hr] = engine.active()
    assert hr.message == "HR 115.04, alarm until ≤ 115"


@pytest.mark.parametrize("op", ["<", ">", "≥"])
def test_compared_values_always_read_true(op: str) -> None:
    import operator

    from service.alarms.rules import compared, condition_text

    holds = {"<": operator.lt, ">": operator.gt, "≥": operator.ge}[op]
    for limit in (8, 45, 90, 97.5, 120, 160.25):
        for hundredths in range(-300, 301):
            value = limit + hundredths / 100
            if holds(value, limit):
                left, shown_op, right = compared(value, op, limit).split(" ")
                assert shown_op == op and holds(float(left), float(right)), (value, limit)
                assert abs(float(left) - value) < 0.5
            in_band = (limit <= value < limit + 1) if op == "<" else (limit - 1 < value <= limit)
            if op != "≥" and in_band:  # still active: "X 90.5, alarm until ≥ 91"
                text = condition_text("X", value, op, limit, 1.0)
                number, end = text.removeprefix("X ").split(", alarm until ")
                until, bound = end.split(" ")
                assert until == ("≥" if op == "<" else "≤")
                assert holds(float(number), float(bound)), (value, limit, text)
