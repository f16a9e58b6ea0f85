"""Check the patient model against the published ketamine series (reference/alarms.md §4).

``python -m simulator.validate [--n 1000] [--seed 1] [--plot docs/img/simulator-cohort.png]``
simulates a cohort of infusions drawn from a clinic population (``draw_clinic_patient``: ages,
weights, hypertension, doses 0.5–1 mg/kg), measures each on its cuff readings as the studies did,
prints the figures beside the published ones and exits 1 if one is out of its target range.

Definitions (all on successful cuff readings; the schedule is 3 baseline readings, then every
10 min from the start of the infusion and every 15 min after its end):

- baseline SBP/DBP: the mean of the pre-infusion readings; baseline HR: the mean heart rate at
  their times (the clean physiological HR, without oximeter artefacts).
- peak ΔSBP (ΔDBP): the highest SBP (DBP) from the start of the infusion to 30 min after its end,
  minus the baseline. Time of peak: when the highest-SBP reading was taken (min from the start).
- ΔHR: the heart rate at the peak-SBP reading minus the baseline HR.
- severe hypertension: a session with any reading >= 180 systolic or >= 110 diastolic.
- back to baseline: minutes from the end of the infusion to the first later reading with both SBP
  and DBP within 10 mmHg of the baseline (the discharge check of alarms.md §5).
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from simulator.scenario import KetamineScenario, ScenarioConfig

#: Peak-search window after the end of the infusion.
PEAK_WINDOW_AFTER_END_S = 1800.0
BACK_TO_BASELINE_MMHG = 10.0


@dataclass(frozen=True, slots=True)
class SessionMetrics:
    age: float
    hypertension: bool
    dose_mg_kg: float
    d_sbp: float
    d_dbp: float
    d_hr: float
    peak_min: float
    severe: bool
    #: Minutes after the end; ``None``: not back by the end of the session.
    back_min: float | None


@dataclass(slots=True)
class CohortResult:
    n: int
    seed: int
    sessions: list[SessionMetrics]
    #: Minutes from the start of the infusion -> SBP and DBP readings of every session.
    curve: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)
    #: The same, as changes from each session's baseline.
    delta_curve: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)
    #: Mean ΔSBP of the cohort at the last recovery reading before end + 90 min.
    mean_d_sbp_at_90: float = 0.0


def measure(scenario: KetamineScenario) -> SessionMetrics:
    """One session's figures, on its cuff readings."""
    start, end = scenario.pump.start_s, scenario.pump.end_s
    readings = [r for r in scenario.cuff_readings() if not r.failed]
    base = [r for r in readings if r.end <= start]
    if not base:  # every baseline attempt failed: fall back on the model's resting values
        base_sbp, base_dbp = scenario.patient.sbp, scenario.patient.dbp
        base_hr = scenario.physiology.clean_hr(start)
    else:
        base_sbp = statistics.fmean(r.sbp for r in base)
        base_dbp = statistics.fmean(r.dbp for r in base)
        base_hr = statistics.fmean(scenario.physiology.clean_hr(r.end) for r in base)
    window = [r for r in readings if start <= r.start <= end + PEAK_WINDOW_AFTER_END_S]
    peak = max(window, key=lambda r: r.sbp)
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
    return SessionMetrics(
        age=scenario.patient.age,
        hypertension=scenario.patient.hypertension,
        dose_mg_kg=scenario.dose_mg_kg,
        d_sbp=peak.sbp - base_sbp,
        d_dbp=max(r.dbp for r in window) - base_dbp,
        d_hr=scenario.physiology.clean_hr(peak.end) - base_hr,
        peak_min=(peak.start - start) / 60.0,
        severe=any(r.sbp >= 180 or r.dbp >= 110 for r in readings),
        back_min=back,
    )


