"""The simulated patient: baseline, ketamine response, physiological noise, artefacts, and the cuff.

Everything is a pure function of simulator time ``t`` (seconds since the session began) and of
the seed: random streams are generated lazily, in time order, each from its own
``random.Random``, so a value at ``t`` never depends on which times were asked for before. No
wall clock is read anywhere.

The haemodynamic response follows the published series of reference/alarms.md §4 (0.5 mg/kg over
40 min unless noted):

- Riva-Posse 2018 (J Affect Disord 236:291, 684 infusions): peak at 30 min, +3.3/+3.2 mmHg,
  back to baseline during post-infusion monitoring.
- The 741-infusion cohort of repeated infusions: peak at 30–40 min, +7.4/+6.0 mmHg, HR +1.9 bpm;
  the rise is larger with age >= 50, with hypertension and with the dose.
- Yale, Gen Hosp Psychiatry 2024 (2342 infusions): peak at 40 min, +16.0 (SD 11.2) / +11.0
  (SD 8.5) mmHg; severe hypertension (>= 180/110) in 0.98 % of sessions.
- Szarmach 2020 (Neuropsychiatr Dis Treat 16:2539): back to baseline within 1.5 h, small HR effect.
- Vankawala 2021 meta-analysis (Front Psychiatry 12:549080): +12.6/+8.5 mmHg, HR +4.1 bpm.

The papers give the direction of the covariate effects, not one agreed model; the multipliers
below are this simulator's calibration, checked against the pooled figures by
``python -m simulator.validate`` (docs/simulator.md).

``PatientModel.truth(t)`` is the patient's TRUE state (``TrueState``: BP, HR, SpO2, RR, EtCO2,
apnoea), with clinical episodes (``simulator.episodes``); ``PatientModel.measure``/``sample`` is
what the monitor shows (artefacts change only that), and ``CuffModel`` what the cuff reads.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import Any, Protocol

from simulator.episodes import Episode, EpisodeEffect, blend
from simulator.episodes import effect as episode_effect

#: Resting values a scenario may fix (``Patient`` fields).
RESTING_VALUES = ("sbp", "dbp", "hr", "spo2", "resp_rate", "etco2", "perfusion_index")
#: Channels a scripted vital event can drive.
VITAL_CHANNELS = ("hr", "spo2", "resp_rate", "etco2", "sbp", "dbp")


def _seed(rng: random.Random) -> int:
    return rng.getrandbits(64)


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


# --------------------------------------------------------------------------------------------
# Noise


class OrnsteinUhlenbeck:
    """A stationary OU process sampled on a grid of ``dt_s`` and linearly interpolated.

    The grid is extended lazily and always in order from its own generator, so ``at(t)`` is a pure
    function of (seed, t). ``sigma`` is the stationary SD, ``tau_s`` the correlation time.
    """

    __slots__ = ("_a", "_b", "_dt", "_rng", "_values")

    def __init__(self, seed: int, sigma: float, tau_s: float, dt_s: float) -> None:
        self._rng = random.Random(seed)
        self._dt = dt_s
        self._a = math.exp(-dt_s / tau_s)
        self._b = sigma * math.sqrt(1.0 - self._a * self._a)
        self._values = [self._rng.gauss(0.0, sigma)]

    def at(self, t: float) -> float:
        if t <= 0.0:
            return self._values[0]
        x = t / self._dt
        i = int(x)
        values = self._values
        if i + 1 >= len(values):
            self._extend(i + 2)
        v0 = values[i]
        return v0 + (values[i + 1] - v0) * (x - i)

    def _extend(self, n: int) -> None:
        values = self._values
        a, b, gauss = self._a, self._b, self._rng.gauss
        v = values[-1]
        for _ in range(max(n, len(values) + 64) - len(values)):
            v = a * v + b * gauss(0.0, 1.0)
            values.append(v)


# --------------------------------------------------------------------------------------------
# The patient


@dataclass(frozen=True, slots=True)
class Patient:
    """Who sits in the chair, with resting values as measured before the infusion."""

    age: float = 40.0
    weight_kg: float = 75.0
    #: Treated (or known) hypertension.
    hypertension: bool = False
    sbp: float = 122.0
    dbp: float = 78.0
    hr: float = 74.0
    spo2: float = 98.0
    resp_rate: float = 14.0
    etco2: float = 37.0
    perfusion_index: float = 3.5

    @classmethod
    def from_history(
        cls,
        rng: random.Random,
        *,
        age: float,
        weight_kg: float,
        hypertension: bool,
        **resting: float,
    ) -> Patient:
        """Resting values drawn from age, weight and history; any given in ``resting`` win.

        Every value is drawn whatever is given, so the seed's later draws do not shift.
        Population shape: SBP rises ~0.4 mmHg/year and DBP until ~55 (Framingham-type curves);
        treated hypertension leaves a residual +8/+4 or more; weight adds ~0.2 mmHg/kg over 75 kg.
        """
        older = max(0.0, age - 25.0)
        sbp = 116.0 + 0.40 * older + 0.20 * (weight_kg - 75.0) + rng.gauss(0.0, 10.0)
        dbp = 72.0 + 0.25 * min(older, 30.0) + 0.10 * (weight_kg - 75.0) + rng.gauss(0.0, 7.0)
        residual_sbp, residual_dbp = 8.0 + abs(rng.gauss(0.0, 6.0)), 4.0 + abs(rng.gauss(0.0, 3.0))
        if hypertension:
            sbp, dbp = sbp + residual_sbp, dbp + residual_dbp
        hr = 76.0 - 0.10 * (age - 40.0) + rng.gauss(0.0, 8.0)
        drawn = cls(
            age=age,
            weight_kg=weight_kg,
            hypertension=hypertension,
            sbp=min(185.0, max(95.0, sbp)),
            dbp=min(112.0, max(55.0, dbp)),
            hr=min(105.0, max(50.0, hr)),
            spo2=min(100.0, max(94.0, 98.3 - 0.03 * older + rng.gauss(0.0, 0.8))),
            resp_rate=min(22.0, max(9.0, rng.gauss(14.5, 2.0))),
            etco2=min(44.0, max(31.0, rng.gauss(37.0, 2.5))),
            perfusion_index=min(9.0, max(0.8, rng.lognormvariate(math.log(3.2), 0.4))),
        )
        unknown = set(resting) - set(RESTING_VALUES)
        if unknown:
            raise ValueError(f"unknown resting value(s) {sorted(unknown)}; known: {RESTING_VALUES}")
        given: dict[str, Any] = dict(resting)
        patient = replace(drawn, **given)
        if "dbp" not in resting:  # a drawn diastolic stays plausible under a given systolic
            patient = replace(patient, dbp=min(patient.dbp, patient.sbp - 25.0))
        return patient


#: Resting BP at which the clinic defers the infusion (refers the patient back to their doctor)
#: rather than overriding the 140/90 advisory gate (alarms.md §5): those sessions never happen.
CLINIC_DEFERS_AT = (155.0, 95.0)


def draw_clinic_patient(rng: random.Random) -> tuple[Patient, float]:
    """A patient and a dose (mg/kg) from an outpatient ketamine clinic's population.

    Adults with treatment-resistant depression: age ~ N(43, 13) in 18..80, weight ~ N(80, 17) kg,
    hypertension in ~8 % under 40 rising to ~50 % over 60 (US adult prevalence of treated
    hypertension); doses 0.5 mg/kg for most, titrated up to 1 mg/kg for some. Patients whose
    resting BP reaches ``CLINIC_DEFERS_AT`` are deferred, so they are drawn again.
    """
    for _ in range(100):
        age = min(80.0, max(18.0, rng.gauss(43.0, 13.0)))
        weight = min(150.0, max(45.0, rng.gauss(80.0, 17.0)))
        prevalence = 0.08 if age < 40 else 0.20 if age < 50 else 0.35 if age < 60 else 0.50
        hypertension = rng.random() < prevalence
        u = rng.random()
        dose = 0.5 if u < 0.7 else round(rng.uniform(0.55, 0.75), 2) if u < 0.9 else 1.0
        patient = Patient.from_history(rng, age=age, weight_kg=weight, hypertension=hypertension)
        if patient.sbp < CLINIC_DEFERS_AT[0] and patient.dbp < CLINIC_DEFERS_AT[1]:
            break
    return patient, dose


# --------------------------------------------------------------------------------------------
# The ketamine response

#: Mean true peak rise of SBP (mmHg) for a normotensive adult under 50 at 0.5 mg/kg. The
#: response is sympathomimetic: it is never a fall. Calibrated (``python -m simulator.validate``)
#: so that the cohort's mean change from baseline at the 30- and 40-min readings (the "largest
#: mean increase" the series report) lands between the 741-infusion cohort (+7.4) and Yale
#: (+16.0).
REFERENCE_PEAK_SBP = 6.5
#: Multipliers for the covariates the 741-infusion cohort reports (larger rise with age >= 50,
#: with hypertension, with dose); Yale 2024: age and hypertension. Sizes are this model's.
AGE_50_FACTOR = 1.2
HYPERTENSION_FACTOR = 1.25
DOSE_EXPONENT = 0.5
#: Per-infusion spread of the drug effect: gamma with shape k (CV = 1/sqrt(k)), right-skewed and
#: never negative. With the per-patient scale, the surges below and the cuff's noise it gives a
#: spread of changes (SD ~9 mmHg at 40 min) below Yale's 11.2 (at Yale's larger mean of +16): a
#: wider spread overshoots the ~1 % severe-hypertension share.
AMPLITUDE_SHAPE = 4.0
#: Per-patient response scale: lognormal, mean 1, this CV. The same patient responds alike over
#: a series of six (741-infusion cohort: no change from the first to the sixth infusion).
PATIENT_SCALE_CV = 0.4
#: A pressor surge (the rise multiplied by ``SURGE_FACTOR``): probability by infusion number in a
#: series of six. Severe hypertension concentrates in the first infusions (Yale 2024: 43.4 % of
#: severe sessions in infusions 1–3 of a mean of 17 per patient) while the mean rise does not
#: change over the series (741-infusion cohort); the probabilities are this simulator's
#: assumption, fitted to both (the 741-infusion cohort also reports larger rises with
#: dissociative symptoms).
SURGE_PROBABILITY = (0.10, 0.07, 0.04, 0.015, 0.01, 0.01)
SURGE_FACTOR = (2.0, 3.2)
#: ΔDBP/ΔSBP of the true response. Published ratios of the mean rises: 6.0/7.4 (741 cohort),
#: 11.0/16.0 (Yale), 8.5/12.6 (Vankawala), 3.2/3.3 (Riva-Posse).
DBP_RATIO = 0.66
DBP_RATIO_SD = 0.12
#: Heart rate barely moves: +1.9 (741 cohort) to +4.1 bpm (Vankawala).
MEAN_PEAK_HR = 2.5


def patient_scale(rng: random.Random) -> float:
    """A patient's response scale for a whole series (lognormal, mean 1)."""
    sigma = math.sqrt(math.log(1.0 + PATIENT_SCALE_CV**2))
    return rng.lognormvariate(-0.5 * sigma * sigma, sigma)


