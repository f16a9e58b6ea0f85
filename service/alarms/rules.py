"""Rule evaluators: small state machines that decide whether a condition exists and at what
priority. Each returns a ``Verdict`` (or ``None`` for "no condition") and never reads a clock.

Continuous values (HR, RR) use a condition delay: the violation must last ``delay`` seconds of
valid readings. SpO2 uses a SatSeconds-style integral (Σ depth × seconds) with the "three
violations in 60 s" safety net. NIBP is discrete: one reading per cuff cycle, so a repeat
reading confirms instead of a time delay (docs/alarms.md).
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from service.alarms.limits import Limits
from service.alarms.model import Priority


@dataclass(frozen=True, slots=True)
class Verdict:
    priority: Priority
    message: str


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "≥": operator.ge,
    "≤": operator.le,
}


def _limit_text(limit: float) -> str:
    text = _fmt(limit)
    return text if float(text) == limit else f"{limit:g}"


def value_text(value: float, op: str, limit: float) -> str:
    """``value`` as a monitor shows it (whole numbers, one decimal when there is one), with more
    decimals when the rounded text would not read as violating ``limit``: 97.96 against a
    limit of 98 is "97.96", never "98" (which would read "SpO2 98 < 98")."""
    holds = _COMPARE[op]
    shown = float(_limit_text(limit))
    text = _fmt(value)
    decimals = 0 if "." not in text else 1
    while not holds(float(text), shown) and decimals < 6:
        decimals += 1
        text = f"{value:.{decimals}f}"
    return text if holds(float(text), shown) else repr(value)


def compared(value: float, op: str, limit: float) -> str:
    """``"97.6 < 98"``: a value against the limit it violates, as text that reads true."""
    return f"{value_text(value, op, limit)} {op} {_limit_text(limit)}"


def condition_text(label: str, value: float, op: str, limit: float, hysteresis: float) -> str:
    """The message of a limit condition: ``"SpO2 88 < 90"`` while the value violates the limit;
    inside the hysteresis band (the condition lasts until the value is ``hysteresis`` back
    inside) ``"SpO2 90.5, alarm until ≥ 91"``, never a comparison that reads false."""
    if _COMPARE[op](value, limit):
        return f"{label} {compared(value, op, limit)}"
    end = limit + hysteresis if op == "<" else limit - hysteresis
    until = "≥" if op == "<" else "≤"
    return f"{label} {value_text(value, op, end)}, alarm until {until} {_limit_text(end)}"


@dataclass(slots=True)
class DelayedLimit:
    """``value > limit`` (or ``<``) sustained for ``delay`` s; ends inside the hysteresis band."""

    above: bool
    since: datetime | None = None
    active: bool = False

    def update(
        self, value: float, limit: float, hysteresis: float, delay: float, now: datetime
    ) -> bool:
        violating = value > limit if self.above else value < limit
        recovered = value <= limit - hysteresis if self.above else value >= limit + hysteresis
        if violating:
            if self.since is None:
                self.since = now
            if (now - self.since).total_seconds() >= delay:
                self.active = True
        elif recovered:
            self.since = None
            self.active = False
        return self.active

    def shift(self, delta: timedelta) -> None:
        """The wall clock stepped by ``delta``: keep the delay's length (AlarmEngine.shift_time)."""
        if self.since is not None:
            self.since += delta


@dataclass(slots=True)
class SatSeconds:
    """Σ(limit − SpO2) × seconds below ``limit``; alarm at ``threshold`` or on three separate
    excursions below the limit within 60 s (Nellcor SatSeconds practice). While SpO2 is back at
    or above the limit the total drains — by (SpO2 − limit) × seconds, at least 1 %·s a second —
    as the monitors' own SatSeconds do, so brief dips a minute apart do not add up forever."""

    integral: float = 0.0
    below: bool = False
    active: bool = False
    excursions: deque[datetime] = field(default_factory=deque)

    def update(
        self,
        value: float,
        limit: float,
        hysteresis: float,
        threshold: float,
        dt: float,
        now: datetime,
    ) -> bool:
        if value < limit:
            if not self.below:
                self.below = True
                self.excursions.append(now)
            self.integral += (limit - value) * dt
            while self.excursions and (now - self.excursions[0]).total_seconds() > 60:
                self.excursions.popleft()
            if self.integral >= threshold or len(self.excursions) >= 3:
                self.active = True
            return self.active
        self.below = False  # back at the limit: the next dip is a new excursion
        self.integral = max(0.0, self.integral - max(1.0, value - limit) * dt)
        if value >= limit + hysteresis:
            self.active = False
        return self.active

    def shift(self, delta: timedelta) -> None:
        self.excursions = deque(t + delta for t in self.excursions)


