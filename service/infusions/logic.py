"""The rules of an infusion session, as pure functions: time is passed in, nothing is stored.

Every function here is tested with plain datetimes (tests/infusions/test_logic.py); the manager
feeds them what the database and the alarm engine know.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import fmean


class Phase(StrEnum):
    BASELINE = "baseline"
    INFUSION = "infusion"
    RECOVERY = "recovery"
    ENDED = "ended"


class NoteKind(StrEnum):
    """The sitter's quick buttons, plus free text (``other``)."""

    NAUSEA = "nausea"
    ANXIETY = "anxiety"
    ANTIEMETIC_GIVEN = "antiemetic_given"
    ASLEEP = "asleep"
    DISSOCIATION = "dissociation"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Rules:
    """Clinic defaults (reference alarms.md §5); the medical director may change them."""

    #: Pre-start gate: a baseline above either value needs a nurse's override with a reason.
    gate_sys: float = 140.0
    gate_dia: float = 90.0
    #: Cuff readings needed for a baseline (and for the gate to pass without an override).
    baseline_readings: int = 2
    #: Discharge: at least this long after the infusion ended ...
    min_recovery: timedelta = timedelta(minutes=30)
    #: ... with the last cuff reading at most this far above baseline.
    discharge_sys_margin: float = 20.0
    discharge_dia_margin: float = 10.0
    #: Pump cross-check: relative rate difference tolerated, and how many pump readings in a
    #: row must exceed it (one odd reading during a rate change is not a fault).


# -- dose and rate -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bound:
    """The clinically plausible range of one plan field (docs/infusions.md, "Input ranges")."""

    low: float
    high: float
    unit: str


#: Ranges a plan must lie in. Wide enough for every ketamine protocol in use (0.5–1 mg/kg over
#: ~40 min is typical; up to 2 mg/kg in some protocols), narrow enough that every derived value
#: is finite and plausible: a weight from a premature baby to the heaviest adult, a bag from a
#: dilute 0.1 mg/mL to the 100 mg/mL vial, an infusion from 1 min to 10 h.
PLAN_BOUNDS: dict[str, Bound] = {
    "weight_kg": Bound(2.0, 400.0, "kg"),
    "dose_mg_per_kg": Bound(0.01, 5.0, "mg/kg"),
    "concentration_mg_ml": Bound(0.1, 100.0, "mg/mL"),
    "duration_min": Bound(1.0, 600.0, "min"),
}


def plan_problems(values: Mapping[str, object]) -> list[str]:
    """What is wrong with a plan's numbers (empty: nothing). Never raises: a stored row may
    hold anything (text, NULL, NaN, a denormal)."""
    problems = []
    for name, bound in PLAN_BOUNDS.items():
        value = values.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{name} is not a number ({value!r})")
        elif not math.isfinite(value):
            problems.append(f"{name} is not finite ({value!r})")
        elif not bound.low <= value <= bound.high:
            problems.append(f"{name} {value:g} outside {bound.low:g}–{bound.high:g} {bound.unit}")
    return problems


@dataclass(frozen=True, slots=True)
class Plan:
    """The nurse's plan. Its derived values are ``None`` when the plan is out of range (a
    damaged stored record): they are never infinite or NaN."""

    weight_kg: float
    dose_mg_per_kg: float
    concentration_mg_ml: float
    duration_min: float

    @property
    def problems(self) -> list[str]:
        return plan_problems(
            {
                "weight_kg": self.weight_kg,
                "dose_mg_per_kg": self.dose_mg_per_kg,
                "concentration_mg_ml": self.concentration_mg_ml,
                "duration_min": self.duration_min,
            }
        )

    @property
    def dose_mg(self) -> float | None:
        if self.problems:
            return None
        return self.dose_mg_per_kg * self.weight_kg

    @property
    def vtbi_ml(self) -> float | None:
        """Volume to be infused: the whole dose at the bag's concentration."""
        dose = self.dose_mg
        return None if dose is None else dose / self.concentration_mg_ml

    @property
    def rate_ml_h(self) -> float | None:
        """Constant rate that delivers the dose over the planned duration."""
        vtbi = self.vtbi_ml
        return None if vtbi is None else vtbi / (self.duration_min / 60.0)


# -- readings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored vital reading (metric names as in ``drivers.readings.Metric``)."""

    metric: str
    value: float
    at: datetime


@dataclass(frozen=True, slots=True)
class Cuff:
    """One NIBP measurement: systolic and diastolic share the cuff's measurement time."""

    sys: float
    dia: float
    at: datetime


