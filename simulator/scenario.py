"""Scenarios: what the emulated patient and pump do over time, and which faults happen when.

``ConstantScenario`` is the walking skeleton's steady patient; ``KetamineScenario`` plays a whole
infusion session from ``simulator.physiology`` (patient, cuff) and ``simulator.pump_model``;
``run_fast`` evaluates one without sleeping. Scenario files: ``simulator.scenario_files``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from simulator.devices.base import Fault
from simulator.episodes import Episode
from simulator.model import PumpModelState, Vitals
from simulator.physiology import (
    ArtefactRates,
    CuffModel,
    CuffReading,
    ForcedFailure,
    KetamineResponse,
    NibpSchedule,
    Patient,
    PatientModel,
    TrueState,
    VitalEvent,
    draw_clinic_patient,
)
from simulator.pump_model import PumpEvent, PumpModel, PumpProgram


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """``fault`` is active for simulator seconds ``start <= t < start + duration``."""

    fault: Fault
    start: float
    duration: float
    #: Device name ("monitor", "pump") the fault applies to; "" for every device.
    device: str = ""

    def active(self, t: float) -> bool:
        return self.start <= t < self.start + self.duration

    @classmethod
    def parse(cls, text: str) -> FaultWindow:
        """``FAULT@START[+DURATION][:DEVICE]``.

        Examples: ``unplug@30+20``, ``garbage@10+5:monitor``.
        """
        spec, _, device = text.partition(":")
        name, at, timing = spec.partition("@")
        try:
            fault = Fault(name.strip())
        except ValueError:
            known = ", ".join(f.value for f in Fault)
            raise ValueError(f"unknown fault {name!r}; known faults: {known}") from None
        if not at:
            raise ValueError(f"fault {text!r} needs a start time: FAULT@SECONDS[+DURATION]")
        start, _, duration = timing.partition("+")
        try:
            return cls(fault, float(start), float(duration) if duration else 1e12, device.strip())
        except ValueError:
            raise ValueError(
                f"bad fault timing in {text!r}: use FAULT@SECONDS[+DURATION]"
            ) from None


@dataclass(slots=True)
class ConstantScenario:
    """Steady vitals and an idle pump; faults from a list of windows."""

    vitals: Vitals = field(default_factory=Vitals)
    pump: PumpModelState = field(default_factory=PumpModelState)
    faults: list[FaultWindow] = field(default_factory=list)
    name: str = "constant"

    def state(self, t: float) -> tuple[Vitals, PumpModelState]:
        return self.vitals, self.pump

    def active_faults(self, t: float, device: str) -> set[Fault]:
        return {w.fault for w in self.faults if w.active(t) and w.device in ("", device)}


# ---------------------------------------------------------------------------------------------
# The ketamine session: patient, cuff and pump models on one timeline.


@dataclass(frozen=True, slots=True)
class SessionTimeline:
    """Baseline, infusion and recovery, in seconds; the session starts at t = 0."""

    baseline_s: float = 600.0
    infusion_s: float = 2400.0
    recovery_s: float = 6000.0

    @property
    def infusion_start_s(self) -> float:
        return self.baseline_s

    @property
    def total_s(self) -> float:
        return self.baseline_s + self.infusion_s + self.recovery_s


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """``[start, start + duration)`` in simulator seconds."""

    start: float
    duration: float

    def active(self, t: float) -> bool:
        return self.start <= t < self.start + self.duration


@dataclass(frozen=True, slots=True)
class PatientSpec:
    """What a scenario fixes about the patient; anything left ``None`` is drawn from the seed."""

    age: float | None = None
    weight_kg: float | None = None
    hypertension: bool | None = None
    #: Resting values (sbp, dbp, hr, spo2, resp_rate, etco2, perfusion_index) that override the
    #: ones drawn from age, weight and history.
    resting: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """Everything a scenario file says (simulator.scenario_files parses the TOML into this)."""

    name: str = "ketamine"
    description: str = ""
    patient: PatientSpec = field(default_factory=PatientSpec)
    #: ``None``: drawn from the clinic population with the patient.
    dose_mg_kg: float | None = None
    concentration_mg_ml: float = 0.5
    timeline: SessionTimeline = field(default_factory=SessionTimeline)
    #: Fixed values for fields of ``physiology.KetamineResponse`` (sbp, dbp, hr, peak_s, ...).
    response: dict[str, float] = field(default_factory=dict)
    nibp: NibpSchedule = field(default_factory=NibpSchedule)
    nibp_failures: tuple[ForcedFailure, ...] = ()
    artefacts: ArtefactRates = field(default_factory=ArtefactRates)
    vital_events: tuple[VitalEvent, ...] = ()
    pump_events: tuple[PumpEvent, ...] = ()
    kvo_ml_h: float = 0.0
    faults: tuple[FaultWindow, ...] = ()
    #: For the service-side tests: when the tablet's link should be cut (not simulated here).
    tablet_disconnected: TimeWindow | None = None
    #: The infusion's number in a series (1–6): severe rises concentrate in the first ones.
    infusion_number: int = 1
    #: The patient's own response scale over a series (``physiology.patient_scale``).
    response_scale: float = 1.0
    #: Clinical episodes (``simulator.episodes``): changes of the TRUE state.
    episodes: tuple[Episode, ...] = ()
    #: How long the pump's own end-of-volume alarm sounds, and when the nurse switches the
    #: completed pump to standby (``None``: it stays complete).
    pump_end_alarm_s: float = 120.0
    pump_cleared_after_s: float | None = None


class KetamineScenario:
    """A whole infusion session for the runner's ``Scenario`` protocol, deterministic per seed.

    ``state(t)`` is a pure function of ``t``: the patient model gives the continuous values, the
    cuff model the last completed NIBP reading, the pump model the pump; ``active_faults`` reads
    the scenario's fault windows (plus any added to ``faults``).
    """

    def __init__(self, config: ScenarioConfig | None = None, seed: int = 1) -> None:
        config = config or ScenarioConfig()
        self.config = config
        self.seed = seed
        self.name = config.name
        self.description = config.description
        self.timeline = config.timeline
        self.tablet_disconnected = config.tablet_disconnected
        self.faults: list[FaultWindow] = list(config.faults)
        rng = random.Random(seed)
        # Draw everything in a fixed order, then apply what the scenario fixes, so the same seed
        # gives the same noise whatever the file overrides.
        drawn, drawn_dose = draw_clinic_patient(rng)
        spec = config.patient
        specified = Patient.from_history(
            rng,
            age=drawn.age if spec.age is None else spec.age,
            weight_kg=drawn.weight_kg if spec.weight_kg is None else spec.weight_kg,
            hypertension=drawn.hypertension if spec.hypertension is None else spec.hypertension,
            **spec.resting,
        )
        patient = drawn if spec == PatientSpec() else specified
        self.patient = patient
        self.dose_mg_kg = drawn_dose if config.dose_mg_kg is None else config.dose_mg_kg
        response = KetamineResponse.draw(
            rng,
            patient,
            self.dose_mg_kg,
            self.timeline.infusion_s,
            infusion_number=config.infusion_number,
            scale=config.response_scale,
        )
        self.response = replace(response, **config.response) if config.response else response
        self.pump = PumpModel(
            PumpProgram(
                dose_mg_kg=self.dose_mg_kg,
                weight_kg=patient.weight_kg,
                concentration_mg_ml=config.concentration_mg_ml,
                duration_s=self.timeline.infusion_s,
            ),
            start_s=self.timeline.infusion_start_s,
            events=list(config.pump_events),
            kvo_ml_h=config.kvo_ml_h,
            end_alarm_s=config.pump_end_alarm_s,
            cleared_after_s=config.pump_cleared_after_s,
        )
        self.physiology = PatientModel(
            rng,
            patient,
            self.response,
            self.pump,
            events=list(config.vital_events),
            artefacts=config.artefacts,
            episodes=list(config.episodes),
        )
        self.cuff = CuffModel(
            rng.getrandbits(64), config.nibp, self.physiology, failures=list(config.nibp_failures)
        )

    def vitals(self, t: float) -> Vitals:
        s = self.physiology.sample(t)
        reading, measuring, failed = self.cuff.state(t)
        return Vitals(
            hr=s.hr,
            pulse_rate=s.pulse_rate,
            spo2=s.spo2,
            perfusion_index=s.perfusion_index,
            resp_rate=s.resp_rate,
            etco2_mmhg=s.etco2,
            nibp=None if reading is None else (reading.sbp, reading.dbp, reading.mean),
            nibp_at=None if reading is None else reading.end,
            nibp_measuring=measuring,
            nibp_failed=failed,
            sensor_off=s.sensor_off,
            low_signal_iq=s.low_signal_iq,
            low_perfusion=s.low_perfusion,
        )

    def state(self, t: float) -> tuple[Vitals, PumpModelState]:
        return self.vitals(t), self.pump.state(t)

    def truth(self, t: float) -> TrueState:
        """The patient's TRUE values at ``t`` (ground truth), apart from what devices measure."""
        return self.physiology.truth(t)

    def active_faults(self, t: float, device: str) -> set[Fault]:
        return {w.fault for w in self.faults if w.active(t) and w.device in ("", device)}

    def cuff_readings(self, until: float | None = None) -> list[CuffReading]:
        """Every cuff measurement started before ``until`` (default: the end of the session)."""
        return self.cuff.until(self.timeline.total_s if until is None else until)