@dataclass(frozen=True, slots=True)
class KetamineResponse:
    """The noise-free rise over baseline, as a shape with unit peak times the peak sizes.

    The rise follows the infused time with a first-order onset (most of it within ~10 min), peaks
    ``peak_s`` after the start (30–40 min of a 40-min infusion), fades slightly to the end, then
    returns with a smooth ``(1 + x) e^-x`` tail (x = time since the end / ``offset_tau_s``), flat
    at the end and below 2 % of the peak 90 min later (Szarmach 2020: back within 1.5 h).
    """

    sbp: float = 12.0
    dbp: float = 8.5
    hr: float = MEAN_PEAK_HR
    duration_s: float = 2400.0
    onset_tau_s: float = 420.0
    peak_s: float = 2100.0
    fade: float = 0.05
    offset_tau_s: float = 720.0

    @classmethod
    def draw(
        cls,
        rng: random.Random,
        patient: Patient,
        dose_mg_kg: float,
        duration_s: float = 2400.0,
        *,
        infusion_number: int = 1,
        scale: float = 1.0,
    ) -> KetamineResponse:
        """One infusion's response: ``infusion_number`` in a series (1–6, later ones as the
        sixth), ``scale`` the patient's own response scale (``patient_scale``)."""
        mean = REFERENCE_PEAK_SBP * (max(dose_mg_kg, 0.05) / 0.5) ** DOSE_EXPONENT * scale
        if patient.age >= 50:
            mean *= AGE_50_FACTOR
        if patient.hypertension:
            mean *= HYPERTENSION_FACTOR
        sbp = mean * rng.gammavariate(AMPLITUDE_SHAPE, 1.0 / AMPLITUDE_SHAPE)
        k = min(max(infusion_number, 1), len(SURGE_PROBABILITY)) - 1
        surge, factor = rng.random(), rng.uniform(*SURGE_FACTOR)
        if surge < SURGE_PROBABILITY[k]:
            sbp *= factor
        ratio = min(1.1, max(0.3, rng.gauss(DBP_RATIO, DBP_RATIO_SD)))
        hr = rng.gauss(MEAN_PEAK_HR, 2.5)
        return cls(
            sbp=sbp,
            dbp=sbp * ratio,
            hr=hr,
            duration_s=duration_s,
            onset_tau_s=rng.uniform(300.0, 540.0),
            peak_s=duration_s * rng.uniform(0.8, 1.0),
            fade=rng.uniform(0.0, 0.03),
            offset_tau_s=rng.uniform(540.0, 900.0),
        )

    def _rise(self, infused_s: float) -> float:
        if infused_s <= 0.0:
            return 0.0
        peak = min(self.peak_s, self.duration_s)
        if infused_s <= peak:
            norm = 1.0 - math.exp(-peak / self.onset_tau_s)
            return (1.0 - math.exp(-infused_s / self.onset_tau_s)) / norm
        span = max(self.duration_s - peak, 1.0)
        return 1.0 - self.fade * min(1.0, (infused_s - peak) / span)

    def shape(self, infused_s: float, since_end_s: float | None) -> float:
        """0..1: ``infused_s`` seconds of drug so far; ``since_end_s`` once the infusion ended."""
        if since_end_s is None:
            return self._rise(infused_s)
        x = max(0.0, since_end_s) / self.offset_tau_s
        return self._rise(self.duration_s) * (1.0 + x) * math.exp(-x)


