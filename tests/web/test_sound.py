"""The audible alarm signals, checked without audio hardware.

The tablet plays the service's annunciation table (service/alarms/annunciation.py), which the
bedside annunciator plays too. The page's own synthesis code (web/js/sound.js) renders a burst
of a table row into an OfflineAudioContext in the real browser; the tests measure the samples
(pulse onsets and lengths, the harmonics: IEC 60601-1-8, reference §2) against the table, check
that the row the tablet plays for a live HIGH alarm is the one its snapshot brought and the one
the bedside annunciator synthesises, and that the tablet sounds what the service marks audible.
"""

from __future__ import annotations

import io
import json
import math
import wave
from array import array
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocket

from service import serialize
from service.alarms.model import Priority
from service.platform.annunciator import Annunciator, NullBackend, synthesise
from tests.support import RunningServer, RunningSimulator
from tests.web.browsing import sign_in, wait_js
from tests.web.test_alarm_workflow import hypertensive_bed

pytestmark = pytest.mark.browser

RATE = 44100
WINDOW_S = 0.005
TABLE = serialize.annunciation_table()


def render(page: Page, pattern: dict[str, Any]) -> dict[str, list[float]]:
    """Render one burst of ``pattern`` (a table row) with the page's code; bring back the peak
    level of each 5 ms window (for timing) and the samples of the first pulse between its rise
    and its fall (for the spectrum)."""
    onset, length = pattern["pulses"][0]
    edge = length * pattern["rise_fall"] + 0.002
    steady = [onset + edge, length - 2 * edge]
    rendered: dict[str, list[float]] = page.evaluate(
        """async ([pattern, rate, window, [from, span]]) => {
            const sound = await import("/js/sound.js");
            const samples = await sound.renderBurst(pattern, rate);
            const n = Math.round(rate * window);
            const peaks = [];
            for (let i = 0; i < samples.length; i += n) {
                let peak = 0;
                for (let j = i; j < Math.min(i + n, samples.length); j++) {
                    peak = Math.max(peak, Math.abs(samples[j]));
                }
                peaks.push(peak);
            }
            const start = Math.round(from * rate);
            const end = start + Math.round(span * rate);
            return {peaks, pulse: Array.from(samples.slice(start, end))};
        }""",
        [pattern, RATE, WINDOW_S, steady],
    )
    return rendered


def pulses(peaks: list[float], threshold: float) -> list[tuple[float, float]]:
    """(start, length) in seconds of each pulse: windows louder than ``threshold``."""
    found: list[tuple[float, float]] = []
    start = None
    for i, peak in enumerate([*peaks, 0.0]):
        if peak > threshold and start is None:
            start = i
        elif peak <= threshold and start is not None:
            found.append((start * WINDOW_S, (i - start) * WINDOW_S))
            start = None
    return found


def wav_pulses(data: bytes) -> list[tuple[float, float]]:
    """The pulses of a WAV file made by the bedside annunciator, measured the same way."""
    with wave.open(io.BytesIO(data), "rb") as wav:
        rate = wav.getframerate()
        samples = array("h", wav.readframes(wav.getnframes()))
    win = round(rate * WINDOW_S)
    peaks = [max(abs(s) for s in samples[i : i + win]) for i in range(0, len(samples), win)]
    return pulses([p / 32768 for p in peaks], 0.05)


