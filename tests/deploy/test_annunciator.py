"""service.platform.annunciator: IEC 60601-1-8 burst timing, the synthesised sound, the
decision (injected time, no waiting), the loop with a recorder, and the real backends against
stand-ins (a fake aplay, a fake sysfs GPIO tree)."""

from __future__ import annotations

import asyncio
import io
import math
import shutil
import time
import wave
from array import array
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service import serialize
from service.alarms import annunciation
from service.alarms.model import Priority
from service.live import LiveState
from service.platform.annunciator import (
    PATTERNS,
    Annunciator,
    AplayBackend,
    Backend,
    GpioBuzzerBackend,
    NullBackend,
    Pattern,
    RecorderBackend,
    burst,
    make_backend,
    synthesise,
)

HIGH, MEDIUM, LOW = Priority.HIGH, Priority.MEDIUM, Priority.LOW


def gaps(pattern: Pattern) -> list[float]:
    """Pulse spacing as IEC 60601-1-8 measures it: end of one pulse to start of the next."""
    p = pattern.pulses
    return [round(p[i + 1][0] - (p[i][0] + p[i][1]), 6) for i in range(len(p) - 1)]


# -- the bursts --------------------------------------------------------------------------------


def test_high_burst_is_ten_pulses_three_two_pause_three_two() -> None:
    high = PATTERNS[HIGH]
    td = {d for _, d in high.pulses}
    assert len(high.pulses) == 10 and len(td) == 1 and 0.075 <= td.pop() <= 0.200
    g = gaps(high)
    x = g[0]
    assert 0.050 <= x <= 0.125
    td0 = high.pulses[0][1]
    assert g == pytest.approx([x, x, 2 * x + td0, x, g[4], x, x, 2 * x + td0, x])
    assert 0.35 <= g[4] <= 1.30
    assert high.burst_interval_s is not None and 2.5 <= high.burst_interval_s <= 15.0
    assert high.period == pytest.approx(5.0)


def test_medium_burst_is_three_pulses_every_ten_seconds() -> None:
    medium = PATTERNS[MEDIUM]
    assert len(medium.pulses) == 3
    assert all(0.075 <= d <= 0.200 for _, d in medium.pulses)
    assert all(0.125 <= g <= 0.250 for g in gaps(medium))
    assert medium.burst_interval_s is not None and 2.5 <= medium.burst_interval_s <= 30.0
    assert medium.period == pytest.approx(10.0)


def test_low_burst_is_one_or_two_pulses_once() -> None:
    low = PATTERNS[LOW]
    assert 1 <= len(low.pulses) <= 2
    assert all(0.125 <= d <= 0.250 for _, d in low.pulses)
    assert all(0.125 <= g <= 0.250 for g in gaps(low))
    assert low.burst_interval_s is None and low.period is None


@pytest.mark.parametrize("priority", [HIGH, MEDIUM, LOW])
def test_pulse_spectrum_rules(priority: Priority) -> None:
    """Fundamental 150-1000 Hz; at least 4 harmonic components in 300-4000 Hz within 15 dB."""
    p = PATTERNS[priority]
    assert 150 <= p.fundamental_hz <= 1000
    in_band = [
        a
        for k, a in enumerate(p.harmonics, start=1)
        if 300 <= k * p.fundamental_hz <= 4000 and 20 * math.log10(a) >= -15
    ]
    assert len(in_band) >= 4
    assert PATTERNS[HIGH].fundamental_hz >= p.fundamental_hz  # higher priority, higher pitch


def goertzel(samples: list[float], rate: int, freq: float) -> float:
    w = 2 * math.pi * freq / rate
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + 2 * math.cos(w) * s1 - s2, s1
    return s1 * s1 + s2 * s2 - 2 * math.cos(w) * s1 * s2


