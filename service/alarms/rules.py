"""Rule evaluators: small state machines that decide whether a condition exists and at what
priority. Each returns a ``Verdict`` (or ``None`` for "no condition") and never reads a clock.

Continuous values (HR, RR) use a condition delay: the violation must last ``delay`` seconds of
valid readings. SpO2 uses a SatSeconds-style integral (Σ depth × seconds) with the "three
violations in 60 s" safety net. NIBP is discrete: one reading per cuff cycle, so a repeat
reading confirms instead of a time delay (docs/alarms.md).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from service.alarms.limits import Limits
from service.alarms.model import Priority


@dataclass(frozen=True, slots=True)
class Verdict:
    priority: Priority
    message: str


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


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


@dataclass(slots=True)
class SatSeconds:
    """Σ(limit − SpO2) × seconds below ``limit``; alarm at ``threshold`` or on three separate
    excursions below the limit within 60 s (Nellcor SatSeconds practice)."""

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
        elif value >= limit + hysteresis:
            self.below = False
            self.integral = 0.0
            self.active = False
        else:
            self.below = False  # back at the limit: the next dip is a new excursion
        return self.active


class HeartRateRule:
    def __init__(self) -> None:
        self.medium = DelayedLimit(above=True)
        self.high = DelayedLimit(above=True)
        self.low = DelayedLimit(above=False)

    def tachycardia(self, hr: float, label: str, lim: Limits, now: datetime) -> Verdict | None:
        high = self.high.update(hr, lim.hr_high, lim.hr_hysteresis, lim.hr_delay_s, now)
        medium = self.medium.update(hr, lim.hr_medium, lim.hr_hysteresis, lim.hr_delay_s, now)
        if high:
            return Verdict(Priority.HIGH, f"{label} {_fmt(hr)} > {_fmt(lim.hr_high)}")
        if medium:
            return Verdict(Priority.MEDIUM, f"{label} {_fmt(hr)} > {_fmt(lim.hr_medium)}")
        return None

    def bradycardia(self, hr: float, label: str, lim: Limits, now: datetime) -> Verdict | None:
        if self.low.update(hr, lim.hr_low, lim.hr_hysteresis, lim.hr_delay_s, now):
            return Verdict(Priority.MEDIUM, f"{label} {_fmt(hr)} < {_fmt(lim.hr_low)}")
        return None


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
            return Verdict(Priority.HIGH, f"SpO2 {_fmt(spo2)} < {_fmt(lim.spo2_high)}")
        if medium:
            return Verdict(Priority.MEDIUM, f"SpO2 {_fmt(spo2)} < {_fmt(lim.spo2_medium)}")
        return None


@dataclass(slots=True)
class CuffReading:
    at: datetime
    sys: float | None = None
    dia: float | None = None
    level: int = 0  # 0 normal, 1 elevated, 2 severe, 3 extreme; -1 in the hysteresis band


class BloodPressureRule:
    """Discrete NIBP readings; confirmation by a repeat reading (alarm reference §5).

    * a single reading ≥ ``sbp_extreme``/``dbp_extreme``: HIGH at once;
    * ≥ ``sbp_high``/``dbp_high`` on two readings at least ``bp_high_min_gap_s`` apart: HIGH;
      a single such reading: MEDIUM ("repeat NIBP");
    * ≥ ``sbp_medium``/``dbp_medium`` (or SBP above baseline + ``sbp_over_baseline``) confirmed by
      the next reading within ``bp_confirm_window_s``: MEDIUM; unconfirmed: LOW ("repeat NIBP");
    * a reading below every limit by ``bp_hysteresis`` ends the condition.
    """

    def __init__(self) -> None:
        self.history: list[CuffReading] = []
        self.baseline_sys: float | None = None

    def update(
        self, at: datetime, sys: float | None, dia: float | None, lim: Limits
    ) -> tuple[bool, Verdict | None]:
        """``(decided, verdict)``: ``decided`` is False inside the hysteresis band (no change);
        otherwise ``verdict`` is the condition, or ``None`` when it has ended."""
        if self.history and self.history[-1].at == at:
            reading = self.history[-1]  # the diastolic of the same measurement arrived
        else:
            reading = CuffReading(at)
            self.history.append(reading)
            del self.history[:-10]
        if sys is not None:
            reading.sys = sys
        if dia is not None:
            reading.dia = dia
        reading.level = self._level(reading, lim)
        if reading.level < 0:
            return False, None
        if reading.level == 0:
            return True, None
        return True, self._verdict(reading, lim)

    def _level(self, r: CuffReading, lim: Limits) -> int:
        s, d = r.sys, r.dia

        def at_least(sv: float, dv: float) -> bool:
            return (s is not None and s >= sv) or (d is not None and d >= dv)

        if at_least(lim.sbp_extreme, lim.dbp_extreme):
            return 3
        if at_least(lim.sbp_high, lim.dbp_high):
            return 2
        over_baseline = (
            self.baseline_sys is not None
            and s is not None
            and s >= self.baseline_sys + lim.sbp_over_baseline
        )
        if at_least(lim.sbp_medium, lim.dbp_medium) or over_baseline:
            return 1
        h = lim.bp_hysteresis
        baseline_band = (
            self.baseline_sys is not None
            and s is not None
            and s > self.baseline_sys + lim.sbp_over_baseline - h
        )
        if at_least(lim.sbp_medium - h, lim.dbp_medium - h) or baseline_band:
            return -1
        return 0

    def _verdict(self, r: CuffReading, lim: Limits) -> Verdict:
        text = self._message(r, lim)
        if r.level == 3:
            return Verdict(Priority.HIGH, text)
        earlier = self._confirming(r, lim)
        if r.level == 2:
            severe = [
                e
                for e in earlier
                if e.level >= 2 and (r.at - e.at).total_seconds() >= lim.bp_high_min_gap_s
            ]
            if severe:
                return Verdict(Priority.HIGH, text)
            return Verdict(Priority.MEDIUM, text + " (repeat NIBP)")
        if earlier:
            return Verdict(Priority.MEDIUM, text)
        return Verdict(Priority.LOW, text + " (repeat NIBP)")

    def _confirming(self, r: CuffReading, lim: Limits) -> list[CuffReading]:
        """Earlier readings of the same elevated run, each within the confirm window of the
        next."""
        out: list[CuffReading] = []
        later = r
        for e in reversed(self.history[:-1]):
            if e.level == 0 or (later.at - e.at).total_seconds() > lim.bp_confirm_window_s:
                break
            if e.level > 0:
                out.append(e)
            later = e
        return out

    def _message(self, r: CuffReading, lim: Limits) -> str:
        s, d = r.sys, r.dia
        pairs = [
            (lim.sbp_extreme, lim.dbp_extreme),
            (lim.sbp_high, lim.dbp_high),
            (lim.sbp_medium, lim.dbp_medium),
        ]
        for sl, dl in pairs:
            if s is not None and s >= sl:
                return f"SBP {_fmt(s)} ≥ {_fmt(sl)}"
            if d is not None and d >= dl:
                return f"DBP {_fmt(d)} ≥ {_fmt(dl)}"
        assert s is not None and self.baseline_sys is not None
        return f"SBP {_fmt(s)} ≥ baseline {_fmt(self.baseline_sys)} + {_fmt(lim.sbp_over_baseline)}"
