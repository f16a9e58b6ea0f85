"""Check the patient model against the published ketamine series — with a test that can fail.

``python -m simulator.validate [--n 1800] [--seed 1] [--plot docs/img/simulator-cohort.png]``
simulates the clinic cohort (``simulator.cohort``: patients from a clinic population, each over a
series of six infusions, with the pre-start BP gate and random clinical episodes) and, seed for
seed, a **no-drug negative control** (the same sessions with the drug's effect set to zero). Each
is measured on its cuff readings as the studies measured theirs (cuff every 10 min during the
infusion, every 15 min after). It prints one table per cohort and exits 1 if a row of the cohort
misses its target, or if the negative control passes a row that a drug effect must be needed to
pass (``size`` and ``shape`` rows): such a row would prove nothing.

Definitions (successful cuff readings only):

- baseline: the mean of the pre-infusion readings; ΔSBP/ΔDBP at a time: the reading at that time
  (interpolated between the two readings around it) minus the session's baseline;
- the mean curve: the cohort's mean ΔSBP at 10, 20, 30, 40, 60, 90 and 130 min from the start of
  the infusion; its *peak* is its largest value at the infusion readings (10–40 min), which is
  what the series report as the "largest mean increase" (Riva-Posse, the 741-infusion cohort,
  Yale);
- ΔHR: heart rate at 30 and 40 min minus the mean heart rate at the baseline readings;
- severe session: any reading ≥ 180 systolic or ≥ 110 diastolic (Yale);
- back to baseline: the first reading after the end with SBP and DBP both within 10 mmHg of the
  baseline (the discharge check of alarms.md §5).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from simulator.cohort import SERIES_LENGTH, CohortOptions, clinic_session
from simulator.physiology import CuffReading
from simulator.scenario import KetamineScenario
from simulator.truth import severe_episodes

#: Minutes from the start of the infusion at which the mean curve is compared.
CURVE_MINUTES = (10, 20, 30, 40, 60, 90, 130)
INFUSION_MINUTES = (10, 20, 30, 40)
PEAK_WINDOW_AFTER_END_S = 1800.0
BACK_TO_BASELINE_MMHG = 10.0
#: The smallest published "largest mean increase" (Riva-Posse 2018): a curve whose peak is lower
#: has no shape to check.
SMALLEST_PUBLISHED_PEAK = 3.3

SOURCES = {
    "R": "Riva-Posse 2018, J Affect Disord 236:291 (684 infusions)",
    "C": "741-infusion cohort of repeated infusions (reference/alarms.md §4)",
    "Y": "Yale, Gen Hosp Psychiatry 2024 (138 patients, 2342 infusions)",
    "V": "Vankawala 2021 meta-analysis, Front Psychiatry 12:549080",
    "S": "Szarmach 2020, Neuropsychiatr Dis Treat 16:2539",
    "M": "Muntner 2012, J Clin Hypertens 14:165 (NHANES III within-visit SD)",
    "T": "TROPHY visit-to-visit SD, J Clin Hypertens 2012;14:744",
    "K": "Campbell 1992, Arch Intern Med 152:139 (automated repeat differences)",
}


@dataclass(frozen=True, slots=True)
class SessionMetrics:
    patient_id: int
    infusion_number: int
    age: float
    hypertension: bool
    dose_mg_kg: float
    override: bool
    deferred: int
    #: Minute -> (ΔSBP, ΔDBP), interpolated between readings; missing when not bracketed.
    delta: dict[int, tuple[float, float]]
    #: Minute -> ΔHR (30 and 40 min).
    d_hr: dict[int, float]
    #: The highest SBP reading minus the baseline (the "peak of readings": biased upwards by
    #: noise, shown for information).
    peak_of_readings: float
    #: SD of the baseline readings (within-session repeatability at rest); ``None`` if < 2.
    baseline_sd: float | None
    severe: bool
    #: Minutes after the end; ``None``: not back by the end of the session.
    back_min: float | None
    #: Kinds of the random clinical episodes drawn, and those severe by the true state.
    episodes: tuple[str, ...] = ()
    severe_truth: tuple[str, ...] = ()


@dataclass(slots=True)
class CohortResult:
    n: int
    seed: int
    drug: bool
    sessions: list[SessionMetrics] = field(default_factory=list)

    def curve(self, index: int) -> dict[int, list[float]]:
        """Minute -> every session's ΔSBP (index 0) or ΔDBP (1) at that minute."""
        out: dict[int, list[float]] = defaultdict(list)
        for m in self.sessions:
            for minute, values in m.delta.items():
                out[minute].append(values[index])
        return dict(sorted(out.items()))

    def mean_curve(self, index: int = 0) -> dict[int, float]:
        return {k: statistics.fmean(v) for k, v in self.curve(index).items() if v}