def cuffs(samples: Iterable[Sample]) -> list[Cuff]:
    """Pair ``nibp_sys`` with ``nibp_dia`` of the same measurement time, oldest first."""
    sys: dict[datetime, float] = {}
    dia: dict[datetime, float] = {}
    for s in samples:
        if s.metric == "nibp_sys":
            sys[s.at] = s.value
        elif s.metric == "nibp_dia":
            dia[s.at] = s.value
    return [Cuff(sys[at], dia[at], at) for at in sorted(sys.keys() & dia.keys())]


@dataclass(frozen=True, slots=True)
class Baseline:
    sys: float
    dia: float
    hr: float | None
    readings: int


def baseline(samples: Sequence[Sample], rules: Rules = Rules()) -> Baseline | None:
    """Mean of the baseline-phase cuff readings (and of HR over the same phase); ``None`` with
    fewer than ``rules.baseline_readings`` cuff readings. A plain mean: the clinic takes two or
    three readings at rest, so there is nothing to weight or trim."""
    found = cuffs(samples)
    if len(found) < rules.baseline_readings:
        return None
    hr = [s.value for s in samples if s.metric == "hr"]
    return Baseline(
        round(fmean(c.sys for c in found), 1),
        round(fmean(c.dia for c in found), 1),
        round(fmean(hr), 1) if hr else None,
        len(found),
    )


# -- the pre-start gate --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gate:
    ok: bool
    reasons: tuple[str, ...] = ()


def check_gate(found: Baseline | None, rules: Rules = Rules()) -> Gate:
    """May the infusion start without an override? Needs a baseline at or under the gate."""
    if found is None:
        return Gate(False, (f"fewer than {rules.baseline_readings} baseline cuff readings",))
    reasons = []
    if found.sys > rules.gate_sys:
        reasons.append(f"baseline SBP {found.sys:g} > {rules.gate_sys:g}")
    if found.dia > rules.gate_dia:
        reasons.append(f"baseline DBP {found.dia:g} > {rules.gate_dia:g}")
    return Gate(not reasons, tuple(reasons))


# -- discharge -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class DischargeCheck:
    ready: bool
    criteria: tuple[Criterion, ...]


def _recovery_time(ended: datetime | None, now: datetime, rules: Rules) -> Criterion:
    if ended is None:
        return Criterion("recovery_time", False, "the infusion has not ended")
    waited = now - ended
    need = rules.min_recovery
    minutes = waited.total_seconds() / 60
    if waited >= need:
        return Criterion("recovery_time", True, f"{minutes:.0f} min since the infusion ended")
    left = (need - waited).total_seconds() / 60
    return Criterion("recovery_time", False, f"{minutes:.0f} min of recovery, {left:.0f} min left")


def _bp_back(base: Baseline | None, last: Cuff | None, rules: Rules) -> Criterion:
    if base is None:
        return Criterion("bp_near_baseline", False, "no baseline recorded")
    if last is None:
        return Criterion("bp_near_baseline", False, "no cuff reading since the infusion ended")
    max_sys = base.sys + rules.discharge_sys_margin
    max_dia = base.dia + rules.discharge_dia_margin
    text = f"last BP {last.sys:g}/{last.dia:g}, allowed up to {max_sys:g}/{max_dia:g}"
    return Criterion("bp_near_baseline", last.sys <= max_sys and last.dia <= max_dia, text)


def _no_alarms(shown: Sequence[str]) -> Criterion:
    if not shown:
        return Criterion("no_alarms", True, "no alarm shown")
    return Criterion("no_alarms", False, "alarm shown: " + "; ".join(shown))


def check_discharge(
    base: Baseline | None,
    infusion_ended: datetime | None,
    last_cuff: Cuff | None,
    shown_alarms: Sequence[str],
    now: datetime,
    rules: Rules = Rules(),
) -> DischargeCheck:
    """Ready when every criterion holds. ``last_cuff`` must be taken after the infusion ended:
    a reading from during the infusion says nothing about recovery."""
    if last_cuff is not None and (infusion_ended is None or last_cuff.at < infusion_ended):
        last_cuff = None
    criteria = (
        _recovery_time(infusion_ended, now, rules),
        _bp_back(base, last_cuff, rules),
        _no_alarms(shown_alarms),
    )
    return DischargeCheck(all(c.ok for c in criteria), criteria)


# -- summary -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Peak:
    value: float
    at: datetime


