"""Every alarm limit at its edge: at, just inside and just outside, generated from the limits
table (service/alarms/limits.py ``LIMITS``). Each limit has a probe that asks the real engine
one question ("does this value raise the alarm?") with injected time; the expected answer
comes from the limit's comparison. A limit added to the table without a probe fails
``test_every_limit_has_an_edge_probe``, so a new limit gets its edge tests or a reason."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from drivers.readings import (
    Availability,
    AvailabilityChange,
    Condition,
    DeviceConditions,
    Metric,
    PumpReading,
    PumpState,
    VitalReading,
)
from service.alarms import (
    AlarmEngine,
    AlarmTransition,
    InfusionContext,
    Limits,
    OperatorAction,
    Output,
    Priority,
    SignalState,
    TabletCount,
)
from service.alarms.limits import LIMITS

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
L = Limits()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def vital(metric: Metric, value: float, t: float) -> VitalReading:
    return VitalReading("monitor", metric, value, at(t))


def cuff(
    e: AlarmEngine, sys: float, dia: float, t: float, mean: float | None = None
) -> list[Output]:
    out = e.observe(vital(Metric.NIBP_SYS, sys, t), at(t))
    out += e.observe(vital(Metric.NIBP_DIA, dia, t), at(t))
    m = (sys + 2 * dia) / 3 if mean is None else mean
    return out + e.observe(vital(Metric.NIBP_MEAN, m, t), at(t))


def stream(e: AlarmEngine, metric: Metric, value: float, seconds: float, start: float = 0) -> None:
    t = start
    while t <= start + seconds + 1e-9:
        e.observe(vital(metric, value, t), at(t))
        e.tick(at(t))
        t += 0.5


def shown(e: AlarmEngine, key: str) -> Priority | None:
    found = [a.priority for a in e.active() if a.key.startswith(key)]
    return found[0] if found else None


def running(e: AlarmEngine, sys: float = 120, dia: float = 80, hr: float = 70) -> None:
    rate = 50.0
    e.observe(InfusionContext(True, at(0), sys, dia, hr, rate), at(0))


# -- the probes: one question per limit; True when the alarm (or its stated effect) happens -----


def p_sbp_medium(v: float) -> bool:  # two readings ≥ v, confirmed: MEDIUM
    e = AlarmEngine()
    cuff(e, v, 60, 0)
    cuff(e, v, 60, 600)
    return shown(e, "bp_high") is Priority.MEDIUM


def p_dbp_medium(v: float) -> bool:
    e = AlarmEngine()
    cuff(e, 120, v, 0)
    cuff(e, 120, v, 600)
    return shown(e, "bp_high") is Priority.MEDIUM


def p_sbp_high(v: float) -> bool:  # a single reading: MEDIUM "repeat NIBP now" (else LOW)
    e = AlarmEngine()
    cuff(e, v, 60, 0)
    return shown(e, "bp_high") is Priority.MEDIUM


def p_dbp_high(v: float) -> bool:
    e = AlarmEngine()
    cuff(e, 120, v, 0)
    return shown(e, "bp_high") is Priority.MEDIUM


def p_sbp_extreme(v: float) -> bool:
    e = AlarmEngine()
    cuff(e, v, 60, 0)
    return shown(e, "bp_high") is Priority.HIGH


def p_dbp_extreme(v: float) -> bool:
    e = AlarmEngine()
    cuff(e, 120, v, 0)
    return shown(e, "bp_high") is Priority.HIGH


def p_bp_high_min_gap_s(v: float) -> bool:  # the repeat v s later confirms: HIGH
    e = AlarmEngine()
    cuff(e, 185, 80, 0)
    cuff(e, 185, 80, v)
    return shown(e, "bp_high") is Priority.HIGH


def p_bp_repeat_due_s(v: float) -> bool:  # v s with no repeat: "repeat NIBP overdue"
    e = AlarmEngine()
    cuff(e, 185, 80, 0)
    e.tick(at(v))
    return shown(e, "nibp_repeat") is not None


def p_nibp_cycle_s(v: float) -> bool:  # no cuff for v + 120 s during an infusion: overdue
    e = AlarmEngine()
    running(e)
    e.tick(at(v + 120))
    return shown(e, "nibp_overdue") is not None


def p_bp_confirm_window_s(v: float) -> bool:  # two elevated readings v s apart: MEDIUM
    e = AlarmEngine()
    cuff(e, 165, 80, 0)
    cuff(e, 165, 80, v)
    return shown(e, "bp_high") is Priority.MEDIUM


def p_sbp_over_baseline(v: float) -> bool:  # SBP baseline 100 + v: raised
    e = AlarmEngine()
    running(e, sys=100, dia=60)
    cuff(e, 100 + v, 60, 10)
    return shown(e, "bp_high") is not None


def p_dbp_over_baseline(v: float) -> bool:
    e = AlarmEngine()
    running(e, sys=100, dia=60)
    cuff(e, 110, 60 + v, 10)
    return shown(e, "bp_high") is not None


def p_sbp_low(v: float) -> bool:  # MAP kept high: SBP alone decides
    e = AlarmEngine()
    cuff(e, v, 70, 0, mean=80)
    return shown(e, "bp_low") is not None


def p_sbp_low_high(v: float) -> bool:
    e = AlarmEngine()
    cuff(e, v, 70, 0, mean=80)
    return shown(e, "bp_low") is Priority.HIGH


def p_map_low(v: float) -> bool:
    e = AlarmEngine()
    cuff(e, 120, 50, 0, mean=v)
    return shown(e, "bp_low") is not None


def p_map_low_high(v: float) -> bool:
    e = AlarmEngine()
    cuff(e, 120, 50, 0, mean=v)
    return shown(e, "bp_low") is Priority.HIGH


def p_sbp_fall_pct(v: float) -> bool:  # SBP v % below a baseline of 200 (MAP stays high)
    e = AlarmEngine()
    running(e, sys=200, dia=100)
    cuff(e, 200 * (1 - v / 100), 90, 10, mean=110)
    return shown(e, "bp_low") is not None


def p_bp_hysteresis(v: float) -> bool:  # after 165/80, a reading v below 160 ends it
    e = AlarmEngine()
    cuff(e, 165, 80, 0)
    cuff(e, 160 - v, 80, 600)
    return shown(e, "bp_high") is None


def p_hr_medium(v: float) -> bool:
    e = AlarmEngine(L.changed({"hr_over_baseline": 100}))
    stream(e, Metric.HR, v, L.hr_delay_s)
    return shown(e, "hr_high") is not None


def p_hr_high(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.HR, v, L.hr_delay_s)
    return shown(e, "hr_high") is Priority.HIGH


def p_hr_over_baseline(v: float) -> bool:  # baseline HR 60 + v, during an infusion
    e = AlarmEngine()
    running(e, hr=60)
    stream(e, Metric.HR, 60 + v, L.hr_delay_s, start=1)
    return shown(e, "hr_high") is not None


def p_hr_delay_s(v: float) -> bool:  # HR 130 for v s
    e = AlarmEngine()
    stream(e, Metric.HR, 130, v)
    return shown(e, "hr_high") is not None


def p_hr_low(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.HR, v, L.hr_delay_s)
    return shown(e, "hr_low") is not None


def p_hr_low_high(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.HR, v, L.hr_low_high_delay_s)
    return shown(e, "hr_low") is Priority.HIGH


def p_hr_low_high_delay_s(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.HR, 35, v)
    return shown(e, "hr_low") is Priority.HIGH


def p_hr_hysteresis(v: float) -> bool:  # after HR 130, HR 120 − v ends it
    e = AlarmEngine()
    stream(e, Metric.HR, 130, L.hr_delay_s)
    e.observe(vital(Metric.HR, 120 - v, 100), at(100))
    return shown(e, "hr_high") is None


def p_spo2_medium(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.SPO2, v, 120)
    return shown(e, "spo2_low") is not None


def p_spo2_high(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.SPO2, v, 120)
    return shown(e, "spo2_low") is Priority.HIGH


def p_spo2_satseconds(v: float) -> bool:  # 2 % below 90 for v / 2 s: v %·s
    e = AlarmEngine()
    e.observe(vital(Metric.SPO2, 97, 0), at(0))
    for i in range(1, int(v) + 1):  # a reading each 0.5 s: each adds 2 × 0.5 = 1 %·s
        e.observe(vital(Metric.SPO2, 88, 0.5 * i), at(0.5 * i))
    return shown(e, "spo2_low") is not None


def p_spo2_hysteresis(v: float) -> bool:  # after 85 %, 90 + v ends it
    e = AlarmEngine()
    stream(e, Metric.SPO2, 86, 30)
    e.observe(vital(Metric.SPO2, 90 + v, 31), at(31))
    return shown(e, "spo2_low") is None


def p_rr_low(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.RESP_RATE, v, L.rr_delay_s)
    return shown(e, "rr_low") is not None


def p_rr_delay_s(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.RESP_RATE, 6, v)
    return shown(e, "rr_low") is not None


def p_apnoea_s(v: float) -> bool:  # RR 0 from 0 s, the engine asked at v s
    e = AlarmEngine()
    e.observe(vital(Metric.RESP_RATE, 0, 0), at(0))
    e.tick(at(v))
    return shown(e, "apnoea") is not None


def p_etco2_apnoea(v: float) -> bool:  # EtCO2 v for the apnoea time: no breath?
    e = AlarmEngine()
    stream(e, Metric.ETCO2, v, L.apnoea_s)
    return shown(e, "apnoea") is not None


def p_etco2_high(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.ETCO2, v, L.etco2_delay_s)
    return shown(e, "etco2_high") is not None


def p_etco2_delay_s(v: float) -> bool:
    e = AlarmEngine()
    stream(e, Metric.ETCO2, 60, v)
    return shown(e, "etco2_high") is not None


def p_sensor_delay_s(v: float) -> bool:
    e = AlarmEngine()
    e.observe(DeviceConditions("monitor", frozenset({Condition.NO_SENSOR}), at(0)), at(0))
    e.tick(at(v))
    return shown(e, "sensor") is not None


def pump(e: AlarmEngine, t: float, state: PumpState, rate: float = 50) -> None:
    e.observe(PumpReading("pump", at(t), state, "1", rate, 10, 100), at(t))


def p_pump_stopped_s(v: float) -> bool:
    e = AlarmEngine()
    pump(e, 0, PumpState.INFUSING)
    pump(e, 1, PumpState.PAUSED)
    e.tick(at(1 + v))
    return shown(e, "pump_stopped") is not None


def p_pump_rate_tolerance(v: float) -> bool:  # the pump runs v × 50 mL/h off the 50 expected
    e = AlarmEngine()
    running(e)
    for t in range(1, 4):
        pump(e, t, PumpState.INFUSING, 50 + 50 * v)
    return shown(e, "pump_rate") is not None


def p_pump_rate_readings(v: float) -> bool:  # v mismatching readings in a row
    e = AlarmEngine()
    running(e)
    for t in range(1, int(v) + 1):
        pump(e, t, PumpState.INFUSING, 80)
    return shown(e, "pump_rate") is not None


def p_no_tablet_s(v: float) -> bool:
    e = AlarmEngine()
    running(e)
    e.observe(TabletCount(0, at(0)), at(0))
    e.tick(at(v))
    return shown(e, "no_tablet") is not None


def p_reminder_s(v: float) -> bool:  # acknowledged at 0, still present at v: sounds again
    e = AlarmEngine()
    [raised] = [
        o
        for o in e.observe(AvailabilityChange("monitor", Availability.STALE, at(0)), at(0))
        if isinstance(o, AlarmTransition)
    ]
    e.acknowledge(raised.alarm.id, "nurse", at(0))
    e.tick(at(v))
    return e.active()[0].signal is SignalState.ON


def p_escalate_s(v: float) -> bool:
    e = AlarmEngine()
    e.observe(AvailabilityChange("monitor", Availability.STALE, at(0)), at(0))
    e.tick(at(v))
    return e.active()[0].escalated


def p_audio_pause_max_s(v: float) -> bool:  # a pause asked for 600 s has ended at v
    e = AlarmEngine()
    e.observe(AvailabilityChange("monitor", Availability.STALE, at(0)), at(0))
    e.pause_audio("sitter", at(0), 600)
    out = e.tick(at(v))
    return any(isinstance(o, OperatorAction) and o.action == "audio_resumed" for o in out)


@dataclass(frozen=True)
class Edge:
    probe: Callable[[float], bool]
    #: The alarm happens when ``compare(value, limit)``.
    compare: Callable[[float, float], bool]
    step: float = 0.5


GE, GT, LT, LE = operator.ge, operator.gt, operator.lt, operator.le

EDGES: dict[str, Edge] = {
    "sbp_medium": Edge(p_sbp_medium, GE),
    "dbp_medium": Edge(p_dbp_medium, GE),
    "sbp_high": Edge(p_sbp_high, GE),
    "dbp_high": Edge(p_dbp_high, GE),
    "sbp_extreme": Edge(p_sbp_extreme, GE),
    "dbp_extreme": Edge(p_dbp_extreme, GE),
    "bp_high_min_gap_s": Edge(p_bp_high_min_gap_s, GE, 1),
    "bp_repeat_due_s": Edge(p_bp_repeat_due_s, GE, 1),
    "nibp_cycle_s": Edge(p_nibp_cycle_s, GE, 1),
    "bp_confirm_window_s": Edge(p_bp_confirm_window_s, LE, 1),
    "sbp_over_baseline": Edge(p_sbp_over_baseline, GE),
    "dbp_over_baseline": Edge(p_dbp_over_baseline, GE),
    "sbp_low": Edge(p_sbp_low, LT),
    "sbp_low_high": Edge(p_sbp_low_high, LT),
    "map_low": Edge(p_map_low, LT),
    "map_low_high": Edge(p_map_low_high, LT),
    "sbp_fall_pct": Edge(p_sbp_fall_pct, GE),
    "bp_hysteresis": Edge(p_bp_hysteresis, GT),
    "hr_medium": Edge(p_hr_medium, GT),
    "hr_high": Edge(p_hr_high, GT),
    "hr_over_baseline": Edge(p_hr_over_baseline, GT),
    "hr_low": Edge(p_hr_low, LT),
    "hr_low_high": Edge(p_hr_low_high, LT),
    "hr_delay_s": Edge(p_hr_delay_s, GE),
    "hr_low_high_delay_s": Edge(p_hr_low_high_delay_s, GE),
    "hr_hysteresis": Edge(p_hr_hysteresis, GE),
    "spo2_medium": Edge(p_spo2_medium, LT),
    "spo2_high": Edge(p_spo2_high, LT),
    "spo2_satseconds": Edge(p_spo2_satseconds, GE, 1),
    "spo2_hysteresis": Edge(p_spo2_hysteresis, GE, 0.25),
    "rr_low": Edge(p_rr_low, LT),
    "rr_delay_s": Edge(p_rr_delay_s, GE),
    "apnoea_s": Edge(p_apnoea_s, GE, 0.5),
    "etco2_apnoea": Edge(p_etco2_apnoea, LT),
    "etco2_high": Edge(p_etco2_high, GT),
    "etco2_delay_s": Edge(p_etco2_delay_s, GE),
    "sensor_delay_s": Edge(p_sensor_delay_s, GE),
    "pump_stopped_s": Edge(p_pump_stopped_s, GE),
    "pump_rate_tolerance": Edge(p_pump_rate_tolerance, GT, 0.01),
    "pump_rate_readings": Edge(p_pump_rate_readings, GE, 1),
    "no_tablet_s": Edge(p_no_tablet_s, GE),
    "reminder_s": Edge(p_reminder_s, GE),
    "escalate_s": Edge(p_escalate_s, GE),
    "audio_pause_max_s": Edge(p_audio_pause_max_s, GE),
}

#: Hysteresis probes ask "does it END", the others "does it alarm"; each probe's value is
#: compared with the limit's default.


def cases() -> list[tuple[str, float, bool]]:
    out = []
    for name, edge in EDGES.items():
        limit = LIMITS[name].default
        for value in (limit, limit - edge.step, limit + edge.step):
            out.append((name, value, edge.compare(value, limit)))
    return out


def test_every_limit_has_an_edge_probe() -> None:
    assert set(EDGES) == set(LIMITS), "a limit without edge tests: add a probe to EDGES"


@pytest.mark.parametrize(("name", "value", "expected"), cases())
def test_limit_edge(name: str, value: float, expected: bool) -> None:
    assert EDGES[name].probe(value) is expected, (name, value, LIMITS[name].default)
