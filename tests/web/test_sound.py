"""The audible alarm signals, checked without audio hardware.

The page's own synthesis code (web/js/sound.js) renders a burst into an OfflineAudioContext in
the real browser; the test measures the samples: pulse count, pulse length, the gaps of the
HIGH pattern's 3+2 grouping, and the harmonics (IEC 60601-1-8, reference §2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.support import RunningServer

pytestmark = pytest.mark.browser

RATE = 44100


WINDOW_S = 0.005


def render(page: Page, priority: str) -> dict[str, list[float]]:
    """Render one burst with the page's code; bring back the peak level of each 5 ms window
    (for timing) and 100 ms of samples from inside the first pulse (for the spectrum)."""
    rendered: dict[str, list[float]] = page.evaluate(
        """async ([priority, rate, window]) => {
            const sound = await import("/js/sound.js");
            const samples = await sound.renderBurst(priority, rate);
            const n = Math.round(rate * window);
            const peaks = [];
            for (let i = 0; i < samples.length; i += n) {
                let peak = 0;
                for (let j = i; j < Math.min(i + n, samples.length); j++) {
                    peak = Math.max(peak, Math.abs(samples[j]));
                }
                peaks.push(peak);
            }
            const start = Math.round(0.03 * rate);  // past the first pulse's rise
            return {peaks, pulse: Array.from(samples.slice(start, start + Math.round(0.1 * rate)))};
        }""",
        [priority, RATE, WINDOW_S],
    )
    return rendered


def pulses(peaks: list[float]) -> list[tuple[float, float]]:
    """(start, length) in seconds of each pulse."""
    found: list[tuple[float, float]] = []
    start = None
    for i, peak in enumerate([*peaks, 0.0]):
        if peak > 0.05 and start is None:
            start = i
        elif peak <= 0.05 and start is not None:
            found.append((start * WINDOW_S, (i - start) * WINDOW_S))
            start = None
    return found


def level_db(samples: list[float], freq: float) -> float:
    """Goertzel: the level of one frequency in ``samples``, in dB."""
    coeff = 2 * math.cos(2 * math.pi * freq / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 10 * math.log10(max(power, 1e-20))


@pytest.fixture
def sound_page(page: Page, serve: Callable[..., RunningServer]) -> Page:
    server = serve(devices=[])
    page.goto(server.url)  # the sign-in screen is enough: the modules are served either way
    return page


def test_bursts_follow_the_iec_pulse_patterns(sound_page: Page) -> None:
    high = pulses(render(sound_page, "high")["peaks"])
    assert len(high) == 10
    assert all(0.13 <= length <= 0.17 for _, length in high), high
    gaps = [b[0] - a[0] for a, b in pairwise(high)]
    # 3 + 2, a longer pause, 3 + 2: start-to-start 250 ms inside a group, longer between.
    short, long_ = [gaps[i] for i in (0, 1, 3, 5, 6, 8)], [gaps[2], gaps[7]]
    assert all(abs(g - 0.25) < 0.011 for g in short), gaps
    assert all(g > 0.4 for g in long_), gaps
    assert gaps[4] > 0.9, gaps  # between the two halves

    medium = pulses(render(sound_page, "medium")["peaks"])
    assert len(medium) == 3
    assert all(0.18 <= length <= 0.22 for _, length in medium), medium

    low = pulses(render(sound_page, "low")["peaks"])
    assert 1 <= len(low) <= 2


def test_pulses_have_a_fundamental_and_four_harmonics_within_15_db(sound_page: Page) -> None:
    patterns: dict[str, Any] = sound_page.evaluate(
        "async () => (await import('/js/sound.js')).PATTERNS"
    )
    for priority in ("high", "medium", "low"):
        f0 = patterns[priority]["freq"]
        assert 150 <= f0 <= 1000
        pulse = render(sound_page, priority)["pulse"]
        levels = [level_db(pulse, f0 * k) for k in range(1, 6)]
        harmonics = [f0 * k for k in range(2, 6) if 300 <= f0 * k <= 4000]
        assert len(harmonics) >= 4
        assert max(levels) - min(levels) <= 15, (priority, levels)
        # And not just noise: a frequency between harmonics is far below.
        assert level_db(pulse, f0 * 1.5) < min(levels) - 10


def test_what_to_sound_follows_signal_state_and_audio_pause(sound_page: Page) -> None:
    now = datetime.now(UTC)
    later = (now + timedelta(seconds=60)).isoformat()
    earlier = (now - timedelta(seconds=1)).isoformat()
    decide = """async ([alarms, audio]) =>
        (await import('/js/sound.js')).whatToSound(alarms, audio, Date.now()).priority"""
    high = {"id": "a", "priority": "high", "signal": "on"}
    medium = {"id": "b", "priority": "medium", "signal": "on"}
    acked_high = {**high, "signal": "acknowledged"}
    latched_high = {**high, "signal": "latched"}
    none: dict[str, Any] = {"paused_until": None, "paused_priority": None}

    def sound(alarms: list[dict[str, Any]], audio: dict[str, Any]) -> str | None:
        result: str | None = sound_page.evaluate(decide, [alarms, audio])
        return result

    assert sound([medium, high], none) == "high"
    assert sound([acked_high, medium], none) == "medium"
    assert sound([latched_high], none) is None
    # A pause covers alarms up to its priority; a higher one still sounds; an expired pause
    # covers nothing.
    assert sound([high, medium], {"paused_until": later, "paused_priority": "medium"}) == "high"
    assert sound([high, medium], {"paused_until": later, "paused_priority": "high"}) is None
    assert sound([medium], {"paused_until": earlier, "paused_priority": "high"}) == "medium"