@pytest.mark.parametrize("priority", [HIGH, MEDIUM, LOW])
def test_synthesised_wav_has_the_pulses_and_the_pitch(priority: Priority) -> None:
    pattern = PATTERNS[priority]
    with wave.open(io.BytesIO(synthesise(pattern)), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        rate = wav.getframerate()
        samples = array("h", wav.readframes(wav.getnframes()))
    assert len(samples) / rate == pytest.approx(pattern.duration + 0.05, abs=0.002)
    assert max(abs(s) for s in samples) > 20000  # loud
    # Pulses: 5 ms windows with sound, grouped.
    win = rate // 200
    loud = [max(abs(s) for s in samples[i : i + win]) > 2000 for i in range(0, len(samples), win)]
    onsets = [i * win / rate for i, on in enumerate(loud) if on and (i == 0 or not loud[i - 1])]
    assert len(onsets) == len(pattern.pulses)
    for measured, (expected, _) in zip(onsets, pattern.pulses, strict=True):
        assert measured == pytest.approx(expected, abs=0.011)
    # Pitch: the first pulse has energy at the fundamental and its harmonics, not between.
    start, length = (int(v * rate) for v in pattern.pulses[0])
    pulse = [float(s) for s in samples[start : start + length]]
    f0 = pattern.fundamental_hz
    off = goertzel(pulse, rate, f0 * 1.5)
    for k in range(1, 5):
        assert goertzel(pulse, rate, f0 * k) > 50 * off


def test_the_local_annunciator_plays_the_annunciation_table_the_tablets_get() -> None:
    """One table: the bedside's bursts are service.alarms.annunciation's, and the snapshot
    sends the tablets that same table (tests/web/test_sound.py checks the tablet plays it)."""
    ann = Annunciator(NullBackend())
    assert ann.patterns == annunciation.PATTERNS
    assert set(ann.patterns) == set(Priority)
    sent = serialize.annunciation_table()
    for priority, pattern in ann.patterns.items():
        row = sent[priority.value]
        assert [tuple(p) for p in row["pulses"]] == list(pattern.pulses)
        assert row["fundamental_hz"] == pattern.fundamental_hz
        assert tuple(row["harmonics"]) == pattern.harmonics
        assert row["rise_fall"] == pattern.rise_fall
        assert row["burst_interval_s"] == pattern.burst_interval_s
        assert row["period_s"] == pattern.period
    assert LiveState("bed-1", []).snapshot(datetime.now(UTC))["annunciation_table"] == sent


# -- the decision (time injected) -----------------------------------------------------------


def timeline(ann: Annunciator, script: Sequence[tuple[float, Priority | None, int]]) -> list[str]:
    """Feed (t, priority, tablets) and return 't:PRIORITY' for every burst started."""
    out = []
    for t, priority, tablets in script:
        pattern = ann.decide(priority, tablets, t)
        if pattern is not None:
            out.append(f"{t:g}:{pattern.priority.name}")
    return out


def every(step: float, until: float, start: float = 0.0) -> list[float]:
    return [round(start + i * step, 3) for i in range(int((until - start) / step) + 1)]


def test_silent_without_an_alarm_or_with_a_tablet() -> None:
    ann = Annunciator(RecorderBackend())
    assert timeline(ann, [(t, None, 0) for t in every(0.25, 30)]) == []
    assert timeline(ann, [(t, HIGH, 1) for t in every(0.25, 30, 31)]) == []
    assert ann.sounding is None


def test_high_repeats_every_five_seconds() -> None:
    ann = Annunciator(RecorderBackend())
    assert timeline(ann, [(t, HIGH, 0) for t in every(0.25, 16)]) == [
        "0:HIGH",
        "5:HIGH",
        "10:HIGH",
        "15:HIGH",
    ]
    assert ann.sounding is HIGH


def test_medium_repeats_every_ten_seconds() -> None:
    ann = Annunciator(RecorderBackend())
    script = [(t, MEDIUM, 0) for t in every(0.25, 25)]
    assert timeline(ann, script) == ["0:MEDIUM", "10:MEDIUM", "20:MEDIUM"]


def test_low_sounds_once_and_again_only_after_it_stopped() -> None:
    ann = Annunciator(RecorderBackend())
    script: list[tuple[float, Priority | None, int]] = [(t, LOW, 0) for t in every(0.5, 60)]
    script += [(61.0, None, 0)] + [(t, LOW, 0) for t in every(0.5, 80, 62)]
    assert timeline(ann, script) == ["0:LOW", "62:LOW"]


def test_a_change_of_priority_starts_the_new_burst_at_once() -> None:
    ann = Annunciator(RecorderBackend())
    script = [(0.0, MEDIUM, 0), (1.0, HIGH, 0), (2.0, HIGH, 0), (3.0, MEDIUM, 0), (6.0, MEDIUM, 0)]
    assert timeline(ann, script) == ["0:MEDIUM", "1:HIGH", "3:MEDIUM"]


def test_a_tablet_silences_and_its_loss_sounds_at_once() -> None:
    ann = Annunciator(RecorderBackend())
    script = [(0.0, HIGH, 0), (1.0, HIGH, 1), (5.0, HIGH, 1), (6.5, HIGH, 0), (7.0, HIGH, 0)]
    assert timeline(ann, script) == ["0:HIGH", "6.5:HIGH"]


def test_grace_period_after_the_last_tablet_left() -> None:
    ann = Annunciator(RecorderBackend(), grace_s=3.0)
    script = [(t, HIGH, 1 if t < 10 else 0) for t in every(0.5, 14)]
    assert timeline(ann, script) == ["13:HIGH"]


def test_a_late_loop_keeps_the_interval() -> None:
    ann = Annunciator(RecorderBackend())
    assert timeline(ann, [(0.0, HIGH, 0), (12.0, HIGH, 0), (16.9, HIGH, 0), (17.0, HIGH, 0)]) == [
        "0:HIGH",
        "12:HIGH",
        "17:HIGH",
    ]


# -- the loop --------------------------------------------------------------------------------


class FakeTime:
    """Monotonic clock + sleep: each sleep advances the clock; cancels after ``until``."""

    def __init__(self, until: float) -> None:
        self.now = 0.0
        self.until = until

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now = round(self.now + seconds, 6)
        if self.now > self.until:
            raise asyncio.CancelledError
        await asyncio.sleep(0)


async def test_run_plays_and_silences_through_the_backend() -> None:
    recorder = RecorderBackend()
    ann = Annunciator(recorder)
    fake = FakeTime(until=20)

    def state() -> tuple[Priority | None, int]:
        t = fake.now
        if t < 7:
            return HIGH, 0  # no tablet: the unit sounds
        if t < 12:
            return HIGH, 1  # a tablet joined: it sounds there, not here
        if t < 15:
            return MEDIUM, 0  # link lost again
        return None, 0  # all acknowledged

    with pytest.raises(asyncio.CancelledError):
        await ann.run(state, poll_s=0.25, clock=fake.clock, sleep=fake.sleep)
    assert recorder.events == [
        ("play", HIGH),  # t=0
        ("play", HIGH),  # t=5
        ("stop", None),  # t=7
        ("play", MEDIUM),  # t=12
        ("stop", None),  # t=15
        ("stop", None),  # cancelled: silence whatever remains
    ]


async def test_faults_are_reported_once_and_cleared() -> None:
    faults: list[str | None] = []
    recorder = RecorderBackend(fail="no sound card")
    ann = Annunciator(recorder, on_fault=faults.append)
    assert await ann.self_test() == (False, "no sound card")
    await ann.step(HIGH, 0, 0.0)
    await ann.step(HIGH, 0, 0.25)
    assert faults == ["no sound card"]
    recorder.fail = None
    await ann.step(HIGH, 0, 5.0)  # a burst goes through
    await ann.step(HIGH, 0, 5.25)
    assert faults == ["no sound card", None]


async def test_a_failed_self_test_stays_reported_until_a_burst_plays() -> None:
    faults: list[str | None] = []

    class Mute(Backend):
        name = "mute"

        def self_test(self) -> tuple[bool, str]:
            return False, "aplay not found"

    ann = Annunciator(Mute(), on_fault=faults.append)
    await ann.self_test()
    for t in every(0.25, 2):
        await ann.step(None, 0, t)
    assert faults == ["aplay not found"]


async def test_a_backend_that_raises_is_a_fault_not_a_crash() -> None:
    faults: list[str | None] = []

    class Broken(Backend):
        name = "broken"

        def play(self, pattern: Pattern) -> None:
            raise OSError("device busy")

    ann = Annunciator(Broken(), on_fault=faults.append)
    await ann.step(HIGH, 0, 0.0)
    await ann.step(HIGH, 0, 0.25)
    assert faults == ["broken: device busy"]


async def test_a_slow_backend_never_blocks_the_event_loop() -> None:
    class Slow(RecorderBackend):
        def play(self, pattern: Pattern) -> None:
            time.sleep(0.3)
            super().play(pattern)

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    backend = Slow()
    await Annunciator(backend).step(HIGH, 0, 0.0)
    task.cancel()
    assert backend.events == [("play", HIGH)]
    assert ticks >= 10  # the loop kept running during the 0.3 s play


# -- backends --------------------------------------------------------------------------------


def fake_aplay(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "aplay"
    script.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/aplay.log\n{body}\n')
    script.chmod(0o755)
    return script


def test_aplay_missing_is_a_failed_self_test(tmp_path: Path) -> None:
    backend = AplayBackend(command=str(tmp_path / "no-aplay"), cache_dir=tmp_path)
    ok, detail = backend.self_test()
    assert not ok and "not found" in detail and "alsa-utils" in detail


def test_aplay_self_test_plays_a_wav_on_the_device(tmp_path: Path) -> None:
    aplay = fake_aplay(tmp_path, "exit 0")
    backend = AplayBackend("plughw:1,0", command=str(aplay), cache_dir=tmp_path / "sounds")
    ok, detail = backend.self_test()
    assert ok and "plughw:1,0" in detail
    args = (tmp_path / "aplay.log").read_text().split()
    assert args[:3] == ["-q", "-D", "plughw:1,0"] and args[3].endswith(".wav")
    with wave.open(args[3]) as wav:
        assert wav.getnframes() > 0


def test_aplay_failure_explains_itself(tmp_path: Path) -> None:
    aplay = fake_aplay(
        tmp_path, 'echo "aplay: main:831: audio open error: No such file or directory" >&2; exit 1'
    )
    ok, detail = AplayBackend(command=str(aplay), cache_dir=tmp_path).self_test()
    assert not ok and "audio open error" in detail


def wait_for(check: Callable[[], object], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_aplay_play_is_non_blocking_and_reports_a_later_failure(tmp_path: Path) -> None:
    aplay = fake_aplay(tmp_path, "echo 'no card' >&2; exit 1")
    backend = AplayBackend(command=str(aplay), cache_dir=tmp_path)
    backend.play(PATTERNS[HIGH])
    wait_for(lambda: backend.error() is not None)
    assert backend.error() == f"{aplay} exited with 1: no card"


def test_aplay_stop_ends_the_sound_without_a_fault(tmp_path: Path) -> None:
    aplay = fake_aplay(tmp_path, "exec sleep 30")
    backend = AplayBackend(command=str(aplay), cache_dir=tmp_path)
    backend.play(PATTERNS[MEDIUM])
    started = time.monotonic()
    backend.stop()
    assert time.monotonic() - started < 1.0
    assert backend.error() is None
    backend.play(PATTERNS[HIGH])  # replaces, no leftover process
    backend.stop()


SHORT = burst(HIGH, 0.01, [0.01, 0.01], 660.0, None)


class RecordingGpio(GpioBuzzerBackend):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.levels: list[bool] = []

    def set_level(self, on: bool) -> None:
        self.levels.append(on)
        super().set_level(on)


def fake_gpio(tmp_path: Path, pin: int) -> Path:
    gpio = tmp_path / "sys/class/gpio"
    (gpio / f"gpio{pin}").mkdir(parents=True)
    (gpio / "export").write_text("")
    for name in ("direction", "value"):
        (gpio / f"gpio{pin}" / name).write_text("in\n" if name == "direction" else "0\n")
    return tmp_path / "sys"


def test_gpio_buzzer_pulses_through_sysfs(tmp_path: Path) -> None:
    sysfs = fake_gpio(tmp_path, 18)
    backend = RecordingGpio(18, sysfs=sysfs)
    backend.play(SHORT)
    backend.wait(2)
    assert backend.levels == [True, False] * 3 + [False]
    assert (sysfs / "class/gpio/gpio18/direction").read_text() == "out\n"
    assert (sysfs / "class/gpio/gpio18/value").read_text() == "0\n"
    assert backend.error() is None


def test_gpio_active_low_and_stop_interrupts(tmp_path: Path) -> None:
    sysfs = fake_gpio(tmp_path, 23)
    backend = RecordingGpio(23, sysfs=sysfs, active_low=True)
    backend.play(burst(HIGH, 5.0, [], 660.0, None))
    wait_for(lambda: backend.levels)
    assert (sysfs / "class/gpio/gpio23/value").read_text() == "0\n"  # on = low
    started = time.monotonic()
    backend.stop()
    assert time.monotonic() - started < 1.0
    assert backend.levels[-1] is False
    assert (sysfs / "class/gpio/gpio23/value").read_text() == "1\n"  # off = high


def test_gpio_buzzer_by_command(tmp_path: Path) -> None:
    log = tmp_path / "levels"
    backend = GpioBuzzerBackend(
        on_command=["sh", "-c", f"echo 1 >> {log}"], off_command=["sh", "-c", f"echo 0 >> {log}"]
    )
    ok, detail = backend.self_test()
    assert ok, detail
    assert log.read_text().split() == ["1", "0", "0"]


def test_gpio_missing_pin_is_a_fault(tmp_path: Path) -> None:
    backend = GpioBuzzerBackend(18, sysfs=tmp_path / "nothing")
    ok, detail = backend.self_test()
    assert not ok and detail.startswith("GPIO buzzer:")


def test_gpio_needs_a_pin_or_commands() -> None:
    with pytest.raises(ValueError, match="either a pin"):
        GpioBuzzerBackend()
    with pytest.raises(ValueError, match="both"):
        GpioBuzzerBackend(on_command=["true"])


def test_make_backend(tmp_path: Path) -> None:
    assert isinstance(make_backend("aplay", alsa_device="default"), AplayBackend)
    assert isinstance(make_backend("gpio", gpio_pin=18, gpio_sysfs=tmp_path), GpioBuzzerBackend)
    null = make_backend("none")
    assert isinstance(null, NullBackend) and null.self_test()[0]
    with pytest.raises(ValueError, match="unknown annunciator backend"):
        make_backend("bell")


@pytest.mark.skipif(
    shutil.which("aplay") is None, reason="aplay not installed (Debian: apt-get install alsa-utils)"
)
def test_real_aplay_accepts_the_wav(tmp_path: Path) -> None:
    """ALSA's "null" device needs no sound card, so the real aplay checks our WAV format."""
    ok, detail = AplayBackend("null", cache_dir=tmp_path).self_test()
    assert ok, detail
