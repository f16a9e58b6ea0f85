"""The infusion pump: programmed from the session, volume accumulating while it infuses.

A pure function of simulator time. The programme (dose mg/kg × weight at a concentration, over a
duration) gives the rate and the volume to be infused (VTBI); scripted interruptions stop the flow
for a window and push the end of the infusion back by as long. Strings match ``PumpModelState``
(what the pump emulators encode): states "standby", "infusing", "paused", "kvo", "complete";
alarms "occlusion", "air", "door_open", "end_of_volume", "battery_low".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.model import PumpModelState

#: Interruptions that stop the flow (the pump halts and, except "pause", alarms).
STOPPING = ("pause", "occlusion", "air", "door_open")
#: Conditions the pump reports while it keeps infusing.
NON_STOPPING = ("battery_low",)
PUMP_EVENTS = STOPPING + NON_STOPPING


@dataclass(frozen=True, slots=True)
class PumpProgram:
    """What the nurse programs: the dose for this patient, diluted to ``concentration_mg_ml``."""

    dose_mg_kg: float = 0.5
    weight_kg: float = 75.0
    concentration_mg_ml: float = 0.5
    duration_s: float = 2400.0
    drug: str = "Ketamine"

    def __post_init__(self) -> None:
        if self.dose_mg_kg <= 0 or self.weight_kg <= 0 or self.concentration_mg_ml <= 0:
            raise ValueError("dose, weight and concentration must be positive")
        if self.duration_s <= 0:
            raise ValueError("the infusion needs a positive duration")

    @property
    def dose_mg(self) -> float:
        return self.dose_mg_kg * self.weight_kg

    @property
    def vtbi_ml(self) -> float:
        return self.dose_mg / self.concentration_mg_ml

    @property
    def rate_ml_h(self) -> float:
        return self.vtbi_ml / (self.duration_s / 3600.0)


@dataclass(frozen=True, slots=True)
class PumpEvent:
    """``kind`` over ``[start, start + duration)``: an interruption the nurse clears (and restarts
    the pump) when the window ends, or a condition such as a low battery."""

    kind: str
    start: float
    duration: float = 1e12

    def __post_init__(self) -> None:
        if self.kind not in PUMP_EVENTS:
            raise ValueError(f"unknown pump event {self.kind!r}; events: {PUMP_EVENTS}")

    def active(self, t: float) -> bool:
        return self.start <= t < self.start + self.duration


@dataclass(slots=True)
class PumpModel:
    program: PumpProgram
    start_s: float = 600.0
    events: list[PumpEvent] = field(default_factory=list)
    #: After the VTBI: keep-vein-open rate (0 = stop, state "complete").
    kvo_ml_h: float = 0.0
    #: How long the end-of-volume alarm sounds before the nurse silences it at the pump.
    end_alarm_s: float = 120.0
    #: When the nurse switches the completed pump off (to standby), after the end; ``None``: it
    #: stays "complete" (or KVO).
    cleared_after_s: float | None = None
    #: Flowing intervals, computed once: [(from, to)].
    _segments: list[tuple[float, float]] = field(default_factory=list, init=False)
    _rate: float = field(default=0.0, init=False)
    _vtbi: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._rate, self._vtbi = self.program.rate_ml_h, self.program.vtbi_ml
        stops = sorted(
            (e.start, e.start + e.duration)
            for e in self.events
            if e.kind in STOPPING and e.start + e.duration > self.start_s
        )
        needed, t = self.program.duration_s, self.start_s
        for a, b in stops:
            if needed <= 0:
                break
            if b <= t:
                continue
            if a > t:
                run = min(a - t, needed)
                self._segments.append((t, t + run))
                needed -= run
            t = max(t, b)
        if needed > 0:
            self._segments.append((t, t + needed))

    # The InfusionClock protocol (simulator.physiology): when the drug flows.

    @property
    def end_s(self) -> float:
        """When the VTBI is reached (later than planned by every interruption)."""
        return self._segments[-1][1]

    def infused_s(self, t: float) -> float:
        total = 0.0
        for a, b in self._segments:
            if t <= a:
                break
            total += (t if t < b else b) - a
        return total

    def volume_ml(self, t: float) -> float:
        volume = self._rate * self.infused_s(t) / 3600.0
        if self.kvo_ml_h > 0 and t > self.end_s:
            volume += self.kvo_ml_h * (t - self.end_s) / 3600.0
        return volume

    def state(self, t: float) -> PumpModelState:
        program = self.program
        alarms: set[str] = set()
        active = [e for e in self.events if e.active(t)] if self.events else []
        battery_low = any(e.kind == "battery_low" for e in active)
        if battery_low:
            alarms.add("battery_low")
        rate = self._rate
        if t < self.start_s:
            state = "standby"
        elif t >= self.end_s:
            state = "kvo" if self.kvo_ml_h > 0 else "complete"
            rate = self.kvo_ml_h if self.kvo_ml_h > 0 else self._rate
            cleared = self.cleared_after_s
            if cleared is not None and t >= self.end_s + cleared:
                state = "standby"
            elif t < self.end_s + self.end_alarm_s:
                alarms.add("end_of_volume")
        elif any(e.kind in STOPPING for e in active):
            state = "paused"
            alarms |= {e.kind for e in active if e.kind in STOPPING and e.kind != "pause"}
        else:
            state = "infusing"
        return PumpModelState(
            rate_ml_h=round(rate, 2),
            volume_infused_ml=self.volume_ml(t),
            vtbi_ml=round(self._vtbi, 2),
            drug=program.drug,
            concentration=f"{program.concentration_mg_ml:g} mg/mL",
            state=state,
            alarms=alarms,
            battery_low=battery_low,
        )