@dataclass(slots=True)
class SessionTrace:
    """A session evaluated at fixed steps (fast mode): no sleeping, no ptys."""

    times: list[float]
    vitals: list[Vitals]
    pumps: list[PumpModelState]
    readings: list[CuffReading]
    step_s: float

    def longest(self, predicate: Callable[[Vitals, PumpModelState], bool]) -> float:
        """The longest stretch (seconds) over which ``predicate`` holds at every step."""
        best = run = 0
        for vitals, pump in zip(self.vitals, self.pumps, strict=True):
            run = run + 1 if predicate(vitals, pump) else 0
            best = max(best, run)
        return best * self.step_s


def run_fast(
    scenario: KetamineScenario, step_s: float = 1.0, until_s: float | None = None
) -> SessionTrace:
    """Evaluate a whole session (default 2.5 h) every ``step_s`` seconds, as fast as it computes."""
    end = scenario.timeline.total_s if until_s is None else until_s
    n = int(end / step_s) + 1
    times = [i * step_s for i in range(n)]
    vitals: list[Vitals] = []
    pumps: list[PumpModelState] = []
    for t in times:
        v, p = scenario.state(t)
        vitals.append(v)
        pumps.append(p)
    return SessionTrace(times, vitals, pumps, scenario.cuff_readings(end), step_s)