class InfusionClock(Protocol):
    """When the drug flows: the pump model implements it (pauses move the end)."""

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...

    def infused_s(self, t: float) -> float: ...


@dataclass(frozen=True, slots=True)
class SimpleInfusion:
    """An infusion that runs uninterrupted from ``start_s`` for ``duration_s``."""

    start_s: float = 600.0
    duration_s: float = 2400.0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def infused_s(self, t: float) -> float:
        return min(max(0.0, t - self.start_s), self.duration_s)


# --------------------------------------------------------------------------------------------
# Scripted events and artefacts


@dataclass(frozen=True, slots=True)
class VitalEvent:
    """Drive ``channel`` towards ``target`` over ``[start, start + duration)``, ramping in and
    out over ``ramp_s`` (a tachycardia, a desaturation, a hypertensive surge...)."""

    channel: str
    target: float
    start: float
    duration: float
    ramp_s: float = 60.0

    def __post_init__(self) -> None:
        if self.channel not in VITAL_CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}; channels: {VITAL_CHANNELS}")

    def weight(self, t: float) -> float:
        if t < self.start or t >= self.start + self.duration:
            return 0.0
        ramp = max(self.ramp_s, 1e-9)
        return _smoothstep(min(t - self.start, self.start + self.duration - t) / ramp)