def run_cohort(n: int = 1000, seed: int = 1) -> CohortResult:
    """``n`` infusions, each a patient and dose drawn from the clinic population."""
    seeds = random.Random(seed)
    config = ScenarioConfig(name="cohort")
    result = CohortResult(n=n, seed=seed, sessions=[])
    curve: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    delta: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    at_90: list[float] = []
    for _ in range(n):
        scenario = KetamineScenario(config, seed=seeds.getrandbits(32))
        metrics = measure(scenario)
        result.sessions.append(metrics)
        start, end = scenario.pump.start_s, scenario.pump.end_s
        good = [r for r in scenario.cuff_readings() if not r.failed]
        base = [r for r in good if r.end <= start]
        base_sbp = statistics.fmean(r.sbp for r in base) if base else scenario.patient.sbp
        base_dbp = statistics.fmean(r.dbp for r in base) if base else scenario.patient.dbp
        for r in good:
            minute = round((r.start - start) / 60.0)
            curve[minute][0].append(r.sbp)
            curve[minute][1].append(r.dbp)
            delta[minute][0].append(r.sbp - base_sbp)
            delta[minute][1].append(r.dbp - base_dbp)
        late = [r for r in good if r.start - end <= 5400.0]
        if late:
            at_90.append(late[-1].sbp - base_sbp)
    result.curve = dict(sorted(curve.items()))
    result.delta_curve = dict(sorted(delta.items()))
    result.mean_d_sbp_at_90 = statistics.fmean(at_90) if at_90 else 0.0
    return result


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    simulated: str
    published: str
    target: str
    ok: bool


def rows(result: CohortResult) -> list[Row]:
    s = result.sessions
    d_sbp = [m.d_sbp for m in s]
    d_dbp = [m.d_dbp for m in s]
    d_hr = [m.d_hr for m in s]
    peak = [m.peak_min for m in s]
    severe = 100.0 * sum(m.severe for m in s) / len(s)
    back = [m.back_min for m in s]
    back_90 = 100.0 * sum(b is not None and b <= 90.0 for b in back) / len(s)
    back_known = sorted(b for b in back if b is not None)
    back_p95 = back_known[int(0.95 * (len(back_known) - 1))] if back_known else float("nan")
    m_sbp, sd_sbp = statistics.fmean(d_sbp), statistics.stdev(d_sbp)
    m_dbp, sd_dbp = statistics.fmean(d_dbp), statistics.stdev(d_dbp)
    m_hr, m_peak, med_peak = statistics.fmean(d_hr), statistics.fmean(peak), statistics.median(peak)
    return [
        Row(
            "mean peak ΔSBP (SD), mmHg",
            f"{m_sbp:+.1f} ({sd_sbp:.1f})",
            "+3.3 Riva-Posse; +7.4 741-cohort; +12.6 Vankawala; +16.0 (11.2) Yale",
            "+7…+16 (SD ≈ 11)",
            7.0 <= m_sbp <= 16.0 and 8.5 <= sd_sbp <= 14.0,
        ),
        Row(
            "mean peak ΔDBP (SD), mmHg",
            f"{m_dbp:+.1f} ({sd_dbp:.1f})",
            "+3.2 Riva-Posse; +6.0 741-cohort; +8.5 Vankawala; +11.0 (8.5) Yale",
            "+6…+11 (SD ≈ 8.5)",
            6.0 <= m_dbp <= 11.0 and 6.0 <= sd_dbp <= 11.0,
        ),
        Row(
            "mean ΔHR at the peak, bpm",
            f"{m_hr:+.1f}",
            "+1.9 741-cohort; +4.1 Vankawala; 'small' Szarmach",
            "0…+4",
            0.0 <= m_hr <= 4.0,
        ),
        Row(
            "time of peak, min (mean / median)",
            f"{m_peak:.1f} / {med_peak:.0f}",
            "30 Riva-Posse; 30–40 741-cohort; 40 Yale",
            "30…40",
            30.0 <= m_peak <= 40.0 and 30.0 <= med_peak <= 40.0,
        ),
        Row(
            "sessions with a reading ≥ 180/110",
            f"{severe:.2f} %",
            "0.98 % Yale",
            "0.5…2 %",
            0.5 <= severe <= 2.0,
        ),
        Row(
            "back to baseline after the end, min (mean / P95)",
            f"{statistics.fmean(back_known):.0f} / {back_p95:.0f}" if back_known else "never",
            "within 90 Szarmach; during monitoring Riva-Posse",
            "P95 ≤ 90",
            back_p95 <= 90.0,
        ),
        Row(
            "sessions back within 90 min of the end",
            f"{back_90:.1f} %",
            "all (Szarmach, 49 pts)",
            "≥ 95 %",
            back_90 >= 95.0,
        ),
        Row(
            "cohort mean ΔSBP at end + 90 min, mmHg",
            f"{result.mean_d_sbp_at_90:+.1f}",
            "baseline",
            "within ±2",
            abs(result.mean_d_sbp_at_90) <= 2.0,
        ),
    ]