def _interpolate(points: list[tuple[float, float, float]], minute: float) -> tuple[float, float]:
    """(ΔSBP, ΔDBP) at ``minute`` from (minute, ΔSBP, ΔDBP) points; raises if not bracketed."""
    for m, s, d in points:
        if abs(m - minute) <= 1.0:
            return s, d
    for (m0, s0, d0), (m1, s1, d1) in pairwise(points):
        if m0 < minute < m1 and m1 - m0 <= 31.0:
            w = (minute - m0) / (m1 - m0)
            return s0 + w * (s1 - s0), d0 + w * (d1 - d0)
    raise LookupError(minute)


def measure(scenario: KetamineScenario, **extra: object) -> SessionMetrics:
    """One session's figures, on its cuff readings."""
    start, end = scenario.pump.start_s, scenario.pump.end_s
    readings: list[CuffReading] = [r for r in scenario.cuff_readings() if not r.failed]
    base = [r for r in readings if r.end <= start]
    if not base:  # every baseline attempt failed: fall back on the model's resting values
        base_sbp, base_dbp = scenario.patient.sbp, scenario.patient.dbp
        base_hr = scenario.physiology.clean_hr(start)
    else:
        base_sbp = statistics.fmean(r.sbp for r in base)
        base_dbp = statistics.fmean(r.dbp for r in base)
        base_hr = statistics.fmean(scenario.physiology.clean_hr(r.end) for r in base)
    after = [r for r in readings if r.start >= start]
    points = [((r.start - start) / 60.0, r.sbp - base_sbp, r.dbp - base_dbp) for r in after]
    delta: dict[int, tuple[float, float]] = {}
    for minute in CURVE_MINUTES:
        with contextlib.suppress(LookupError):
            delta[minute] = _interpolate(points, minute)
    d_hr = {m: scenario.physiology.clean_hr(start + 60.0 * m) - base_hr for m in (30, 40)}
    window = [r for r in after if r.start <= end + PEAK_WINDOW_AFTER_END_S]
    peak = max((r.sbp for r in window), default=base_sbp) - base_sbp
    back = next(
        (
            (r.start - end) / 60.0
            for r in readings
            if r.start > end
            and r.sbp <= base_sbp + BACK_TO_BASELINE_MMHG
            and r.dbp <= base_dbp + BACK_TO_BASELINE_MMHG
        ),
        None,
    )
    episodes = scenario.config.episodes
    truth: set[str] = set()
    for ep in episodes:
        for found in severe_episodes(scenario.truth, ep.start - 60.0, ep.end + 120.0, 2.0):
            truth.add(found.kind)
    return SessionMetrics(
        patient_id=int(extra.get("patient_id", 0)),  # type: ignore[call-overload]
        infusion_number=scenario.config.infusion_number,
        age=scenario.patient.age,
        hypertension=scenario.patient.hypertension,
        dose_mg_kg=scenario.dose_mg_kg,
        override=bool(extra.get("override", False)),
        deferred=int(extra.get("deferred", 0)),  # type: ignore[call-overload]
        delta=delta,
        d_hr=d_hr,
        peak_of_readings=peak,
        baseline_sd=statistics.stdev(r.sbp for r in base) if len(base) >= 2 else None,
        severe=any(r.sbp >= 180 or r.dbp >= 110 for r in readings),
        back_min=back,
        episodes=tuple(sorted({e.kind for e in episodes})),
        severe_truth=tuple(sorted(truth)),
    )


