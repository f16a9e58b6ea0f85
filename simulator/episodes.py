"""Random clinical episodes: what really happens to the patient, beyond the drug's pressor effect.

An ``Episode`` changes the patient's TRUE values for a while (the cuff, the oximeter and the
capnograph then measure the changed values); measurement artefacts, which change only what the
devices show, are in ``simulator.physiology`` (``ArtefactStream``). ``draw_episodes`` draws a
session's episodes from per-session probabilities (``EpisodeRates``); each rate, its basis and
whether it is a published figure or this simulator's assumption is listed in docs/simulator.md
(§Random clinical episodes).

Kinds and what they do (``effect``):

- ``desaturation``: hypoventilation: SpO2 falls towards ``target`` (RR towards ~6–8/min,
  EtCO2 up by ``etco2_rise``), smoothstep ramps in and out;
- ``apnoea``: no breathing for ``duration`` seconds: RR 0, the capnograph sees no breath, and the
  true SpO2 starts falling after ~20 s (0.1 %/s, healthy adult after a normal breath);
- ``vasovagal``: SBP/DBP fall by ``sbp_drop``/``dbp_drop`` and HR towards ``hr_target``;
- ``tachycardia``: HR towards ``hr_target`` (anxiety, dissociation, pain).

Everything here is a pure function of its arguments: an episode's effect at ``t`` depends only on
the episode and ``t``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

KINDS = ("desaturation", "apnoea", "vasovagal", "tachycardia")


def smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True, slots=True)
class Episode:
    """One clinical episode over ``[start, start + duration)`` (simulator seconds)."""

    kind: str
    start: float
    duration: float
    ramp_s: float = 30.0
    #: desaturation: the SpO2 it falls towards (%).
    spo2_target: float = 88.0
    #: desaturation: RR it falls towards (/min) and the EtCO2 rise (mmHg).
    rr_target: float = 7.0
    etco2_rise: float = 10.0
    #: vasovagal: falls of SBP and DBP (mmHg).
    sbp_drop: float = 0.0
    dbp_drop: float = 0.0
    #: vasovagal (bradycardia) or tachycardia: the HR it moves towards (bpm).
    hr_target: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown episode {self.kind!r}; kinds: {KINDS}")

    @property
    def end(self) -> float:
        return self.start + self.duration

    def weight(self, t: float) -> float:
        """0..1: how fully the episode acts at ``t`` (ramps in and out)."""
        if t < self.start or t >= self.end:
            return 0.0
        if self.kind == "apnoea":
            return 1.0  # breathing stops and restarts, no ramp
        ramp = max(self.ramp_s, 1e-9)
        return smoothstep(min(t - self.start, self.end - t) / ramp)

    def spo2_drop(self, t: float) -> float:
        """Apnoea only: how far the true SpO2 has fallen (%), recovering over ~30 s after."""
        if self.kind != "apnoea" or t < self.start:
            return 0.0
        held = min(t, self.end) - self.start
        drop = min(10.0, 0.1 * max(0.0, held - 20.0))
        if t >= self.end:
            drop *= max(0.0, 1.0 - (t - self.end) / 30.0)
        return drop


@dataclass(frozen=True, slots=True)
class EpisodeRates:
    """Probabilities per infusion session (docs/simulator.md, §Random clinical episodes).

    ``*_severe``: the share of those episodes deep or long enough to be a severe episode
    (SpO2 < 85 % for ≥ 30 s; MAP < 55 for ≥ 1 min; HR > 140 for ≥ 1 min)."""

    desaturation: float = 0.010
    desaturation_severe: float = 0.25
    apnoea: float = 0.005
    vasovagal: float = 0.010
    vasovagal_severe: float = 0.35
    tachycardia: float = 0.030
    tachycardia_severe: float = 0.10

    def scaled(self, factor: float) -> EpisodeRates:
        return EpisodeRates(
            desaturation=self.desaturation * factor,
            desaturation_severe=self.desaturation_severe,
            apnoea=self.apnoea * factor,
            vasovagal=self.vasovagal * factor,
            vasovagal_severe=self.vasovagal_severe,
            tachycardia=self.tachycardia * factor,
            tachycardia_severe=self.tachycardia_severe,
        )


NO_EPISODES = EpisodeRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def draw_episodes(
    rng: random.Random,
    rates: EpisodeRates,
    *,
    infusion_start_s: float,
    infusion_end_s: float,
    session_end_s: float,
) -> list[Episode]:
    """A session's episodes. Every draw is made whatever the outcome, so the stream stays aligned
    (the same seed gives the same episodes whatever the rates of the other kinds)."""
    out: list[Episode] = []
    # Desaturation / hypoventilation: during the infusion or the first 20 min after it (drug
    # effect), 1–5 min.
    u, severe_u = rng.random(), rng.random()
    start = rng.uniform(infusion_start_s + 300.0, infusion_end_s + 1200.0)
    duration = rng.uniform(60.0, 300.0)
    deep = severe_u < rates.desaturation_severe
    target = rng.uniform(76.0, 83.0) if deep else rng.uniform(86.0, 89.5)
    rr, rise, ramp = rng.uniform(5.0, 8.0), rng.uniform(6.0, 14.0), rng.uniform(30.0, 60.0)
    if u < rates.desaturation:
        # A severe one lasts long enough to stay under 85 % for >= 30 s past its ramps.
        duration = max(duration, 2 * ramp + 60.0) if deep else duration
        out.append(Episode("desaturation", start, duration, ramp, target, rr, rise))
    # Apnoea: 15–60 s without a breath (about two in three >= 30 s), same window.
    u = rng.random()
    start = rng.uniform(infusion_start_s + 300.0, infusion_end_s + 1200.0)
    duration = rng.uniform(15.0, 60.0)
    if u < rates.apnoea:
        out.append(Episode("apnoea", start, duration, 0.0, rr_target=0.0))
    # Vasovagal: around cannulation (the baseline phase) or when the cannula comes out / the
    # patient stands up (recovery) — where blood-donor reactions cluster.
    u, severe_u, where = rng.random(), rng.random(), rng.random()
    start = (
        rng.uniform(60.0, max(120.0, infusion_start_s - 120.0))
        if where < 0.6
        else rng.uniform(infusion_end_s + 300.0, max(infusion_end_s + 360.0, session_end_s - 300.0))
    )
    deep = severe_u < rates.vasovagal_severe
    duration = rng.uniform(150.0, 360.0) if deep else rng.uniform(60.0, 240.0)
    sbp_drop = rng.uniform(45.0, 65.0) if deep else rng.uniform(15.0, 30.0)
    dbp_drop = sbp_drop * rng.uniform(0.55, 0.75)
    hr = rng.uniform(38.0, 48.0) if deep else rng.uniform(48.0, 58.0)
    ramp = rng.uniform(20.0, 45.0)
    if u < rates.vasovagal:
        drops = {"sbp_drop": sbp_drop, "dbp_drop": dbp_drop}
        out.append(Episode("vasovagal", start, duration, ramp, hr_target=hr, **drops))
    # Tachycardia: anxiety or dissociation during the infusion, 1–6 min.
    u, severe_u = rng.random(), rng.random()
    start = rng.uniform(infusion_start_s + 120.0, infusion_end_s + 600.0)
    deep = severe_u < rates.tachycardia_severe
    duration = rng.uniform(150.0, 360.0) if deep else rng.uniform(60.0, 360.0)
    hr = rng.uniform(148.0, 160.0) if deep else rng.uniform(112.0, 134.0)
    ramp = rng.uniform(20.0, 40.0)
    if u < rates.tachycardia:
        out.append(Episode("tachycardia", start, duration, ramp, hr_target=hr))
    return out


@dataclass(slots=True)
class EpisodeEffect:
    """What the active episodes do at one moment (``None``: untouched)."""

    bp_drop: tuple[float, float] = (0.0, 0.0)
    hr: tuple[float, float] | None = None  # (target, weight)
    spo2: tuple[float, float] | None = None
    spo2_drop: float = 0.0
    rr: tuple[float, float] | None = None
    etco2_rise: float = 0.0
    apnoea: bool = False


def effect(episodes: list[Episode], t: float) -> EpisodeEffect | None:
    """The combined effect of ``episodes`` at ``t``; ``None`` when none acts (the usual case)."""
    out: EpisodeEffect | None = None
    for ep in episodes:
        if t < ep.start or t >= ep.end + 30.0:
            continue
        w = ep.weight(t)
        drop = ep.spo2_drop(t)
        if w <= 0.0 and drop <= 0.0:
            continue
        if out is None:
            out = EpisodeEffect()
        if ep.kind == "desaturation":
            out.spo2 = (ep.spo2_target, w)
            out.rr = (ep.rr_target, w)
            out.etco2_rise += w * ep.etco2_rise
        elif ep.kind == "apnoea":
            out.spo2_drop += drop
            if w > 0.0:
                out.apnoea = True
                out.rr = (0.0, 1.0)
        elif ep.kind == "vasovagal":
            out.bp_drop = (out.bp_drop[0] + w * ep.sbp_drop, out.bp_drop[1] + w * ep.dbp_drop)
            out.hr = (ep.hr_target, w)
        elif ep.kind == "tachycardia":
            out.hr = (ep.hr_target, w)
    return out


def blend(value: float, target: tuple[float, float] | None) -> float:
    if target is None:
        return value
    goal, w = target
    return (1.0 - w) * value + w * goal


__all__ = [
    "KINDS",
    "NO_EPISODES",
    "Episode",
    "EpisodeEffect",
    "EpisodeRates",
    "blend",
    "draw_episodes",
    "effect",
]