def format_table(result: CohortResult) -> str:
    s = result.sessions
    older = 100.0 * sum(m.age >= 50 for m in s) / len(s)
    htn = 100.0 * sum(m.hypertension for m in s) / len(s)
    dose = statistics.fmean(m.dose_mg_kg for m in s)
    lines = [
        f"Simulated cohort: {result.n} infusions, seed {result.seed}; age ≥ 50: {older:.0f} %, "
        f"hypertension: {htn:.0f} %, mean dose {dose:.2f} mg/kg",
        "",
        "| figure | simulated | published (reference/alarms.md §4) | target | ok |",
        "|---|---|---|---|---|",
    ]
    for row in rows(result):
        mark = "yes" if row.ok else "NO"
        lines.append(f"| {row.label} | {row.simulated} | {row.published} | {row.target} | {mark} |")
    return "\n".join(lines)


def plot(result: CohortResult, path: Path) -> None:
    """Mean SBP and DBP at each reading time with a ±1 SD band, as measured and as changes from
    each session's baseline (needs the ``validate`` extra)."""
    # Imported by name, lazily: matplotlib is an optional extra, never a simulator dependency.
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=90)
    panels = (
        (axes[0], result.curve, "mmHg", "cuff readings"),
        (axes[1], result.delta_curve, "change from baseline, mmHg", "change from own baseline"),
    )
    for ax, curve, ylabel, title in panels:
        minutes = list(curve)
        for index, (label, colour) in enumerate((("SBP", "tab:red"), ("DBP", "tab:blue"))):
            values = [curve[m][index] for m in minutes]
            mean = [statistics.fmean(v) for v in values]
            sd = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
            lower = [m - d for m, d in zip(mean, sd, strict=True)]
            upper = [m + d for m, d in zip(mean, sd, strict=True)]
            ax.plot(minutes, mean, marker="o", ms=3, color=colour, label=f"{label} mean")
            ax.fill_between(minutes, lower, upper, color=colour, alpha=0.18, label="±1 SD")
        ax.axvspan(0, 40, color="0.88", zorder=0, label="infusion")
        ax.set_xlabel("minutes from the start of the infusion")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[1].axhline(0.0, color="0.4", lw=0.8)
    axes[0].legend(fontsize=8, ncol=3, loc="lower center")
    fig.suptitle(f"Simulated cohort: {result.n} ketamine infusions (seed {result.seed})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.validate",
        description="Compare a simulated cohort of ketamine infusions with the published series.",
    )
    parser.add_argument("--n", type=int, default=1000, help="infusions to simulate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plot", type=Path, default=None, help="write the cohort curve (PNG)")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be at least 2")
    result = run_cohort(args.n, args.seed)
    print(format_table(result))
    if args.plot is not None:
        try:
            plot(result, args.plot)
        except ImportError:
            print("--plot needs matplotlib: pip install 'vigil[validate]'", file=sys.stderr)
            return 2
        print(f"\nplot: {args.plot}")
    return 0 if all(row.ok for row in rows(result)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