def run_cohort(n: int = 1800, seed: int = 1, *, drug: bool = True) -> CohortResult:
    """``n`` sessions of the clinic cohort ``seed`` (``drug=False``: the negative control)."""
    options = CohortOptions(drug=drug)
    result = CohortResult(n=n, seed=seed, drug=drug)
    for index in range(n):
        session = clinic_session(seed, index, options)
        result.sessions.append(
            measure(
                session.scenario,
                patient_id=session.patient_id,
                override=session.override,
                deferred=session.deferred,
            )
        )
    return result


# ---------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    simulated: str
    published: str
    target: str
    #: ``None``: shown for information, no target.
    ok: bool | None
    #: "size" and "shape": need a drug effect (the negative control must fail them);
    #: "consistency" and "events": do not depend on the drug; "info": no target.
    kind: str


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def rows(result: CohortResult) -> list[Row]:
    s = result.sessions
    sbp, dbp = result.mean_curve(0), result.mean_curve(1)
    during = {m: sbp.get(m, 0.0) for m in INFUSION_MINUTES}
    peak_minute = max(during, key=lambda m: during[m])
    peak = during[peak_minute]
    peak_dbp = max(dbp.get(m, 0.0) for m in INFUSION_MINUTES)
    at40 = result.curve(0).get(40, [0.0, 0.0])
    at40_dbp = result.curve(1).get(40, [0.0, 0.0])
    sd40, sd40_dbp = statistics.stdev(at40), statistics.stdev(at40_dbp)
    d_hr = statistics.fmean(statistics.fmean((m.d_hr[30], m.d_hr[40])) for m in s)
    severe = [m for m in s if m.severe]
    severe_pct = _pct(len(severe), len(s))
    by_patient: dict[int, list[SessionMetrics]] = defaultdict(list)
    for m in s:
        by_patient[m.patient_id].append(m)
    whole = [v for v in by_patient.values() if len(v) == SERIES_LENGTH]
    patients_pct = _pct(sum(any(m.severe for m in v) for v in whole), len(whole))
    early = _pct(sum(m.infusion_number <= 3 for m in severe), len(severe))
    has_peak = peak >= SMALLEST_PUBLISHED_PEAK

    def share(minute: int) -> float:
        return sbp.get(minute, 0.0) / peak if peak > 0 else 0.0

    back = [m.back_min for m in s]
    back_90 = _pct(sum(b is not None and b <= 90.0 for b in back), len(s))
    sds = [m.baseline_sd for m in s if m.baseline_sd is not None]
    within_sd = statistics.fmean(v * v for v in sds) ** 0.5 if sds else 0.0
    peaks = [m.peak_of_readings for m in s]

    def rise(group: list[SessionMetrics]) -> float:
        values = [statistics.fmean((m.delta[30][0], m.delta[40][0])) for m in group]
        return statistics.fmean(values) if values else 0.0

    bracketed = [m for m in s if 30 in m.delta and 40 in m.delta]
    first = rise([m for m in bracketed if m.infusion_number == 1])
    later = rise([m for m in bracketed if m.infusion_number > 1])
    out = [
        Row(
            "peak of the mean ΔSBP curve, mmHg",
            f"{peak:+.1f} at {peak_minute} min",
            "+3.3 at 30 min [R]; +7.4 at 30–40 [C]; +12.6 [V]; +16.0 at 40 [Y]",
            "+3.3…+16.0",
            3.3 <= peak <= 16.0,
            "size",
        ),
        Row(
            "peak of the mean ΔDBP curve, mmHg",
            f"{peak_dbp:+.1f}",
            "+3.2 [R]; +6.0 [C]; +8.5 [V]; +11.0 [Y]",
            "+3.2…+11.0",
            3.2 <= peak_dbp <= 11.0,
            "size",
        ),
        Row(
            "SD of ΔSBP at 40 min, mmHg",
            f"{sd40:.1f}",
            "11.2 at the peak, at a mean of +16 [Y]",
            "7.5…14.0 (noise alone: ~6.5)",
            7.5 <= sd40 <= 14.0,
            "size",
        ),
        Row(
            "SD of ΔDBP at 40 min, mmHg",
            f"{sd40_dbp:.1f}",
            "8.45 at the peak, at a mean of +11 [Y]",
            "5.5…11.0 (noise alone: ~4.5)",
            5.5 <= sd40_dbp <= 11.0,
            "size",
        ),
        Row(
            "mean ΔHR at 30–40 min, bpm",
            f"{d_hr:+.1f}",
            "+1.9 [C]; +4.1 [V]; 'small' [S]",
            "+1.0…+5.0",
            1.0 <= d_hr <= 5.0,
            "size",
        ),
        Row(
            "sessions with a reading ≥ 180/110",
            f"{severe_pct:.2f} % ({len(severe)})",
            "0.98 % of sessions [Y]",
            "0.5…2.0 %",
            0.5 <= severe_pct <= 2.0,
            "size",
        ),
        Row(
            "patients with a severe session in six infusions",
            f"{patients_pct:.1f} % of {len(whole)}",
            "12.5 % of patients over a mean of 17 infusions each [Y]",
            "3…12.5 % (six infusions, fewer chances)",
            3.0 <= patients_pct <= 12.5,
            "size",
        ),
        Row(
            "severe sessions that are infusions 1–3 of 6",
            f"{early:.0f} %",
            "43.4 % in infusions 1–3 of a mean of 17 [Y]: ~3.6× the later rate",
            "55…90 % (needs ≥ 0.5 % severe)",
            severe_pct >= 0.5 and 55.0 <= early <= 90.0,
            "size",
        ),
        Row(
            "mean curve: peak time",
            f"{peak_minute} min",
            "30 [R]; 30–40 [C]; 40 [Y]",
            "30 or 40 min (with a peak ≥ +3.3)",
            has_peak and peak_minute in (30, 40),
            "shape",
        ),
        Row(
            "mean curve at 10 min, % of peak",
            f"{sbp.get(10, 0.0):+.1f} ({100 * share(10):.0f} %)",
            "rises within ~10 min (reference/alarms.md §4 from [R][C][Y])",
            "35…90 %",
            has_peak and 0.35 <= share(10) <= 0.9,
            "shape",
        ),
        Row(
            "mean curve at 20 min, % of peak",
            f"{sbp.get(20, 0.0):+.1f} ({100 * share(20):.0f} %)",
            "still rising to the 30–40 min peak [R][C][Y]",
            "60…100 %",
            has_peak and 0.6 <= share(20) <= 1.0,
            "shape",
        ),
        Row(
            "mean curve at 60 min (20 after the end), % of peak",
            f"{sbp.get(60, 0.0):+.1f} ({100 * share(60):.0f} %)",
            "falling after the end, back during monitoring [R]",
            "15…80 %",
            has_peak and 0.15 <= share(60) <= 0.8,
            "shape",
        ),
        Row(
            "mean curve at 90 min (50 after the end), % of peak",
            f"{sbp.get(90, 0.0):+.1f} ({100 * share(90):.0f} %)",
            "back to baseline within 1.5 h of the end [S]",
            "≤ 35 %",
            has_peak and share(90) <= 0.35,
            "shape",
        ),
        Row(
            "mean ΔSBP at 130 min (90 after the end), mmHg",
            f"{sbp.get(130, 0.0):+.1f}",
            "baseline within 1.5 h [S]",
            "within ±2",
            abs(sbp.get(130, 0.0)) <= 2.0,
            "consistency",
        ),
        Row(
            "sessions back within 10 mmHg of baseline ≤ 90 min after the end",
            f"{back_90:.1f} %",
            "all (49 patients) [S]",
            "≥ 95 %",
            back_90 >= 95.0,
            "consistency",
        ),
        Row(
            "mean ΔSBP at 30–40 min: infusion 1 vs infusions 2–6, mmHg",
            f"{first:+.1f} vs {later:+.1f}",
            "no significant change from the 1st to the 2nd–6th [C]; no tolerance 1st–6th [R]",
            "within 2.5 mmHg",
            abs(first - later) <= 2.5,
            "consistency",
        ),
        Row(
            "within-session SD of resting cuff readings (SBP), mmHg",
            f"{within_sd:.1f}",
            "median ~3.5 (30 s apart, auscultatory) [M]; 5.6 over visits [T]; ~7 [K]",
            "4.0…7.0",
            4.0 <= within_sd <= 7.0,
            "consistency",
        ),
        Row(
            "highest reading − baseline (peak of readings), mmHg",
            f"{statistics.fmean(peaks):+.1f} (SD {statistics.stdev(peaks):.1f})",
            "not a published definition: noise alone lifts it (compare the control)",
            "—",
            None,
            "info",
        ),
    ]
    return out + _gate_and_event_rows(result)