@dataclass(frozen=True, slots=True)
class Artefact:
    kind: str  # "motion", "spo2_dip", "sensor_off", "low_perfusion", "capno_off"
    start: float
    duration: float
    #: motion: pulse-rate excursion (bpm); spo2_dip: depth (% points); low_perfusion: the factor
    #: on the perfusion index.
    magnitude: float
    phase: float = 0.0

    def active(self, t: float) -> bool:
        return self.start <= t < self.start + self.duration


@dataclass(frozen=True, slots=True)
class ArtefactRates:
    """Events per hour. Defaults: a restless but ordinary chair-side session; low perfusion and a
    displaced capnography line are off unless asked for (the clinic cohort sets them,
    ``simulator.cohort.CLINIC_ARTEFACTS``)."""

    motion_per_h: float = 2.0
    spo2_dip_per_h: float = 1.0
    sensor_off_per_h: float = 0.3
    low_perfusion_per_h: float = 0.0
    capno_off_per_h: float = 0.0


#: kind -> (duration range s, magnitude range)
_ARTEFACT_SHAPES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "motion": ((5.0, 30.0), (15.0, 45.0)),
    "spo2_dip": ((10.0, 30.0), (3.0, 7.0)),
    "sensor_off": ((10.0, 60.0), (0.0, 0.0)),
    "low_perfusion": ((120.0, 600.0), (0.15, 0.35)),
    "capno_off": ((20.0, 180.0), (0.0, 0.0)),
}