@dataclass(frozen=True, slots=True)
class Summary:
    planned_dose_mg: float | None
    planned_volume_ml: float | None
    expected_rate_ml_h: float | None
    volume_delivered_ml: float | None
    dose_delivered_mg: float | None
    baseline: Baseline | None
    peaks: dict[str, Peak] = field(default_factory=dict)


PEAK_METRICS = ("nibp_sys", "nibp_dia", "hr")


def peaks(samples: Iterable[Sample]) -> dict[str, Peak]:
    """Highest value of SBP, DBP and HR with its time (the first time if repeated)."""
    best: dict[str, Peak] = {}
    for s in samples:
        if s.metric in PEAK_METRICS and (s.metric not in best or s.value > best[s.metric].value):
            best[s.metric] = Peak(s.value, s.at)
    return best


def summarize(
    plan: Plan,
    base: Baseline | None,
    samples: Iterable[Sample],
    volume_infused_ml: float | None,
) -> Summary:
    """``volume_infused_ml`` is the pump's last reported total (``None`` without a pump)."""
    delivered = None
    if volume_infused_ml is not None and not plan.problems:
        delivered = volume_infused_ml * plan.concentration_mg_ml
    return Summary(
        _round(plan.dose_mg),
        _round(plan.vtbi_ml),
        _round(plan.rate_ml_h),
        volume_infused_ml,
        None if delivered is None else round(delivered, 2),
        base,
        peaks(samples),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# -- pump cross-check ----------------------------------------------------------------------


# -- the session record --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One infusion session as the manager holds it (``tables.InfusionSessionRow`` on disk)."""

    id: int
    bed: str
    patient: str  # pseudonymous identifier; the name is never held here
    drug: str
    plan: Plan
    phase: Phase
    created_at: datetime
    created_by: str
    started_at: datetime | None = None
    started_by: str | None = None
    infusion_ended_at: datetime | None = None
    infusion_ended_by: str | None = None
    baseline: Baseline | None = None
    gate_override_reason: str | None = None
    gate_override_by: str | None = None
    discharged_at: datetime | None = None
    discharged_by: str | None = None
    discharge_override_reason: str | None = None
    #: Set when the stored record is damaged (an old database, a hand edit): what is wrong.
    #: Such a record is shown with this error and never breaks anything else.
    problem: str | None = None

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """Readings, alarms and audit entries in this window belong to the session."""
        return self.created_at, self.discharged_at or now


@dataclass(frozen=True, slots=True)
class Note:
    session_id: int
    at: datetime
    user: str
    kind: NoteKind
    text: str


# -- alarms of a session -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One row of the alarm log (``alarm_log``), reduced to what a session report needs."""

    alarm_id: str
    key: str
    priority: str
    message: str
    event: str
    at: datetime
    started_at: datetime
    user: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmEpisode:
    alarm_id: str
    key: str
    priority: str
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ended_at: datetime | None = None

    @property
    def response_s(self) -> float | None:
        """Acknowledgement time − raise time (``None`` if nobody acknowledged)."""
        if self.acknowledged_at is None:
            return None
        return (self.acknowledged_at - self.raised_at).total_seconds()


#: Alarm-log events that count as a human response (accepting responsibility acknowledges).
RESPONSES = ("acknowledged", "responsibility_accepted")


def episodes(events: Iterable[AlarmEvent]) -> list[AlarmEpisode]:
    """One episode per alarm id, in the order raised; the first human response is kept."""
    found: dict[str, AlarmEpisode] = {}
    for e in sorted(events, key=lambda e: e.at):
        ep = found.get(e.alarm_id) or AlarmEpisode(
            e.alarm_id, e.key, e.priority, e.message, e.started_at
        )
        # Acknowledging a latched alarm ends it at once: that "ended" carries the user.
        human = e.event in RESPONSES or (e.event == "ended" and e.user is not None)
        if human and ep.acknowledged_at is None:
            ep = replace(ep, acknowledged_at=e.at, acknowledged_by=e.user)
        if e.event == "ended":
            ep = replace(ep, ended_at=e.at)
        elif e.event in ("raised", "escalated", "updated"):
            ep = replace(ep, priority=_higher(ep.priority, e.priority))
        found[e.alarm_id] = ep
    return sorted(found.values(), key=lambda ep: ep.raised_at)


_ORDER = {"low": 1, "medium": 2, "high": 3}


def _higher(a: str, b: str) -> str:
    return a if _ORDER.get(a, 0) >= _ORDER.get(b, 0) else b