class HeartRateRule:
    def __init__(self) -> None:
        self.medium = DelayedLimit(above=True)
        self.high = DelayedLimit(above=True)
        self.rise = DelayedLimit(above=True)
        self.low = DelayedLimit(above=False)
        self.low_high = DelayedLimit(above=False)

    def tachycardia(
        self, hr: float, label: str, lim: Limits, now: datetime, baseline: float | None = None
    ) -> Verdict | None:
        high = self.high.update(hr, lim.hr_high, lim.hr_hysteresis, lim.hr_delay_s, now)
        medium = self.medium.update(hr, lim.hr_medium, lim.hr_hysteresis, lim.hr_delay_s, now)
        rise = False
        if baseline is not None:
            limit = baseline + lim.hr_over_baseline
            rise = self.rise.update(hr, limit, lim.hr_hysteresis, lim.hr_delay_s, now)
        else:
            self.rise = DelayedLimit(above=True)
        if high:
            text = condition_text(label, hr, ">", lim.hr_high, lim.hr_hysteresis)
            return Verdict(Priority.HIGH, text)
        if medium:
            text = condition_text(label, hr, ">", lim.hr_medium, lim.hr_hysteresis)
            return Verdict(Priority.MEDIUM, text)
        if rise and baseline is not None:
            over = _limit_text(lim.hr_over_baseline)
            base = _limit_text(baseline)
            shown = value_text(hr, ">", baseline + lim.hr_over_baseline)
            return Verdict(Priority.MEDIUM, f"{label} {shown} > baseline {base} + {over}")
        return None

    def bradycardia(self, hr: float, label: str, lim: Limits, now: datetime) -> Verdict | None:
        severe = self.low_high.update(
            hr, lim.hr_low_high, lim.hr_hysteresis, lim.hr_low_high_delay_s, now
        )
        low = self.low.update(hr, lim.hr_low, lim.hr_hysteresis, lim.hr_delay_s, now)
        if severe:
            text = condition_text(label, hr, "<", lim.hr_low_high, lim.hr_hysteresis)
            return Verdict(Priority.HIGH, text)
        if low:
            text = condition_text(label, hr, "<", lim.hr_low, lim.hr_hysteresis)
            return Verdict(Priority.MEDIUM, text)
        return None

    def shift(self, delta: timedelta) -> None:
        for rule in (self.medium, self.high, self.rise, self.low, self.low_high):
            rule.shift(delta)


class SpO2Rule:
    def __init__(self) -> None:
        self.medium = SatSeconds()
        self.high = SatSeconds()
        self._last: datetime | None = None

    def update(self, spo2: float, lim: Limits, now: datetime) -> Verdict | None:
        # Sample-and-hold: this value stands for the time since the previous reading (at most
        # 5 s, so a gap in the data never inflates the integral).
        dt = 1.0 if self._last is None else min(5.0, (now - self._last).total_seconds())
        self._last = now
        hyst, sat = lim.spo2_hysteresis, lim.spo2_satseconds
        high = self.high.update(spo2, lim.spo2_high, hyst, sat, dt, now)
        medium = self.medium.update(spo2, lim.spo2_medium, hyst, sat, dt, now)
        if high:
            text = condition_text("SpO2", spo2, "<", lim.spo2_high, hyst)
            return Verdict(Priority.HIGH, text)
        if medium:
            text = condition_text("SpO2", spo2, "<", lim.spo2_medium, hyst)
            return Verdict(Priority.MEDIUM, text)
        return None

    def shift(self, delta: timedelta) -> None:
        self.medium.shift(delta)
        self.high.shift(delta)
        if self._last is not None:
            self._last += delta


# -- blood pressure: one cuff measurement at a time ------------------------------------------


@dataclass(slots=True)
class Cuff:
    """One NIBP measurement: systolic, diastolic and mean taken together (one measurement time).
    ``level``: 0 normal, 1 elevated, 2 severe, 3 extreme; -1 in the hysteresis band."""

    at: datetime
    sys: float | None = None
    dia: float | None = None
    mean: float | None = None
    level: int = 0

    @property
    def map(self) -> float | None:
        """The measured mean, else the usual estimate (SBP + 2 × DBP) / 3."""
        if self.mean is not None:
            return self.mean
        if self.sys is not None and self.dia is not None:
            return (self.sys + 2 * self.dia) / 3
        return None

    def text(self) -> str:
        def n(v: float | None) -> str:
            return "-" if v is None else f"{v:g}"

        mean = f" ({n(self.mean)})" if self.mean is not None else ""
        return f"NIBP {n(self.sys)}/{n(self.dia)}{mean} at {self.at.isoformat()}"