class ArtefactStream:
    """A Poisson process of one artefact kind, generated lazily in time order."""

    def __init__(self, seed: int, kind: str, rate_per_h: float, start_s: float = 0.0) -> None:
        self.kind = kind
        self._rng = random.Random(seed)
        self._rate_s = rate_per_h / 3600.0
        (self._dmin, self._dmax), (self._mmin, self._mmax) = _ARTEFACT_SHAPES[kind]
        self._next = start_s
        self._starts: list[float] = []
        self.events: list[Artefact] = []

    def _extend(self, until: float) -> None:
        rng = self._rng
        while self._next <= until:
            self._next += rng.expovariate(self._rate_s)
            artefact = Artefact(
                self.kind,
                self._next,
                rng.uniform(self._dmin, self._dmax),
                rng.uniform(self._mmin, self._mmax),
                rng.uniform(0.0, 2.0 * math.pi),
            )
            self._starts.append(artefact.start)
            self.events.append(artefact)

    def until(self, t: float) -> list[Artefact]:
        """Every artefact that started before ``t``."""
        if self._rate_s <= 0.0:
            return []
        self._extend(t)
        return self.events[: bisect_right(self._starts, t)]

    def active(self, t: float) -> Artefact | None:
        if self._rate_s <= 0.0:
            return None
        self._extend(t)
        i = bisect_right(self._starts, t) - 1
        while i >= 0 and self._starts[i] > t - self._dmax:
            if self.events[i].active(t):
                return self.events[i]
            i -= 1
        return None

    def overlaps(self, a: float, b: float) -> bool:
        """Whether an artefact is active at any moment of ``[a, b)``."""
        if self._rate_s <= 0.0:
            return False
        self._extend(b)
        i = bisect_right(self._starts, b) - 1
        while i >= 0 and self._starts[i] > a - self._dmax:
            e = self.events[i]
            if e.start < b and e.start + e.duration > a:
                return True
            i -= 1
        return False


# --------------------------------------------------------------------------------------------
# The patient over time


@dataclass(frozen=True, slots=True)
class TrueState:
    """What the patient's values really are at one moment (ground truth, before any device)."""

    sbp: float
    dbp: float
    hr: float
    spo2: float
    resp_rate: float
    etco2: float
    #: No breathing (an apnoea episode).
    apnoea: bool = False

    @property
    def map(self) -> float:
        return self.dbp + (self.sbp - self.dbp) / 3.0


@dataclass(slots=True)
class VitalSample:
    """Continuous values at one moment as the devices would measure them (before encoding)."""

    hr: float
    pulse_rate: float
    spo2: float
    perfusion_index: float
    resp_rate: float
    etco2: float
    sensor_off: bool = False
    low_signal_iq: bool = False
    low_perfusion: bool = False


@dataclass(frozen=True, slots=True)
class NoiseLevels:
    """Stationary SDs of the physiological (OU) noise; correlation times in the code.

    BP: the slow, true variation of the pressure over minutes; with the cuff's own error
    (``NibpSchedule.error_sys_mmhg``) it gives the within-session SD of repeated resting
    readings the literature reports (docs/simulator.md, §Noise)."""

    bp_mmhg: float = 4.0
    hr_bpm: float = 3.0
    spo2_pct: float = 0.5
    resp_rate: float = 1.0
    etco2_mmhg: float = 1.2


