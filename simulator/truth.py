"""Ground truth: the severe episodes a patient really had, read from the model's TRUE state.

An alarm system is judged against what happened to the patient, not against what its devices
measured. ``find_severe`` scans a sequence of ``TrueState`` values (``KetamineScenario.truth``)
for the severe episodes of issue #18:

| kind | condition on the true state | for at least |
|---|---|---|
| ``hypertension`` | SBP ≥ 180 or DBP ≥ 110 mmHg | 5 min |
| ``desaturation`` | SpO2 < 85 % | 30 s |
| ``hypotension`` | MAP < 55 mmHg | 1 min |
| ``apnoea`` | no breathing | 30 s |
| ``tachycardia`` | HR > 140 bpm | 1 min |

An episode starts when its condition starts (its *onset*, the start of the run that lasted long
enough) and ends when the condition ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simulator.physiology import TrueState

#: kind -> (condition, minimum duration in seconds)
SEVERE: dict[str, tuple[Callable[[TrueState], bool], float]] = {
    "hypertension": (lambda s: s.sbp >= 180.0 or s.dbp >= 110.0, 300.0),
    "desaturation": (lambda s: s.spo2 < 85.0, 30.0),
    "hypotension": (lambda s: s.map < 55.0, 60.0),
    "apnoea": (lambda s: s.apnoea, 30.0),
    "tachycardia": (lambda s: s.hr > 140.0, 60.0),
}


@dataclass(frozen=True, slots=True)
class SevereEpisode:
    kind: str
    #: Simulator seconds: when the condition started, and when it ended.
    onset: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.onset


def find_severe(
    times: Sequence[float], states: Sequence[TrueState], step: float
) -> list[SevereEpisode]:
    """Severe episodes in a trace sampled every ``step`` seconds (a run of n samples lasts
    n × step seconds)."""
    out: list[SevereEpisode] = []
    for kind, (condition, minimum) in SEVERE.items():
        run_start: float | None = None
        count = 0
        for t, state in zip(times, states, strict=True):
            if condition(state):
                if run_start is None:
                    run_start = t
                count += 1
                continue
            if run_start is not None and count * step >= minimum:
                out.append(SevereEpisode(kind, run_start, t))
            run_start, count = None, 0
        if run_start is not None and count * step >= minimum:
            out.append(SevereEpisode(kind, run_start, times[-1] + step))
    return sorted(out, key=lambda e: e.onset)


def severe_episodes(
    truth: Callable[[float], TrueState], start: float, end: float, step: float = 2.0
) -> list[SevereEpisode]:
    """Severe episodes of ``truth`` (e.g. ``KetamineScenario.truth``) over ``[start, end)``."""
    n = int((end - start) / step)
    times = [start + i * step for i in range(n)]
    return find_severe(times, [truth(t) for t in times], step)


__all__ = ["SEVERE", "SevereEpisode", "find_severe", "severe_episodes"]
