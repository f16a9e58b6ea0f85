"""The clinic's cohort: patients from an outpatient ketamine clinic's population, each treated over
a series of six infusions, with the clinic's pre-start BP gate, random clinical episodes,
artefacts and pump interruptions at the rates of docs/simulator.md.

``clinic_session(seed, index, options)`` builds session ``index`` of the cohort ``seed`` by
itself (patient ``index // 6``, infusion ``index % 6 + 1``): every random draw comes from a
generator seeded by (seed, patient) or (seed, patient, infusion, day), so a session never depends
on which other sessions were built, and the no-drug negative control (``drug=False``) is the same
cohort, seed for seed, with the drug's effect set to zero.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field

from simulator.episodes import EpisodeRates, draw_episodes
from simulator.physiology import (
    ArtefactRates,
    NibpSchedule,
    Patient,
    draw_clinic_patient,
    patient_scale,
)
from simulator.pump_model import PumpEvent
from simulator.scenario import KetamineScenario, PatientSpec, ScenarioConfig, SessionTimeline

#: Infusions per patient: the usual induction series (the 741-infusion cohort and Riva-Posse
#: report the first six).
SERIES_LENGTH = 6
#: Pre-start gate (alarms.md §5, service/infusions/logic.py ``Rules``): a baseline above either
#: value needs a nurse's override with a reason; otherwise the infusion is deferred to another day.
GATE_SYS, GATE_DIA = 140.0, 90.0
#: Share of gated sessions started with an override (the rest are deferred): this simulator's
#: assumption (no published figure); after ``MAX_DEFERRALS`` deferrals the patient is started
#: with an override on the next day.
OVERRIDE_SHARE = 0.3
MAX_DEFERRALS = 2
#: Day-to-day variation of the patient's resting BP (SD, mmHg): visit-to-visit SD is ~5.6 mmHg
#: systolic over three visits in TROPHY (J Clin Hypertens 2012;14:744), part of which is
#: within-visit variation the model already has.
DAY_SD_SYS, DAY_SD_DIA = 4.0, 2.5

#: Artefacts of an awake adult in a chair (events per hour; docs/simulator.md §Artefacts).
CLINIC_ARTEFACTS = ArtefactRates(
    motion_per_h=2.0,
    spo2_dip_per_h=0.5,
    sensor_off_per_h=0.3,
    low_perfusion_per_h=0.15,
    capno_off_per_h=0.1,
)
#: Random clinical episodes per session (docs/simulator.md §Random clinical episodes).
CLINIC_EPISODES = EpisodeRates()
#: Pump interruptions per session: a pause (patient to the toilet, line checked) and an
#: occlusion (a kinked line at the elbow), both this simulator's assumptions.
PUMP_PAUSE_SHARE = 0.02
PUMP_OCCLUSION_SHARE = 0.015


@dataclass(frozen=True, slots=True)
class CohortOptions:
    """How the cohort is simulated. The defaults are the published series' set-up: cuff every
    10 min during the infusion and every 15 min after, 100 min of recovery."""

    drug: bool = True
    nibp: NibpSchedule = field(default_factory=lambda: NibpSchedule(motion_failure=0.5))
    timeline: SessionTimeline = field(default_factory=SessionTimeline)
    artefacts: ArtefactRates = CLINIC_ARTEFACTS
    episodes: EpisodeRates = CLINIC_EPISODES
    pump_events: bool = True
    gate: bool = True


@dataclass(frozen=True, slots=True)
class ClinicSession:
    index: int
    patient_id: int
    infusion_number: int
    scenario: KetamineScenario
    #: Measured baseline (mean of the successful pre-infusion cuff readings).
    baseline: tuple[float, float] | None
    #: Started above the gate with a nurse's override.
    override: bool = False
    #: Days this infusion was deferred by the gate before it happened.
    deferred: int = 0


def measured_baseline(scenario: KetamineScenario) -> tuple[float, float] | None:
    start = scenario.pump.start_s
    base = [r for r in scenario.cuff.until(start) if not r.failed and r.end <= start]
    if not base:
        return None
    return statistics.fmean(r.sbp for r in base), statistics.fmean(r.dbp for r in base)


def clinic_session(seed: int, index: int, options: CohortOptions | None = None) -> ClinicSession:
    """Session ``index`` of cohort ``seed`` (see the module text)."""
    options = options or CohortOptions()
    patient_id, number = divmod(index, SERIES_LENGTH)
    number += 1
    who = random.Random(f"vigil-cohort:{seed}:{patient_id}")
    patient, dose = draw_clinic_patient(who)
    scale = patient_scale(who)
    deferred = 0
    while True:
        day = random.Random(f"vigil-cohort:{seed}:{patient_id}:{number}:{deferred}")
        scenario = _day(day, patient, dose, scale, number, options)
        baseline = measured_baseline(scenario)
        gated = baseline is not None and (baseline[0] > GATE_SYS or baseline[1] > GATE_DIA)
        override = day.random() < OVERRIDE_SHARE
        if not (options.gate and gated) or override or deferred >= MAX_DEFERRALS:
            return ClinicSession(
                index, patient_id, number, scenario, baseline, options.gate and gated, deferred
            )
        deferred += 1


def _day(
    rng: random.Random,
    patient: Patient,
    dose: float,
    scale: float,
    number: int,
    options: CohortOptions,
) -> KetamineScenario:
    timeline = options.timeline
    start = timeline.infusion_start_s
    end = start + timeline.infusion_s
    resting = {
        "sbp": patient.sbp + rng.gauss(0.0, DAY_SD_SYS),
        "dbp": patient.dbp + rng.gauss(0.0, DAY_SD_DIA),
        "hr": patient.hr,
        "spo2": patient.spo2,
        "resp_rate": patient.resp_rate,
        "etco2": patient.etco2,
        "perfusion_index": patient.perfusion_index,
    }
    episodes = draw_episodes(
        rng,
        options.episodes,
        infusion_start_s=start,
        infusion_end_s=end,
        session_end_s=timeline.total_s,
    )
    pump: list[PumpEvent] = []
    u_pause, u_occl = rng.random(), rng.random()
    pause_at, pause_for = rng.uniform(start + 300.0, end - 300.0), rng.uniform(60.0, 240.0)
    occl_at, occl_for = rng.uniform(start + 120.0, end - 120.0), rng.uniform(20.0, 120.0)
    if options.pump_events and u_pause < PUMP_PAUSE_SHARE:
        pump.append(PumpEvent("pause", pause_at, pause_for))
    if options.pump_events and u_occl < PUMP_OCCLUSION_SHARE:
        pump.append(PumpEvent("occlusion", occl_at, occl_for))
    # The pump's end-of-volume alarm sounds until the nurse switches it to standby.
    cleared = rng.uniform(30.0, 240.0)
    config = ScenarioConfig(
        name="cohort",
        patient=PatientSpec(
            age=patient.age,
            weight_kg=patient.weight_kg,
            hypertension=patient.hypertension,
            resting=resting,
        ),
        dose_mg_kg=dose,
        timeline=timeline,
        response={} if options.drug else {"sbp": 0.0, "dbp": 0.0, "hr": 0.0},
        nibp=options.nibp,
        artefacts=options.artefacts,
        pump_events=tuple(pump),
        infusion_number=number,
        response_scale=scale,
        episodes=tuple(episodes),
        pump_end_alarm_s=cleared,
        pump_cleared_after_s=cleared,
    )
    return KetamineScenario(config, seed=rng.getrandbits(32))


def clinic_sessions(
    n: int, seed: int = 1, options: CohortOptions | None = None
) -> Iterator[ClinicSession]:
    """The first ``n`` sessions of cohort ``seed`` (whole series of six first)."""
    for index in range(n):
        yield clinic_session(seed, index, options)


__all__ = [
    "CLINIC_ARTEFACTS",
    "CLINIC_EPISODES",
    "GATE_DIA",
    "GATE_SYS",
    "OVERRIDE_SHARE",
    "SERIES_LENGTH",
    "ClinicSession",
    "CohortOptions",
    "clinic_session",
    "clinic_sessions",
    "measured_baseline",
]