def _gate_and_event_rows(result: CohortResult) -> list[Row]:
    s = result.sessions
    n = len(s)
    override = _pct(sum(m.override for m in s), n)
    deferred = sum(m.deferred for m in s)
    kinds = ("desaturation", "apnoea", "vasovagal", "tachycardia")
    drawn = {k: _pct(sum(k in m.episodes for m in s), n) for k in kinds}
    severe_kinds = ("desaturation", "apnoea", "hypotension", "tachycardia")
    truth = {k: _pct(sum(k in m.severe_truth for m in s), n) for k in severe_kinds}
    return [
        Row(
            "sessions started over the 140/90 gate with an override; days deferred",
            f"{override:.1f} %; {deferred} ({_pct(deferred, n):.1f} % of sessions)",
            "gate of alarms.md §5; override share: this simulator's assumption (30 %)",
            "—",
            None,
            "info",
        ),
        Row(
            "sessions with a desaturation / apnoea / vasovagal / tachycardia episode",
            " / ".join(f"{drawn[k]:.2f} %" for k in kinds),
            "configured 1.0 / 0.5 / 1.0 / 3.0 % (docs/simulator.md, mostly assumptions)",
            "each within 3 binomial SD (+1) of its rate",
            all(
                abs(drawn[k] * n / 100 - r * n) <= 3 * (r * n) ** 0.5 + 1
                for k, r in zip(kinds, (0.01, 0.005, 0.01, 0.03), strict=True)
            ),
            "events",
        ),
        Row(
            "severe by the true state: SpO2 < 85 / apnoea ≥ 30 s / MAP < 55 / HR > 140",
            " / ".join(f"{truth[k]:.2f} %" for k in severe_kinds),
            "ED ketamine (dissociative doses): hypoxia 1.9 %, apnoea 0.5 % (Bellolio 2016)",
            "each below the ED rate (2 % / 0.5 % / — / —)",
            truth["desaturation"] < 2.0 and truth["apnoea"] < 0.6,
            "events",
        ),
    ]