@dataclass(frozen=True, slots=True)
class BpVerdict:
    """``decided`` is False inside the hysteresis band (no change); otherwise ``verdict`` is the
    condition, or ``None`` when it has ended. ``awaiting_repeat``: a single severe reading that a
    repeat must confirm (the runner times "repeat NIBP overdue" from it)."""

    decided: bool
    verdict: Verdict | None
    awaiting_repeat: bool = False


REPEAT_NOW = "repeat NIBP now"


class BloodPressureRule:
    """High blood pressure from whole cuff measurements; confirmation by a repeat (reference
    alarms §5):

    * a single reading ≥ ``sbp_extreme``/``dbp_extreme``: HIGH at once;
    * ≥ ``sbp_high``/``dbp_high``: MEDIUM "repeat NIBP now"; a repeat still ≥ ``sbp_high``/
      ``dbp_high`` at least ``bp_high_min_gap_s`` after an earlier one of the same run: HIGH;
    * ≥ ``sbp_medium``/``dbp_medium`` (or above the baseline by ``sbp_over_baseline``/
      ``dbp_over_baseline``) confirmed by the next reading within ``bp_confirm_window_s``:
      MEDIUM; unconfirmed: LOW ("repeat NIBP");
    * a reading below every limit by ``bp_hysteresis`` ends the condition.
    """

    def __init__(self) -> None:
        self.history: list[Cuff] = []
        self.baseline_sys: float | None = None
        self.baseline_dia: float | None = None

    def update(self, cuff: Cuff, lim: Limits) -> BpVerdict:
        self.history.append(cuff)
        del self.history[:-10]
        cuff.level = self._level(cuff, lim)
        if cuff.level < 0:
            return BpVerdict(False, None)
        if cuff.level == 0:
            return BpVerdict(True, None)
        return self._verdict(cuff, lim)

    def _over_baseline(self, s: float | None, d: float | None, lim: Limits, band: float) -> bool:
        bs, bd = self.baseline_sys, self.baseline_dia
        return (bs is not None and s is not None and s > bs + lim.sbp_over_baseline - band) or (
            bd is not None and d is not None and d > bd + lim.dbp_over_baseline - band
        )

    def _level(self, r: Cuff, lim: Limits) -> int:
        s, d = r.sys, r.dia

        def at_least(sv: float, dv: float) -> bool:
            return (s is not None and s >= sv) or (d is not None and d >= dv)

        if at_least(lim.sbp_extreme, lim.dbp_extreme):
            return 3
        if at_least(lim.sbp_high, lim.dbp_high):
            return 2
        bs, bd = self.baseline_sys, self.baseline_dia
        over = (bs is not None and s is not None and s >= bs + lim.sbp_over_baseline) or (
            bd is not None and d is not None and d >= bd + lim.dbp_over_baseline
        )
        if at_least(lim.sbp_medium, lim.dbp_medium) or over:
            return 1
        h = lim.bp_hysteresis
        if at_least(lim.sbp_medium - h, lim.dbp_medium - h) or self._over_baseline(s, d, lim, h):
            return -1
        return 0

    def _verdict(self, r: Cuff, lim: Limits) -> BpVerdict:
        text = self._message(r, lim)
        if r.level == 3:
            return BpVerdict(True, Verdict(Priority.HIGH, text))
        earlier = self._confirming(r, lim)
        if r.level == 2:
            severe = [
                e
                for e in earlier
                if e.level >= 2 and (r.at - e.at).total_seconds() >= lim.bp_high_min_gap_s
            ]
            if severe:
                return BpVerdict(True, Verdict(Priority.HIGH, f"{text} (confirmed by a repeat)"))
            return BpVerdict(True, Verdict(Priority.MEDIUM, f"{text}: {REPEAT_NOW}"), True)
        if earlier:
            return BpVerdict(True, Verdict(Priority.MEDIUM, text))
        return BpVerdict(True, Verdict(Priority.LOW, text + " (repeat NIBP)"))

    def _confirming(self, r: Cuff, lim: Limits) -> list[Cuff]:
        """Earlier readings of the same elevated run, each within the confirm window of the
        next."""
        out: list[Cuff] = []
        later = r
        for e in reversed(self.history[:-1]):
            if e.level == 0 or (later.at - e.at).total_seconds() > lim.bp_confirm_window_s:
                break
            if e.level > 0:
                out.append(e)
            later = e
        return out

    def _message(self, r: Cuff, lim: Limits) -> str:
        s, d = r.sys, r.dia
        pairs = [
            (lim.sbp_extreme, lim.dbp_extreme),
            (lim.sbp_high, lim.dbp_high),
            (lim.sbp_medium, lim.dbp_medium),
        ]
        for sl, dl in pairs:
            if s is not None and s >= sl:
                return f"SBP {compared(s, '≥', sl)}"
            if d is not None and d >= dl:
                return f"DBP {compared(d, '≥', dl)}"
        bs, bd = self.baseline_sys, self.baseline_dia
        if bs is not None and s is not None and s >= bs + lim.sbp_over_baseline:
            return _over_text("SBP", s, bs, lim.sbp_over_baseline)
        assert bd is not None and d is not None
        return _over_text("DBP", d, bd, lim.dbp_over_baseline)