def level_db(samples: list[float], freq: float) -> float:
    """Goertzel: the level of one frequency in ``samples``, in dB."""
    coeff = 2 * math.cos(2 * math.pi * freq / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 10 * math.log10(max(power, 1e-20))


def assert_plays(measured: list[tuple[float, float]], row: dict[str, Any]) -> None:
    """The measured pulses are the row's: same count, onsets and lengths within 10 ms."""
    expected = row["pulses"]
    assert len(measured) == len(expected), (measured, expected)
    for (onset, length), (want_onset, want_length) in zip(measured, expected, strict=True):
        assert onset == pytest.approx(want_onset, abs=0.011), (measured, expected)
        assert length == pytest.approx(want_length, abs=0.011), (measured, expected)


@pytest.fixture
def sound_page(page: Page, serve: Callable[..., RunningServer]) -> Page:
    server = serve(devices=[])
    page.goto(server.url)  # the sign-in screen is enough: the modules are served either way
    return page


@pytest.mark.parametrize("priority", ["high", "medium", "low"])
def test_the_page_plays_each_row_of_the_service_table(sound_page: Page, priority: str) -> None:
    row = TABLE[priority]
    assert_plays(pulses(render(sound_page, row)["peaks"], 0.05), row)


@pytest.mark.parametrize("priority", ["high", "medium", "low"])
def test_pulses_have_the_fundamental_and_four_harmonics_within_15_db(
    sound_page: Page, priority: str
) -> None:
    row = TABLE[priority]
    f0 = row["fundamental_hz"]
    assert 150 <= f0 <= 1000
    pulse = render(sound_page, row)["pulse"]
    levels = [level_db(pulse, f0 * k) for k in range(1, 6)]
    assert len([f0 * k for k in range(2, 6) if 300 <= f0 * k <= 4000]) >= 4
    assert max(levels) - min(levels) <= 15, levels
    # And not just noise: a frequency between harmonics is far below.
    assert level_db(pulse, f0 * 1.5) < min(levels) - 10


def test_the_fallback_before_the_first_snapshot_is_the_service_medium_row(
    sound_page: Page,
) -> None:
    fallback = sound_page.evaluate("async () => (await import('/js/sound.js')).FALLBACK_MEDIUM")
    assert fallback == TABLE["medium"]


def test_a_high_alarm_plays_the_snapshot_table_which_the_bedside_annunciator_plays(
    page: Page,
    simulated: Callable[..., RunningSimulator],
    serve: Callable[..., RunningServer],
) -> None:
    server = hypertensive_bed(simulated, serve)
    frames: list[str] = []

    def listen(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", listen)
    sign_in(page, server, "sitter")
    page.goto(server.url)
    wait_js(page, "window.__vigilSound.priority === 'high'", timeout=15_000)
    played: dict[str, Any] = page.evaluate("window.__vigilSound.pattern")

    snapshot = next(m for m in map(json.loads, frames) if m["type"] == "snapshot")
    bedside = Annunciator(NullBackend()).patterns[Priority.HIGH]
    assert played == snapshot["annunciation_table"]["high"]
    assert played == serialize.annunciation_table({Priority.HIGH: bedside})["high"]
    # And it sounds the same: the tablet's rendering and the bedside's WAV have the same pulses.
    tablet = pulses(render(page, played)["peaks"], 0.05)
    assert_plays(tablet, played)
    assert_plays(wav_pulses(synthesise(bedside)), played)


def test_the_page_sounds_what_the_service_marks_audible(sound_page: Page) -> None:
    """The page applies no pause or signal rule of its own: `audible` (the service's engine)
    decides, the highest audible priority sounds."""
    decide = """async (alarms) => {
        const s = await import('/js/state.js');
        s.state.alarms = new Map(alarms.map((a) => [a.key, a]));
        const said = alarms.filter((a) => 'audible' in a);
        s.state.audible = new Map(said.map((a) => [a.id, a.audible]));
        const decision = s.audibleNow();
        s.state.alarms = new Map();
        s.state.audible = new Map();
        return decision;
    }"""

    def sound(*alarms: dict[str, Any]) -> tuple[str | None, list[str]]:
        decision: dict[str, Any] = sound_page.evaluate(decide, list(alarms))
        return decision["priority"], decision["ids"]

    high = {"id": "h", "key": "bp_high", "priority": "high", "signal": "on", "audible": True}
    medium = {"id": "m", "key": "spo2_low", "priority": "medium", "signal": "on", "audible": True}
    low = {"id": "l", "key": "rr_low", "priority": "low", "signal": "on", "audible": True}
    assert sound(medium, high, low) == ("high", ["h"])
    # An audio pause covering HIGH: the service says so; the page does not look at the pause.
    assert sound({**high, "audible": False}, medium) == ("medium", ["m"])
    assert sound({**high, "audible": False}, {**medium, "audible": False}) == (None, [])
    # Not yet answered for (a new alarm's message carries no `audible`): silent until it is.
    assert sound({k: v for k, v in high.items() if k != "audible"}) == (None, [])