class PatientModel:
    """Baseline + ketamine response + noise + scripted events + clinical episodes (the TRUE
    state, ``truth``) + artefacts (what the devices show, ``sample``), as functions of t."""

    def __init__(
        self,
        rng: random.Random,
        patient: Patient,
        response: KetamineResponse,
        infusion: InfusionClock,
        *,
        events: list[VitalEvent] | None = None,
        artefacts: ArtefactRates | None = None,
        noise: NoiseLevels | None = None,
        episodes: list[Episode] | None = None,
    ) -> None:
        self.patient = patient
        self.response = response
        self.infusion = infusion
        self.events = list(events or [])
        self.episodes = sorted(episodes or [], key=lambda e: e.start)
        noise = noise or NoiseLevels()
        rates = artefacts or ArtefactRates()
        # Slow BP variability (minutes) shared by SBP and DBP, plus a DBP-only part.
        self._bp = OrnsteinUhlenbeck(_seed(rng), noise.bp_mmhg, 300.0, 30.0)
        self._dbp = OrnsteinUhlenbeck(_seed(rng), noise.bp_mmhg * 0.3, 300.0, 30.0)
        self._hr = OrnsteinUhlenbeck(_seed(rng), noise.hr_bpm, 90.0, 4.0)
        self._spo2 = OrnsteinUhlenbeck(_seed(rng), noise.spo2_pct, 40.0, 2.0)
        self._pi = OrnsteinUhlenbeck(_seed(rng), 0.12, 120.0, 5.0)
        self._rr = OrnsteinUhlenbeck(_seed(rng), noise.resp_rate, 120.0, 5.0)
        self._etco2 = OrnsteinUhlenbeck(_seed(rng), noise.etco2_mmhg, 180.0, 5.0)
        self.motion = ArtefactStream(_seed(rng), "motion", rates.motion_per_h)
        self.spo2_dips = ArtefactStream(_seed(rng), "spo2_dip", rates.spo2_dip_per_h)
        self.sensor_off = ArtefactStream(_seed(rng), "sensor_off", rates.sensor_off_per_h)
        # Streams added later draw their seeds last, so earlier streams keep theirs.
        self.low_perfusion = ArtefactStream(_seed(rng), "low_perfusion", rates.low_perfusion_per_h)
        self.capno_off = ArtefactStream(_seed(rng), "capno_off", rates.capno_off_per_h)

    # -- the drug ------------------------------------------------------------------------------

    def response_fraction(self, t: float) -> float:
        inf = self.infusion
        if t < inf.start_s:
            return 0.0
        if t < inf.end_s:
            return self.response.shape(inf.infused_s(t), None)
        return self.response.shape(inf.infused_s(t), t - inf.end_s)

    def _scripted(self, channel: str, t: float, value: float, noise: float) -> float:
        for event in self.events:
            if event.channel == channel:
                w = event.weight(t)
                if w > 0.0:
                    value = (1.0 - w) * value + w * (event.target + noise)
        return value

    def _effect(self, t: float) -> EpisodeEffect | None:
        return episode_effect(self.episodes, t) if self.episodes else None

    # -- the true state --------------------------------------------------------------------------

    def true_bp(self, t: float) -> tuple[float, float]:
        """Arterial SBP and DBP (mmHg) without measurement error."""
        return self._bp_with(t, self._effect(t))

    def _bp_with(self, t: float, fx: EpisodeEffect | None) -> tuple[float, float]:
        r = self.response_fraction(t)
        shared = self._bp.at(t)
        sbp = self.patient.sbp + r * self.response.sbp + shared
        dbp = self.patient.dbp + r * self.response.dbp + 0.6 * shared + self._dbp.at(t)
        sbp = self._scripted("sbp", t, sbp, shared)
        dbp = self._scripted("dbp", t, dbp, 0.6 * shared)
        if fx is not None:
            sbp, dbp = sbp - fx.bp_drop[0], dbp - fx.bp_drop[1]
        return sbp, min(dbp, sbp - 15.0)

    def clean_hr(self, t: float) -> float:
        """Heart rate with physiological noise, scripted events and episodes, no artefacts."""
        return self._hr_with(t, self._effect(t))

    def _hr_with(self, t: float, fx: EpisodeEffect | None) -> float:
        noise = self._hr.at(t)
        hr = self.patient.hr + self.response_fraction(t) * self.response.hr + noise
        hr = self._scripted("hr", t, hr, noise)
        if fx is not None and fx.hr is not None:
            hr = blend(hr, (fx.hr[0] + noise, fx.hr[1]))
        return max(30.0, hr)

    def truth(self, t: float) -> TrueState:
        """The patient's true values at ``t`` (for ground truth: what happened, not what the
        devices measured)."""
        fx = self._effect(t)
        p = self.patient
        sbp, dbp = self._bp_with(t, fx)
        hr = self._hr_with(t, fx)
        spo2_noise = self._spo2.at(t)
        spo2 = self._scripted("spo2", t, p.spo2 + spo2_noise, spo2_noise)
        rr_noise = self._rr.at(t)
        rr = self._scripted("resp_rate", t, p.resp_rate + rr_noise, rr_noise)
        et_noise = self._etco2.at(t)
        etco2 = self._scripted("etco2", t, p.etco2 + et_noise, et_noise)
        apnoea = False
        if fx is not None:
            if fx.spo2 is not None:
                spo2 = blend(spo2, (fx.spo2[0] + spo2_noise, fx.spo2[1]))
            spo2 -= fx.spo2_drop
            if fx.rr is not None:
                rr = blend(rr, fx.rr)
            etco2 += fx.etco2_rise
            apnoea = fx.apnoea
            if apnoea:
                rr = 0.0
        return TrueState(
            sbp=sbp,
            dbp=dbp,
            hr=hr,
            spo2=min(100.0, max(50.0, spo2)),
            resp_rate=max(0.0, rr),
            etco2=max(0.0, etco2),
            apnoea=apnoea,
        )

    # -- what the devices measure ----------------------------------------------------------------

    def sample(self, t: float) -> VitalSample:
        truth = self.truth(t)
        return self.measure(t, truth)

    def measure(self, t: float, truth: TrueState) -> VitalSample:
        """The continuous values the monitor shows at ``t`` given the true state: artefacts
        (motion, SpO2 dips, probe off, low perfusion, a displaced CO2 line) change only these."""
        p = self.patient
        hr = truth.hr
        spo2 = truth.spo2
        rr = truth.resp_rate
        etco2 = truth.etco2
        if truth.apnoea:
            etco2 = 0.0  # no breath reaches the sampling line
        pi = p.perfusion_index * math.exp(self._pi.at(t))
        pulse, ecg_hr, low_iq, low_perf = hr, hr, False, False
        dip = self.spo2_dips.active(t)
        if dip is not None:
            u = (t - dip.start) / dip.duration
            spo2 -= dip.magnitude * (1.0 - abs(2.0 * u - 1.0))
        motion = self.motion.active(t)
        if motion is not None:
            # Erratic spikes: an envelope times a fast wobble, deterministic in t.
            u = (t - motion.start) / motion.duration
            envelope = math.sin(math.pi * u)
            wobble = 0.65 + 0.35 * math.sin(1.7 * t + motion.phase)
            pulse += motion.magnitude * envelope * wobble
            ecg_hr += 0.6 * motion.magnitude * envelope * (0.65 + 0.35 * math.cos(2.3 * t))
            spo2 -= 0.15 * motion.magnitude * envelope * abs(math.sin(0.9 * t + motion.phase))
            pi *= 0.5
            low_iq = True
        cold = self.low_perfusion.active(t)
        if cold is not None:
            # Cold fingers: a weak pleth, a noisier and slightly low saturation.
            pi *= cold.magnitude
            spo2 -= 1.0 + 1.5 * abs(math.sin(0.21 * t + cold.phase))
            low_perf = pi < 1.0
            low_iq = low_iq or pi < 0.5
        if self.capno_off.active(t) is not None:
            rr, etco2 = 0.0, 1.0 + 0.5 * abs(math.sin(0.3 * t))
        return VitalSample(
            hr=ecg_hr,
            pulse_rate=pulse,
            spo2=min(100.0, max(50.0, spo2)),
            perfusion_index=pi,
            resp_rate=max(0.0, rr),
            etco2=max(0.0, etco2),
            sensor_off=self.sensor_off.active(t) is not None,
            low_signal_iq=low_iq,
            low_perfusion=low_perf,
        )