def format_table(result: CohortResult, title: str) -> str:
    s = result.sessions
    older = _pct(sum(m.age >= 50 for m in s), len(s))
    htn = _pct(sum(m.hypertension for m in s), len(s))
    dose = statistics.fmean(m.dose_mg_kg for m in s)
    patients = len({m.patient_id for m in s})
    lines = [
        f"{title}: {result.n} infusions ({patients} patients, series of {SERIES_LENGTH}), seed "
        f"{result.seed}; age ≥ 50: {older:.0f} %, hypertension: {htn:.0f} %, mean dose "
        f"{dose:.2f} mg/kg",
        "",
        "| figure | simulated | published | target | kind | ok |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows(result):
        mark = "—" if row.ok is None else "yes" if row.ok else "NO"
        lines.append(
            f"| {row.label} | {row.simulated} | {row.published} | {row.target} | {row.kind} "
            f"| {mark} |"
        )
    return "\n".join(lines)


DISCRIMINATING = ("size", "shape")


def verdict(cohort: CohortResult, control: CohortResult) -> tuple[bool, list[str]]:
    """(everything as it must be, what is wrong): every cohort row meets its target, and the
    negative control fails every row that needs a drug effect."""
    problems = [f"cohort misses: {r.label}" for r in rows(cohort) if r.ok is False]
    problems += [
        f"negative control passes (the row proves nothing): {r.label}"
        for r in rows(control)
        if r.kind in DISCRIMINATING and r.ok
    ]
    return not problems, problems


def plot(result: CohortResult, path: Path) -> None:
    """The mean ΔSBP/ΔDBP curve with a ±1 SD band (needs the ``validate`` extra)."""
    # Imported by name, lazily: matplotlib is an optional extra, never a simulator dependency.
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=90)
    for index, (label, colour) in enumerate((("ΔSBP", "tab:red"), ("ΔDBP", "tab:blue"))):
        curve = result.curve(index)
        minutes = list(curve)
        mean = [statistics.fmean(curve[m]) for m in minutes]
        sd = [statistics.stdev(curve[m]) if len(curve[m]) > 1 else 0.0 for m in minutes]
        lower = [m - d for m, d in zip(mean, sd, strict=True)]
        upper = [m + d for m, d in zip(mean, sd, strict=True)]
        ax.plot(minutes, mean, marker="o", ms=3, color=colour, label=f"{label} mean")
        ax.fill_between(minutes, lower, upper, color=colour, alpha=0.18, label="±1 SD")
    ax.axvspan(0, 40, color="0.88", zorder=0, label="infusion")
    ax.axhline(0.0, color="0.4", lw=0.8)
    ax.set_xlabel("minutes from the start of the infusion")
    ax.set_ylabel("change from own baseline, mmHg")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3, loc="upper right")
    fig.suptitle(f"Simulated cohort: {result.n} ketamine infusions (seed {result.seed})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.validate",
        description="Compare a simulated cohort of ketamine infusions with the published series, "
        "beside a no-drug negative control that must fail.",
    )
    parser.add_argument("--n", type=int, default=1800, help="infusions to simulate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plot", type=Path, default=None, help="write the cohort curve (PNG)")
    args = parser.parse_args(argv)
    if args.n < SERIES_LENGTH * 10:
        parser.error(f"--n must be at least {SERIES_LENGTH * 10}")
    cohort = run_cohort(args.n, args.seed)
    control = run_cohort(args.n, args.seed, drug=False)
    print(format_table(cohort, "Simulated cohort"))
    print()
    print(format_table(control, "Negative control (no drug effect, same sessions)"))
    print()
    print("Sources: " + "; ".join(f"[{k}] {v}" for k, v in SOURCES.items()))
    ok, problems = verdict(cohort, control)
    failed = [r for r in rows(cohort) if r.ok is False]
    print(f"\ncohort: {'PASS' if not failed else 'FAIL'} ({len(failed)} row(s) missed)")
    passed = [r for r in rows(control) if r.kind in DISCRIMINATING and r.ok]
    print(
        f"negative control: {'FAILS as it must' if not passed else 'PASSES'} "
        f"({len(passed)} drug-dependent row(s) passed without a drug)"
    )
    for problem in problems:
        print(f"  - {problem}")
    if args.plot is not None:
        try:
            plot(cohort, args.plot)
        except ImportError:
            print("--plot needs matplotlib: pip install 'vigil[validate]'", file=sys.stderr)
            return 2
        print(f"\nplot: {args.plot}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
