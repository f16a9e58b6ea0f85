"""The annunciation table: how each alarm priority sounds. Pure data, defined once.

The bedside unit's local annunciator (``service/platform/annunciator.py``) synthesises these
bursts, and every tablet receives the same table in the live socket's snapshot
(``annunciation_table``, shaped by ``service.serialize.annunciation_table``) and plays it with
Web Audio (``web/js/sound.js``): a HIGH alarm sounds the same at the bedside and on a tablet.

Bursts after IEC 60601-1-8:2006+A1:2012+A2:2020, auditory alarm signals (§6.3.3, Table 3 for
the burst and Table 4 for the pulse, as widely quoted: the standard is paywalled; docs/alarms.md
"Audible signals", ../shared/reference/alarms.md §2). The values are chosen inside the ranges
quoted from it; Vigil claims no conformity.

- HIGH: 10 pulses "3+2, pause, 3+2": pulse duration td 75-200 ms, pulse spacing x 50-125 ms,
  the space between the 3rd and 4th (and 8th and 9th) pulse 2x+td, between the two halves
  0.35-1.30 s; bursts repeat every 2.5-15 s.
- MEDIUM: 3 pulses, td 75-200 ms, x 125-250 ms; every 2.5-30 s.
- LOW: 1 or 2 pulses, td 125-250 ms, x 125-250 ms; once, or every 15 s or more.
- Every pulse: a fundamental between 150 and 1000 Hz with at least four harmonics in
  300-4000 Hz within 15 dB of it; rise and fall 10-20 % of the pulse. A higher priority is
  never lower in pitch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.alarms.model import Priority

#: Relative amplitudes of the fundamental and harmonics 2-5 (0 to -10.5 dB: within 15 dB).
HARMONICS = (1.0, 0.7, 0.5, 0.4, 0.3)
#: Rise and fall of each pulse, as a fraction of its duration (10-20 %).
RISE_FALL = 0.15


@dataclass(frozen=True, slots=True)
class Pattern:
    """One burst of an auditory alarm signal."""

    priority: Priority
    #: (onset, duration) of each pulse, seconds from the start of the burst.
    pulses: tuple[tuple[float, float], ...]
    fundamental_hz: float
    #: Amplitudes of the fundamental and its harmonics (1 = the fundamental).
    harmonics: tuple[float, ...]
    #: Silence from the end of one burst to the start of the next; None: the burst plays once.
    burst_interval_s: float | None
    #: Rise and fall time of each pulse, as a fraction of the pulse's duration.
    rise_fall: float = RISE_FALL

    @property
    def duration(self) -> float:
        onset, length = self.pulses[-1]
        return onset + length

    @property
    def period(self) -> float | None:
        """Start-to-start time of repeated bursts (None: not repeated)."""
        if self.burst_interval_s is None:
            return None
        return self.duration + self.burst_interval_s


def burst(
    priority: Priority,
    pulse_s: float,
    gaps: Sequence[float],
    fundamental_hz: float,
    burst_interval_s: float | None,
    harmonics: tuple[float, ...] = HARMONICS,
) -> Pattern:
    """A burst of ``len(gaps) + 1`` equal pulses separated by ``gaps`` (end to start)."""
    onsets = [0.0]
    for gap in gaps:
        onsets.append(onsets[-1] + pulse_s + gap)
    pulses = tuple((round(t, 6), pulse_s) for t in onsets)
    return Pattern(priority, pulses, fundamental_hz, harmonics, burst_interval_s)


_X_HIGH = 0.075  # pulse spacing x, HIGH: 50-125 ms
_TD_HIGH = 0.100  # pulse duration td, HIGH and MEDIUM: 75-200 ms
_X_LOW = 0.200  # pulse spacing x, MEDIUM and LOW: 125-250 ms
_TD_LOW = 0.200  # pulse duration td, LOW: 125-250 ms

#: The table. HIGH: pulses 1-2-3 (x), 2x+td, 4-5 (x), 0.35 s, 6-7-8 (x), 2x+td, 9-10 (x).
PATTERNS: dict[Priority, Pattern] = {
    Priority.HIGH: burst(
        Priority.HIGH,
        _TD_HIGH,
        [_X_HIGH, _X_HIGH, 2 * _X_HIGH + _TD_HIGH, _X_HIGH, 0.35]
        + [_X_HIGH, _X_HIGH, 2 * _X_HIGH + _TD_HIGH, _X_HIGH],
        660.0,
        2.7,  # 2.3 s burst + 2.7 s = every 5 s (burst interval 2.5-15 s)
    ),
    Priority.MEDIUM: burst(
        Priority.MEDIUM, 0.200, [_X_LOW, _X_LOW], 523.0, 9.0
    ),  # 1.0 s + 9 s = every 10 s (2.5-30 s)
    Priority.LOW: burst(Priority.LOW, _TD_LOW, [_X_LOW], 440.0, None),  # once
}