def _over_text(label: str, value: float, baseline: float, over: float) -> str:
    base, by = _limit_text(baseline), _limit_text(over)
    shown = value_text(value, "≥", float(base) + float(by))
    return f"{label} {shown} ≥ baseline {base} + {by}"


class HypotensionRule:
    """Low blood pressure from one cuff measurement (no repeat awaited: a low pressure is acted
    on at once). HIGH: SBP < ``sbp_low_high`` or MAP < ``map_low_high``; MEDIUM: SBP <
    ``sbp_low``, MAP < ``map_low``, or SBP ``sbp_fall_pct`` % or more below the baseline. Ends
    when every value is ``bp_hysteresis`` back inside its limit."""

    def __init__(self) -> None:
        self.baseline_sys: float | None = None

    def update(self, r: Cuff, lim: Limits) -> tuple[bool, Verdict | None]:
        s, m = r.sys, r.map
        h = lim.bp_hysteresis
        fall_limit = (
            None if self.baseline_sys is None else self.baseline_sys * (1 - lim.sbp_fall_pct / 100)
        )
        if s is not None and s < lim.sbp_low_high:
            return True, Verdict(Priority.HIGH, f"SBP {compared(s, '<', lim.sbp_low_high)}")
        if m is not None and m < lim.map_low_high:
            return True, Verdict(Priority.HIGH, f"MAP {compared(m, '<', lim.map_low_high)}")
        if s is not None and s < lim.sbp_low:
            return True, Verdict(Priority.MEDIUM, f"SBP {compared(s, '<', lim.sbp_low)}")
        if m is not None and m < lim.map_low:
            return True, Verdict(Priority.MEDIUM, f"MAP {compared(m, '<', lim.map_low)}")
        if s is not None and fall_limit is not None and s <= fall_limit:
            base = _limit_text(self.baseline_sys or 0.0)
            pct = _limit_text(lim.sbp_fall_pct)
            return True, Verdict(
                Priority.MEDIUM,
                f"SBP {value_text(s, '≤', fall_limit)} is {pct} % or more below baseline {base}",
            )
        recovered = (s is None or s >= lim.sbp_low + h) and (m is None or m >= lim.map_low + h)
        if s is not None and fall_limit is not None:
            recovered = recovered and s >= fall_limit + h
        return (True, None) if recovered else (False, None)


class BreathRule:
    """Apnoea: no breath — RR 0, EtCO2 below ``etco2_apnoea``, or the monitor's own apnoea flag —
    for ``apnoea_s``. Each kind is timed from its first "no breath"; RR 0 or a flat capnogram
    counts only from the last breath another kind of evidence saw: a CO2 sampling line that
    slipped off the nose while the impedance RR still counts breaths is not apnoea. The
    monitor's flag counts by itself. It ends when every kind says breath again."""

    def __init__(self) -> None:
        self.since: dict[str, datetime] = {}
        self.what: dict[str, str] = {}
        self.breath: dict[str, datetime] = {}  # the last breath each kind saw

    def evidence(self, kind: str, breathing: bool, text: str, now: datetime) -> None:
        if breathing:
            self.since.pop(kind, None)
            self.what.pop(kind, None)
            if not kind.startswith("flag:"):
                self.breath[kind] = now
        else:
            self.since.setdefault(kind, now)
            self.what[kind] = text

    def _starts(self) -> dict[str, datetime]:
        """When each kind's "no breath" began to count."""
        out = {}
        for kind, since in self.since.items():
            start = since
            if not kind.startswith("flag:"):
                others = [t for k, t in self.breath.items() if k != kind]
                if others:
                    start = max(since, *others)
            out[kind] = start
        return out

    def verdict(self, lim: Limits, now: datetime) -> Verdict | None:
        starts = self._starts()
        lasting = [k for k, t in starts.items() if (now - t).total_seconds() >= lim.apnoea_s]
        if not lasting:
            return None
        why = ", ".join(self.what[k] for k in sorted(lasting))
        return Verdict(Priority.HIGH, f"Apnoea: no breath for ≥ {lim.apnoea_s:.0f} s ({why})")

    def deadline(self, lim: Limits) -> datetime | None:
        starts = self._starts()
        if not starts:
            return None
        return min(starts.values()) + timedelta(seconds=lim.apnoea_s)

    def shift(self, delta: timedelta) -> None:
        self.since = {k: t + delta for k, t in self.since.items()}
        self.breath = {k: t + delta for k, t in self.breath.items()}