# --------------------------------------------------------------------------------------------
# The measurement: a cuff on a cycle


@dataclass(frozen=True, slots=True)
class CuffReading:
    """One cuff cycle: inflation at ``start``, result at ``end``; no value if it failed."""

    start: float
    end: float
    failed: bool
    sbp: float
    dbp: float
    mean: float


@dataclass(frozen=True, slots=True)
class NibpSchedule:
    """When the cuff inflates. Series of alarms.md §4 measured every 10 min during the
    infusion and every 15 min after; baseline readings are taken before the start."""

    baseline_first_s: float = 60.0
    baseline_cycle_s: float = 240.0
    infusion_cycle_s: float = 600.0
    recovery_cycle_s: float = 900.0
    #: A measurement takes 30–40 s (oscillometric inflate + stepped deflation).
    duration_s: tuple[float, float] = (30.0, 40.0)
    failure_rate: float = 0.02
    #: The device's own error on each reading (SD, mmHg), beside the true BP's variation.
    error_sys_mmhg: float = 4.0
    error_dia_mmhg: float = 2.5
    #: Chance that a measurement fails when the arm moves during it (0: motion is ignored).
    motion_failure: float = 0.0

    def starts(self, start_s: float, end_s: float) -> list[float]:
        """Inflation times up to the end of the infusion; recovery times follow arithmetically."""
        times: list[float] = []
        t = self.baseline_first_s
        while t + self.duration_s[1] <= start_s:
            times.append(t)
            t += self.baseline_cycle_s
        k = 1
        while start_s + k * self.infusion_cycle_s <= end_s + 1e-6:
            times.append(start_s + k * self.infusion_cycle_s)
            k += 1
        return times


