"""The alarm rules a clinic can trust (docs/alarms.md, Rules), one state at a time, on injected
time: a cuff measurement is one event, confirmation by repeat, the cuff cadence, hypotension,
bradycardia, apnoea, hypoventilation, limits relative to the baseline, SpO2 SatSeconds that
drain, questionable SpO2, pump completion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drivers.readings import (
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
    AlarmEngine,
    AlarmTransition,
    Event,
    InfusionContext,
    Kind,
    Output,
    Priority,
    SignalState,
)

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def vital(
    metric: Metric, value: float, t: float, validity: Validity = Validity.VALID
) -> VitalReading:
    return VitalReading("monitor", metric, value, at(t), validity)


def cuff(
    engine: AlarmEngine, sys: float, dia: float, t: float, mean: float | None = None
) -> list[Output]:
    """One measurement as monitors send it: three readings with one measurement time."""
    out = engine.observe(vital(Metric.NIBP_SYS, sys, t), at(t))
    out += engine.observe(vital(Metric.NIBP_DIA, dia, t), at(t))
    m = round((sys + 2 * dia) / 3) if mean is None else mean
    return out + engine.observe(vital(Metric.NIBP_MEAN, m, t), at(t))


def stream(
    engine: AlarmEngine,
    metric: Metric,
    values: list[float],
    start: float = 0.0,
    step: float = 1.0,
    validity: Validity = Validity.VALID,
) -> list[Output]:
    out: list[Output] = []
    for i, value in enumerate(values):
        t = start + i * step
        out += engine.observe(vital(metric, value, t, validity), at(t))
        out += engine.tick(at(t))
    return out


def transitions(outputs: list[Output]) -> list[AlarmTransition]:
    return [o for o in outputs if isinstance(o, AlarmTransition)]


def shown(engine: AlarmEngine, key: str) -> list[tuple[Priority, SignalState]]:
    return [(a.priority, a.signal) for a in engine.active() if a.key == key]


def running(
    engine: AlarmEngine,
    t: float,
    sys: float | None = None,
    dia: float | None = None,
    hr: float | None = None,
) -> None:
    engine.observe(InfusionContext(True, at(t), sys, dia, hr), at(t))


# -- a cuff measurement is one event ------------------------------------------------------------


def test_a_diastolic_only_high_bp_is_one_alarm_over_three_cuff_cycles() -> None:
    engine = AlarmEngine()
    seen: list[AlarmTransition] = []
    for i, t in enumerate((0, 300, 600)):
        seen += transitions(cuff(engine, 150, 105, t))
        if i == 0:
            [raised] = seen
            engine.acknowledge(raised.alarm.id, "nurse", at(10))
    assert [(x.event, x.alarm.priority) for x in seen] == [
        (Event.RAISED, Priority.LOW),  # DBP 105 ≥ 100 once: repeat NIBP
        (Event.UPDATED, Priority.MEDIUM),  # confirmed by the next cycle
    ]
    assert len({x.alarm.id for x in seen}) == 1
    assert shown(engine, "bp_high") == [(Priority.MEDIUM, SignalState.ON)]


def test_a_measurement_is_judged_once_whatever_order_its_parts_come_in() -> None:
    engine = AlarmEngine()
    out = engine.observe(vital(Metric.NIBP_MEAN, 125, 0), at(0))
    out += engine.observe(vital(Metric.NIBP_DIA, 105, 0), at(0))
    assert transitions(out) == []  # the systolic is still coming
    out = engine.observe(vital(Metric.NIBP_SYS, 150, 0), at(0.5))
    assert [x.event for x in transitions(out)] == [Event.RAISED]
    # A measurement whose diastolic never comes is judged with what came, 2 s on.
    engine = AlarmEngine()
    assert transitions(engine.observe(vital(Metric.NIBP_SYS, 205, 0), at(0))) == []
    assert engine.next_deadline() == at(2)
    assert transitions(engine.tick(at(1.9))) == []
    [high] = transitions(engine.tick(at(2)))
    assert high.alarm.priority is Priority.HIGH


# -- confirmation by repeat ---------------------------------------------------------------------


def test_a_severe_bp_acknowledged_then_confirmed_is_high_at_once_and_sounds() -> None:
    engine = AlarmEngine()
    [first] = transitions(cuff(engine, 186, 104, 0))
    assert (first.alarm.priority, first.message) == (
        Priority.MEDIUM,
        "SBP 186 ≥ 180: repeat NIBP now",
    )
    engine.acknowledge(first.alarm.id, "nurse", at(5))
    [confirmed] = transitions(cuff(engine, 183, 100, 180))  # the nurse repeats it 3 min later
    assert (confirmed.event, confirmed.alarm.priority) == (Event.UPDATED, Priority.HIGH)
    assert confirmed.alarm.signal is SignalState.ON  # whatever was acknowledged before
    assert confirmed.at == at(180)


def test_the_repeat_gap_edges() -> None:
    for gap, priority in ((119, Priority.MEDIUM), (120, Priority.HIGH), (121, Priority.HIGH)):
        engine = AlarmEngine()
        cuff(engine, 181, 90, 0)
        cuff(engine, 181, 90, gap)
        assert shown(engine, "bp_high")[0][0] is priority, gap


def test_a_single_severe_reading_with_no_repeat_becomes_repeat_overdue() -> None:
    engine = AlarmEngine()
    [raised] = transitions(cuff(engine, 150, 112, 0))  # DBP 112 ≥ 110
    engine.acknowledge(raised.alarm.id, "nurse", at(1))  # (its reminder is at 121 s)
    engine.tick(at(121))
    assert engine.next_deadline() == at(241)  # the next reminder, then the repeat at 300 s
    assert "nibp_repeat:monitor" not in [x.alarm.key for x in transitions(engine.tick(at(299)))]
    [overdue] = [x for x in transitions(engine.tick(at(300))) if x.alarm.key != "bp_high"]
    assert overdue.alarm.key == "nibp_repeat:monitor"
    assert (overdue.alarm.kind, overdue.alarm.priority) == (Kind.TECHNICAL, Priority.MEDIUM)
    assert overdue.message.startswith("Repeat NIBP overdue: no cuff reading 5 min after DBP 112")
    ended = transitions(cuff(engine, 140, 95, 320))
    assert ("nibp_repeat:monitor", Event.ENDED) in [(x.alarm.key, x.event) for x in ended]


def test_200_120_is_high_at_once() -> None:
    for sys, dia in ((200, 90), (150, 120)):
        [raised] = transitions(cuff(AlarmEngine(), sys, dia, 0))
        assert raised.alarm.priority is Priority.HIGH
    [below] = transitions(cuff(AlarmEngine(), 199, 119, 0))
    assert below.alarm.priority is Priority.MEDIUM


# -- the cuff cadence ---------------------------------------------------------------------------


def test_no_cuff_reading_for_the_cycle_plus_two_minutes_during_an_infusion() -> None:
    engine = AlarmEngine()
    cuff(engine, 120, 80, -60)  # before the infusion: no cadence
    assert transitions(engine.tick(at(5000))) == []
    running(engine, 6000)
    assert engine.next_deadline() == at(6000 + 720)
    [overdue] = transitions(engine.tick(at(6720)))
    assert (overdue.alarm.key, overdue.alarm.priority) == ("nibp_overdue", Priority.MEDIUM)
    [ended] = [x for x in transitions(cuff(engine, 120, 80, 6730)) if x.alarm.key == "nibp_overdue"]
    assert ended.event is Event.ENDED
    assert engine.next_deadline() == at(6730 + 720)
    engine.observe(InfusionContext(False, at(6800)), at(6800))
    assert transitions(engine.tick(at(9000))) == []  # the infusion ended: no cadence


# -- hypotension --------------------------------------------------------------------------------


def test_hypotension_from_one_reading() -> None:
    cases = [
        ((76, 40, None), Priority.HIGH, "SBP 76 < 80"),
        ((85, 38, 52), Priority.HIGH, "MAP 52 < 55"),
        ((88, 60, None), Priority.MEDIUM, "SBP 88 < 90"),
        ((96, 45, 62), Priority.MEDIUM, "MAP 62 < 65"),
    ]
    for (sys, dia, mean), priority, text in cases:
        engine = AlarmEngine()
        cuff(engine, sys, dia, 0, mean)
        [low] = [a for a in engine.active() if a.key == "bp_low"]
        assert (low.priority, low.message, low.kind) == (priority, text, Kind.PHYSIOLOGICAL)
    assert not [
        x for x in transitions(cuff(AlarmEngine(), 90, 60, 0, 70)) if x.alarm.key == "bp_low"
    ]


def test_a_fall_of_30_percent_below_baseline_is_medium() -> None:
    engine = AlarmEngine()
    running(engine, 0, sys=150, dia=90)
    [fall] = transitions(cuff(engine, 105, 70, 60))  # 150 × 0.7 = 105
    assert (fall.alarm.key, fall.alarm.priority) == ("bp_low", Priority.MEDIUM)
    assert "30 % or more below baseline 150" in fall.message
    assert transitions(cuff(engine, 108, 72, 660)) == []  # inside the hysteresis band
    [ended] = transitions(cuff(engine, 111, 72, 1260))
    assert ended.event is Event.ENDED


# -- heart rate ---------------------------------------------------------------------------------


def test_bradycardia_below_40_for_15_s_is_high() -> None:
    engine = AlarmEngine()
    out = transitions(stream(engine, Metric.HR, [38] * 16))
    assert [(x.event, x.alarm.priority, x.at) for x in out] == [
        (Event.RAISED, Priority.HIGH, at(15))
    ]
    engine = AlarmEngine()
    out = transitions(stream(engine, Metric.HR, [43] * 31))
    assert [(x.event, x.alarm.priority, x.at) for x in out] == [
        (Event.RAISED, Priority.MEDIUM, at(30))
    ]


def test_hr_relative_to_baseline_during_an_infusion() -> None:
    engine = AlarmEngine()
    running(engine, 0, sys=120, dia=80, hr=70)
    out = transitions(stream(engine, Metric.HR, [111] * 31, start=10))
    assert [(x.alarm.key, x.alarm.priority, x.message) for x in out] == [
        ("hr_high", Priority.MEDIUM, "HR 111 > baseline 70 + 40")
    ]
    assert transitions(stream(AlarmEngine(), Metric.HR, [111] * 31)) == []  # no baseline: nothing


def test_dbp_relative_to_baseline() -> None:
    engine = AlarmEngine()
    running(engine, 0, sys=110, dia=65, hr=70)
    [low] = transitions(cuff(engine, 130, 90, 60))  # 90 ≥ 65 + 25
    assert (low.alarm.priority, low.message) == (
        Priority.LOW,
        "DBP 90 ≥ baseline 65 + 25 (repeat NIBP)",
    )
    [confirmed] = transitions(cuff(engine, 131, 91, 660))
    assert confirmed.alarm.priority is Priority.MEDIUM


# -- breathing ----------------------------------------------------------------------------------


def test_apnoea_rr_zero_for_30_s_is_high() -> None:
    engine = AlarmEngine()
    stream(engine, Metric.RESP_RATE, [14] * 5)
    out = transitions(stream(engine, Metric.RESP_RATE, [0] * 31, start=5))
    assert [(x.alarm.key, x.alarm.priority, x.at) for x in out] == [
        ("apnoea", Priority.HIGH, at(35))
    ]
    assert out[0].message == "Apnoea: no breath for ≥ 30 s (RR 0)"
    assert not [a for a in engine.active() if a.key == "rr_low"]  # RR 0 is apnoea, not "low"
    [latched] = transitions(stream(engine, Metric.RESP_RATE, [12], start=40))
    assert latched.event is Event.LATCHED  # a physiological HIGH nobody acknowledged


def test_apnoea_from_a_flat_capnogram_or_the_monitors_flag_and_the_engine_wakes_for_it() -> None:
    engine = AlarmEngine()
    engine.observe(vital(Metric.ETCO2, 2, 0), at(0))
    assert engine.next_deadline() == at(30)
    [raised] = transitions(engine.tick(at(30)))  # no more readings needed: the deadline fires
    assert raised.message == "Apnoea: no breath for ≥ 30 s (EtCO2 2 < 5 mmHg)"
    engine = AlarmEngine()
    engine.observe(DeviceConditions("monitor", frozenset({Condition.APNOEA}), at(0)), at(0))
    [flag] = transitions(engine.tick(at(30)))
    assert flag.alarm.key == "apnoea" and "monitor apnoea alarm" in flag.message
    ended = transitions(engine.observe(DeviceConditions("monitor", frozenset(), at(40)), at(40)))
    assert [x.event for x in ended if x.alarm.key == "apnoea"] == [Event.LATCHED]


def test_a_flat_capnogram_while_the_rr_counts_breaths_is_not_apnoea() -> None:
    """A sampling line off the nose: EtCO2 0, the impedance RR still 14."""
    engine = AlarmEngine()
    out: list[Output] = []
    for t in range(60):
        out += engine.observe(vital(Metric.ETCO2, 0, t), at(t))
        out += engine.observe(vital(Metric.RESP_RATE, 14, t), at(t))
        out += engine.tick(at(t))
    assert [x for x in transitions(out) if x.alarm.key == "apnoea"] == []
    # Both stop: apnoea 30 s after the last breath counted (at 59 s).
    out = []
    for t in range(60, 100):
        out += engine.observe(vital(Metric.ETCO2, 0, t), at(t))
        out += engine.observe(vital(Metric.RESP_RATE, 0, t), at(t))
        out += engine.tick(at(t))
    [raised] = [x for x in transitions(out) if x.alarm.key == "apnoea"]
    assert raised.at == at(89)


def test_hypoventilation_etco2_above_55_for_60_s() -> None:
    engine = AlarmEngine()
    out = transitions(stream(engine, Metric.ETCO2, [58] * 61))
    assert [(x.alarm.key, x.alarm.priority, x.at) for x in out] == [
        ("etco2_high", Priority.MEDIUM, at(60))
    ]
    assert transitions(stream(AlarmEngine(), Metric.ETCO2, [55] * 90)) == []  # at the limit


# -- SpO2 ---------------------------------------------------------------------------------------


def test_satseconds_drain_while_spo2_is_back_within_limits() -> None:
    engine = AlarmEngine()
    # 8 s at 88 % (16 %·s), then 80 s at 91 %: drained; another 8 s at 88 % is 16 %·s, not 32.
    out = stream(engine, Metric.SPO2, [88] * 8 + [91] * 80 + [88] * 8)
    assert transitions(out) == []
    # Without the drain the same pattern alarms: 16 + 16 ≥ 25.
    engine = AlarmEngine()
    out = stream(engine, Metric.SPO2, [88] * 8 + [90] * 1 + [88] * 8)
    assert [x.alarm.key for x in transitions(out)] == ["spo2_low"]


def test_a_questionable_spo2_never_raises_an_alarm_by_itself() -> None:
    engine = AlarmEngine()
    out = stream(engine, Metric.SPO2, [70] * 120, validity=Validity.QUESTIONABLE)
    assert transitions(out) == []
    assert transitions(stream(engine, Metric.SPO2, [70] * 2, start=200))  # valid: at once


# -- pump completion ----------------------------------------------------------------------------


def test_pump_completion_is_one_low_signal_without_reminders_cleared_by_end_of_infusion() -> None:
    engine = AlarmEngine()
    running(engine, 0)
    ends = frozenset({PumpCondition.END_OF_VOLUME})
    done = PumpReading("pump", at(10), PumpState.COMPLETE, "1", 0, 35, 35, conditions=ends)
    [raised] = transitions(engine.observe(done, at(10)))
    assert (raised.alarm.key, raised.alarm.priority) == ("pump_complete:pump:1", Priority.LOW)
    engine.acknowledge(raised.alarm.id, "nurse", at(20))
    for t in range(30, 3600, 60):
        out = transitions(engine.observe(done, at(t)) + engine.tick(at(t)))
        assert [x for x in out if x.alarm.key.startswith("pump")] == []
    [ended] = [
        x
        for x in transitions(engine.observe(InfusionContext(False, at(3700)), at(3700)))
        if x.alarm.key.startswith("pump")
    ]
    assert (ended.alarm.key, ended.event) == ("pump_complete:pump:1", Event.ENDED)
