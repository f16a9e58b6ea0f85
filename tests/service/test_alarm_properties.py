"""Properties of the alarm engine over random sessions (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.readings import Metric, Validity, VitalReading
from service.alarms import AlarmEngine, AlarmTransition, Event, Kind, Limits, Output

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
LIM = Limits()

RANGES = {
    Metric.HR: (30, 180),
    Metric.PULSE_RATE: (30, 180),
    Metric.SPO2: (70, 100),
    Metric.RESP_RATE: (2, 30),
    Metric.NIBP_SYS: (70, 230),
    Metric.NIBP_DIA: (40, 140),
}
NORMAL = {
    Metric.HR: 75,
    Metric.PULSE_RATE: 75,
    Metric.SPO2: 98,
    Metric.RESP_RATE: 14,
    Metric.NIBP_SYS: 120,
    Metric.NIBP_DIA: 75,
}

step = st.tuples(
    st.sampled_from(sorted(RANGES)),
    st.floats(0, 1),
    st.floats(0.2, 30),
    st.booleans(),
)


def build(steps: list[tuple[Metric, float, float, bool]]) -> list[tuple[float, VitalReading]]:
    t = 0.0
    out = []
    for metric, fraction, dt, valid in steps:
        t += dt
        low, high = RANGES[metric]
        value = round(low + fraction * (high - low))
        validity = Validity.VALID if valid else Validity.INVALID
        reading = VitalReading(
            "monitor", metric, value if valid else None, T0 + timedelta(seconds=t), validity
        )
        out.append((t, reading))
    return out


def run(readings: list[tuple[float, VitalReading]]) -> list[Output]:
    engine = AlarmEngine()
    out: list[Output] = []
    for t, reading in readings:
        now = T0 + timedelta(seconds=t)
        out += engine.tick(now)
        out += engine.observe(reading, now)
    return out


def violates(key: str, r: VitalReading) -> bool:
    v = r.value
    if v is None or r.validity is not Validity.VALID:
        return False
    return {
        "hr_high": r.metric in (Metric.HR, Metric.PULSE_RATE) and v > LIM.hr_medium,
        "hr_low": r.metric in (Metric.HR, Metric.PULSE_RATE) and v < LIM.hr_low,
        "spo2_low": r.metric is Metric.SPO2 and v < LIM.spo2_medium,
        "rr_low": r.metric is Metric.RESP_RATE and v < LIM.rr_low,
        "bp_high": (r.metric is Metric.NIBP_SYS and v >= LIM.sbp_medium)
        or (r.metric is Metric.NIBP_DIA and v >= LIM.dbp_medium),
        "bp_low": r.metric is Metric.NIBP_SYS and v < LIM.sbp_low,
    }[key]


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=120))
def test_no_physiological_alarm_without_a_violating_reading(
    steps: list[tuple[Metric, float, float, bool]],
) -> None:
    readings = build(steps)
    for out in run(readings):
        if isinstance(out, AlarmTransition) and out.event is Event.RAISED:
            assert out.alarm.kind is Kind.PHYSIOLOGICAL
            before = [r for t, r in readings if T0 + timedelta(seconds=t) <= out.at]
            assert any(violates(out.alarm.key, r) for r in before), out


@settings(max_examples=100, deadline=None)
@given(st.lists(step, max_size=120))
def test_every_alarm_ends_once_the_cause_goes_and_the_operator_acts(
    steps: list[tuple[Metric, float, float, bool]],
) -> None:
    engine = AlarmEngine()
    readings = build(steps)
    t = 0.0
    for t, reading in readings:
        now = T0 + timedelta(seconds=t)
        engine.tick(now)
        engine.observe(reading, now)
    # The cause goes away: normal readings on every metric for two minutes...
    for i in range(120):
        t += 1
        now = T0 + timedelta(seconds=t)
        for metric, value in NORMAL.items():
            at = (
                now
                if metric not in (Metric.NIBP_SYS, Metric.NIBP_DIA)
                else T0 + timedelta(seconds=t - i % 60)
            )  # a new cuff reading every minute
            engine.observe(VitalReading("monitor", metric, value, at), now)
        engine.tick(now)
    # ...and the nurse acknowledges whatever is still shown (latched alarms).
    for alarm in engine.active():
        engine.acknowledge(alarm.id, "nurse.kim", now)
    assert engine.active() == []


@settings(max_examples=50, deadline=None)
@given(st.lists(step, max_size=150))
def test_replaying_a_session_gives_identical_transitions(
    steps: list[tuple[Metric, float, float, bool]],
) -> None:
    readings = build(steps)
    assert run(readings) == run(readings)