@dataclass(frozen=True, slots=True)
class ForcedFailure:
    """Every measurement inflating in ``[start, start + duration)`` fails (a cuff error)."""

    start: float
    duration: float


class CuffModel:
    """Discrete oscillometric measurements of the patient's BP, generated lazily in order.

    Each reading is the true BP at completion plus the device's error (``NibpSchedule``:
    N(0, 4) / N(0, 3) mmHg by default; AAMI/ISO 81060-2 allows a mean error of ±5 with SD 8
    against a reference). A measurement fails at ``failure_rate``, or with ``motion_failure``
    when the arm moved during it.
    """

    def __init__(
        self,
        seed: int,
        schedule: NibpSchedule,
        patient: PatientModel,
        *,
        failures: list[ForcedFailure] | None = None,
    ) -> None:
        self.schedule = schedule
        self._patient = patient
        self._rng = random.Random(seed)
        inf = patient.infusion
        self._fixed = schedule.starts(inf.start_s, inf.end_s)
        self._recovery_from = inf.end_s
        self._failures = list(failures or [])
        self.readings: list[CuffReading] = []
        self._starts: list[float] = []

    def _start_of(self, k: int) -> float:
        if k < len(self._fixed):
            return self._fixed[k]
        return self._recovery_from + (k - len(self._fixed) + 1) * self.schedule.recovery_cycle_s

    def _extend(self, until: float) -> None:
        rng, sched = self._rng, self.schedule
        while not self._starts or self._starts[-1] <= until:
            start = self._start_of(len(self.readings))
            end = start + rng.uniform(*sched.duration_s)
            failed = rng.random() < sched.failure_rate
            failed = failed or any(f.start <= start < f.start + f.duration for f in self._failures)
            e_sys = rng.gauss(0.0, sched.error_sys_mmhg)
            e_dia = rng.gauss(0.0, sched.error_dia_mmhg)
            if sched.motion_failure > 0.0:
                moved = rng.random() < sched.motion_failure
                failed = failed or (moved and self._patient.motion.overlaps(start, end))
            sbp, dbp = self._patient.true_bp(end)
            sbp, dbp = round(sbp + e_sys), round(dbp + e_dia)
            dbp = min(dbp, sbp - 10)
            mean = round(dbp + (sbp - dbp) / 3.0)
            self.readings.append(CuffReading(start, end, failed, sbp, dbp, mean))
            self._starts.append(start)

    def until(self, t: float) -> list[CuffReading]:
        """Every measurement inflated before ``t`` (the last one may still be running)."""
        self._extend(t)
        return self.readings[: bisect_right(self._starts, t)]

    def state(self, t: float) -> tuple[CuffReading | None, bool, bool]:
        """(last completed successful reading, measuring now, last attempt failed)."""
        self._extend(t)
        i = bisect_right(self._starts, t) - 1
        if i < 0:
            return None, False, False
        current = self.readings[i]
        measuring = t < current.end
        done = i - 1 if measuring else i
        failed = not measuring and current.failed
        while done >= 0 and self.readings[done].failed:
            done -= 1
        return (self.readings[done] if done >= 0 else None), measuring, failed


__all__ = [
    "Artefact",
    "ArtefactRates",
    "ArtefactStream",
    "CuffModel",
    "CuffReading",
    "ForcedFailure",
    "InfusionClock",
    "KetamineResponse",
    "NibpSchedule",
    "NoiseLevels",
    "OrnsteinUhlenbeck",
    "Patient",
    "PatientModel",
    "SimpleInfusion",
    "TrueState",
    "VitalEvent",
    "VitalSample",
    "draw_clinic_patient",
    "patient_scale",
]
