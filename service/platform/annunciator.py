"""Local annunciation: the bedside unit itself sounds when no tablet is there to do it.

Usage (Runtime.start, after the alarm runner; see docs/deploy.md for the settings)::

    from service.platform.annunciator import Annunciator, make_backend

    backend = make_backend("aplay", alsa_device=None, cache_dir=settings.data_dir / "sounds")
    annunciator = Annunciator(backend, on_fault=report)   # report(detail | None) -> ServiceFault
    ok, detail = await annunciator.self_test()            # one short tone at start-up
    task = asyncio.create_task(annunciator.run(
        lambda: (runtime.engine.annunciation(runtime.clock.utcnow()), runtime.clients)))

Decision (``Annunciator.decide``, pure apart from its own memory, time passed in): sound only
when an alarm should be heard (priority not None: the alarm engine already leaves out
acknowledged alarms and audio pauses) and no tablet is connected (``tablets == 0``; a tablet
whose link is lost is dropped by the service after ``client_timeout_s``). Each priority's burst
repeats at its interval: HIGH every 5 s, MEDIUM every 10 s, LOW once (again only after it has
stopped and come back). A change of priority starts the new burst at once.

The bursts are the annunciation table (``service.alarms.annunciation.PATTERNS``, after
IEC 60601-1-8 Tables 3 and 4), the same table the tablets receive in their snapshot and play:
HIGH 10 pulses "3+2, pause, 3+2" (pulse 100 ms, spacing 75 ms), MEDIUM 3 pulses (200/200 ms),
LOW 2 pulses (200/200 ms); each pulse a fundamental between 150 and 1000 Hz with four
harmonics within 15 dB, 15 % rise and fall.

Backends: ``AplayBackend`` (WAV played by ``aplay``, non-blocking), ``GpioBuzzerBackend`` (an
active buzzer on a GPIO pin through sysfs or a command), ``RecorderBackend`` (tests),
``NullBackend``. ``run`` calls them in a worker thread, so the event loop never waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from array import array
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from service.alarms.annunciation import PATTERNS, Pattern, burst
from service.alarms.model import Priority

__all__ = [
    "PATTERNS",
    "TEST_PATTERN",
    "Annunciator",
    "AplayBackend",
    "Backend",
    "GpioBuzzerBackend",
    "NullBackend",
    "Pattern",
    "RecorderBackend",
    "burst",
    "make_backend",
    "synthesise",
]

log = logging.getLogger(__name__)

# -- the sounds ----------------------------------------------------------------------------


#: The start-up self-test: one short LOW-pitched pulse.
TEST_PATTERN = burst(Priority.LOW, 0.15, [], 440.0, None)

SAMPLE_RATE = 16_000


def synthesise(pattern: Pattern, sample_rate: int = SAMPLE_RATE, volume: float = 0.8) -> bytes:
    """The burst as a mono 16-bit WAV file (bytes), with 50 ms of silence at the end."""
    total = round((pattern.duration + 0.05) * sample_rate)
    samples = array("h", bytes(2 * total))
    # Scale the waveform's real peak (harmonics never all peak together) to ``volume``.
    peak = max(
        abs(
            sum(
                a * math.sin(2 * math.pi * (k + 1) * i / 1000)
                for k, a in enumerate(pattern.harmonics)
            )
        )
        for i in range(1000)
    )
    norm = volume * 32767 / peak
    omegas = [
        2 * math.pi * pattern.fundamental_hz * (k + 1) / sample_rate
        for k in range(len(pattern.harmonics))
    ]
    for onset, length in pattern.pulses:
        start = round(onset * sample_rate)
        count = round(length * sample_rate)
        ramp = max(1, int(count * pattern.rise_fall))  # rise and fall: 10-20 % of the pulse
        for i in range(count):
            envelope = min(1.0, i / ramp, (count - 1 - i) / ramp)
            value = sum(a * math.sin(w * i) for a, w in zip(pattern.harmonics, omegas, strict=True))
            samples[start + i] = int(norm * envelope * value)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


# -- backends ------------------------------------------------------------------------------


class Backend:
    """How a burst reaches the room. ``play`` and ``stop`` may block briefly (the Annunciator
    calls them from a worker thread); ``error`` is cheap and may be called from the loop."""

    name = "backend"

    def play(self, pattern: Pattern) -> None:
        """Start ``pattern`` (replacing anything still sounding) and return at once."""

    def stop(self) -> None:
        """Silence whatever is sounding."""

    def error(self) -> str | None:
        """Why the last play failed, or None if it worked (or is still going)."""
        return None

    def self_test(self) -> tuple[bool, str]:
        """Play one short tone and wait for it; (worked, detail)."""
        return True, f"{self.name}: nothing to test"


class NullBackend(Backend):
    """No local sound (configured off)."""

    name = "none"

    def self_test(self) -> tuple[bool, str]:
        return True, "local alarm sound is switched off (annunciator backend 'none')"


class RecorderBackend(Backend):
    """Remembers what would have sounded: ``events`` is a list of ("play", priority) and
    ("stop", None); ``fail`` makes play, error and the self-test report a failure."""

    name = "recorder"

    def __init__(self, fail: str | None = None) -> None:
        self.events: list[tuple[str, Priority | None]] = []
        self.played: list[Pattern] = []
        self.fail = fail
        self._lock = threading.Lock()

    def play(self, pattern: Pattern) -> None:
        with self._lock:
            self.events.append(("play", pattern.priority))
            self.played.append(pattern)

    def stop(self) -> None:
        with self._lock:
            self.events.append(("stop", None))

    def error(self) -> str | None:
        return self.fail

    def self_test(self) -> tuple[bool, str]:
        self.play(TEST_PATTERN)
        return (False, self.fail) if self.fail else (True, "recorder: test tone recorded")


class AplayBackend(Backend):
    """Plays each burst's WAV with ``aplay`` (alsa-utils) as a child process."""

    name = "aplay"

    def __init__(
        self,
        device: str | None = None,
        *,
        command: str = "aplay",
        cache_dir: Path | None = None,
        volume: float = 0.8,
    ) -> None:
        self.device = device
        self.command = command
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "vigil-sounds"
        self.volume = volume
        self._proc: subprocess.Popen[bytes] | None = None
        self._last_error: str | None = None
        self._lock = threading.Lock()

    def wav_for(self, pattern: Pattern) -> Path:
        """The burst's WAV file, synthesised once into ``cache_dir``."""
        key = f"{pattern.priority.value}-{len(pattern.pulses)}p-{pattern.fundamental_hz:g}Hz"
        path = self.cache_dir / f"vigil-{key}-{int(pattern.duration * 1000)}ms.wav"
        if not path.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(synthesise(pattern, volume=self.volume))
            os.replace(tmp, path)
        return path

    def argv(self, path: Path) -> list[str]:
        return [self.command, "-q", *(["-D", self.device] if self.device else []), str(path)]

    def play(self, pattern: Pattern) -> None:
        path = self.wav_for(pattern)
        with self._lock:
            self._stop_locked()
            try:
                self._proc = subprocess.Popen(
                    self.argv(path),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            except OSError as exc:
                self._last_error = f"cannot run {self.command}: {exc}"
                raise

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reap_locked()

    def _reap_locked(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is None:
            return
        stderr = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if proc.returncode in (0, -15, -9):  # finished, or stopped by us
            self._last_error = None
        else:
            last = stderr.splitlines()[-1] if stderr else "no message"
            self._last_error = f"{self.command} exited with {proc.returncode}: {last}"
        self._proc = None

    def error(self) -> str | None:
        with self._lock:
            self._reap_locked()
            return self._last_error

    def self_test(self) -> tuple[bool, str]:
        if shutil.which(self.command) is None:
            return (
                False,
                f"{self.command} not found: no local alarm sound (apt-get install alsa-utils)",
            )
        try:
            path = self.wav_for(TEST_PATTERN)
            done = subprocess.run(self.argv(path), capture_output=True, timeout=5, check=False)
        except subprocess.TimeoutExpired:
            return False, f"{self.command} did not finish the 0.2 s test tone in 5 s"
        except OSError as exc:
            return False, f"{self.command}: {exc}"
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            return False, f"{self.command} failed ({done.returncode}): {lines[-1] if lines else ''}"
        return True, f"{self.command}: test tone played on {self.device or 'the default device'}"


class GpioBuzzerBackend(Backend):
    """An active buzzer (it makes its own tone) switched on and off for each pulse.

    Either a sysfs GPIO number ``pin`` (``<sysfs>/class/gpio/gpio<pin>/value``; exported and
    set to output on first use), or two commands, e.g. ``["pinctrl", "set", "18", "op", "dh"]``
    and ``[..., "dl"]`` on Raspberry Pi OS, or libgpiod's ``gpioset``. A worker thread times the
    pulses; ``stop`` interrupts it and leaves the buzzer off.
    """

    name = "gpio"

    def __init__(
        self,
        pin: int | None = None,
        *,
        sysfs: Path = Path("/sys"),
        on_command: Sequence[str] | None = None,
        off_command: Sequence[str] | None = None,
        active_low: bool = False,
    ) -> None:
        if (pin is None) == (on_command is None):
            raise ValueError("GPIO buzzer: give either a pin or an on/off command pair")
        if (on_command is None) != (off_command is None):
            raise ValueError("GPIO buzzer: give both the on and the off command")
        self.pin = pin
        self.sysfs = sysfs
        self.on_command = list(on_command) if on_command else None
        self.off_command = list(off_command) if off_command else None
        self.active_low = active_low
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._last_error: str | None = None
        self._exported = False

    # the pin
    def _gpio_dir(self) -> Path:
        return self.sysfs / "class" / "gpio" / f"gpio{self.pin}"

    def _export(self) -> None:
        if self._exported:
            return
        if not self._gpio_dir().exists():
            (self.sysfs / "class" / "gpio" / "export").write_text(f"{self.pin}\n")
        (self._gpio_dir() / "direction").write_text("out\n")
        self._exported = True

    def set_level(self, on: bool) -> None:
        """Switch the buzzer (raises OSError or CalledProcessError when it cannot)."""
        if self.on_command is not None and self.off_command is not None:
            subprocess.run(
                self.on_command if on else self.off_command,
                check=True,
                capture_output=True,
                timeout=2,
            )
            return
        self._export()
        level = on != self.active_low
        (self._gpio_dir() / "value").write_text("1\n" if level else "0\n")

    # the timing thread
    def _sound(self, pattern: Pattern, cancel: threading.Event) -> None:
        start = time.monotonic()
        try:
            for onset, length in pattern.pulses:
                if cancel.wait(max(0.0, start + onset - time.monotonic())):
                    break
                self.set_level(True)
                cancel.wait(length)
                self.set_level(False)
                if cancel.is_set():
                    break
            self._last_error = None
        except (OSError, subprocess.SubprocessError) as exc:
            self._last_error = f"GPIO buzzer: {exc}"
        finally:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self.set_level(False)

    def play(self, pattern: Pattern) -> None:
        self.stop()
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._sound, args=(pattern, self._cancel), name="vigil-buzzer", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current burst is over (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def error(self) -> str | None:
        return self._last_error

    def self_test(self) -> tuple[bool, str]:
        self.play(TEST_PATTERN)
        self.wait(timeout=3.0)
        if self._last_error:
            return False, self._last_error
        where = f"GPIO {self.pin}" if self.pin is not None else "the buzzer command"
        return True, f"GPIO buzzer: test beep on {where}"


def make_backend(
    kind: str,
    *,
    alsa_device: str | None = None,
    cache_dir: Path | None = None,
    gpio_pin: int | None = None,
    gpio_on_command: Sequence[str] | None = None,
    gpio_off_command: Sequence[str] | None = None,
    gpio_sysfs: Path = Path("/sys"),
) -> Backend:
    """A backend by settings name: ``aplay``, ``gpio`` or ``none``."""
    if kind == "aplay":
        return AplayBackend(alsa_device, cache_dir=cache_dir)
    if kind == "gpio":
        return GpioBuzzerBackend(
            gpio_pin, sysfs=gpio_sysfs, on_command=gpio_on_command, off_command=gpio_off_command
        )
    if kind == "none":
        return NullBackend()
    raise ValueError(f"unknown annunciator backend {kind!r}: use aplay, gpio or none")


# -- the decision and the loop --------------------------------------------------------------

State = tuple[Priority | None, int]


class Annunciator:
    """Decides when the bedside unit sounds, and sounds it through ``backend``.

    ``on_fault(detail)`` is called with a reason when the backend stops working, and with None
    when it works again (turn it into a ``ServiceFault``: a silent bedside is a technical alarm).
    ``grace_s`` waits that long after the last tablet left before sounding (default: at once).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        patterns: dict[Priority, Pattern] | None = None,
        grace_s: float = 0.0,
        on_fault: Callable[[str | None], None] | None = None,
    ) -> None:
        self.backend = backend
        self.patterns = dict(PATTERNS if patterns is None else patterns)
        self.grace_s = grace_s
        self.on_fault = on_fault
        self.fault: str | None = None
        self._current: Priority | None = None
        self._next_at: float | None = None
        self._unwatched_since: float | None = None
        self._sticky: str | None = None

    @property
    def sounding(self) -> Priority | None:
        """The priority whose bursts are being repeated now, if any."""
        return self._current

    def decide(
        self, priority: Priority | None, tablets: int, now_monotonic: float
    ) -> Pattern | None:
        """The burst to start now, or None. Call it with every new state and at least a few
        times a second; ``now_monotonic`` is monotonic seconds."""
        now = now_monotonic
        if tablets > 0:
            self._unwatched_since = None
        elif self._unwatched_since is None:
            self._unwatched_since = now
        wanted = priority
        if (
            tablets > 0
            or self._unwatched_since is None
            or now - self._unwatched_since < self.grace_s
        ):
            wanted = None
        if wanted is None:
            self._current = None
            self._next_at = None
            return None
        pattern = self.patterns[wanted]
        if wanted != self._current:
            self._current = wanted
            self._next_at = None if pattern.period is None else now + pattern.period
            return pattern
        if self._next_at is not None and now >= self._next_at and pattern.period is not None:
            self._next_at += pattern.period
            if self._next_at <= now:  # the loop was late: keep the interval, not the cadence
                self._next_at = now + pattern.period
            return pattern
        return None

    async def step(self, priority: Priority | None, tablets: int, now_monotonic: float) -> None:
        """Decide, then play or silence through the backend (in a worker thread)."""
        was = self._current
        pattern = self.decide(priority, tablets, now_monotonic)
        if pattern is not None:
            failure = await self._call(self.backend.play, pattern)
            # A failed self-test or play stays reported until a play goes through.
            self._sticky = failure
            if failure is not None:
                self._report(failure)
            return
        if was is not None and self._current is None:
            await self._call(self.backend.stop)
        self._report(self._sticky or self.backend.error())

    async def run(
        self,
        get_state: Callable[[], State],
        *,
        poll_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        """Poll ``get_state() -> (priority, tablets)`` every ``poll_s`` and act, until
        cancelled (then silence)."""
        try:
            while True:
                priority, tablets = get_state()
                await self.step(priority, tablets, clock())
                await sleep(poll_s)
        finally:
            self._current = None
            try:
                self.backend.stop()
            except Exception:
                log.exception("could not silence the local annunciator")

    async def self_test(self) -> tuple[bool, str]:
        """Play one short tone through the backend (in a worker thread); (worked, detail).
        A failure is also reported through ``on_fault``."""
        try:
            ok, detail = await asyncio.to_thread(self.backend.self_test)
        except Exception as exc:
            ok, detail = False, f"{self.backend.name} self-test failed: {exc!r}"
        (log.info if ok else log.error)("local annunciation self-test: %s", detail)
        self._sticky = None if ok else detail
        self._report(self._sticky)
        return ok, detail

    async def _call(self, fn: Callable[..., None], *args: Any) -> str | None:
        try:
            await asyncio.to_thread(fn, *args)
        except Exception as exc:
            log.exception("local annunciator backend %s failed", self.backend.name)
            return f"{self.backend.name}: {exc}"
        return None

    def _report(self, fault: str | None) -> None:
        if fault == self.fault:
            return
        self.fault = fault
        if fault is None:
            log.warning("local annunciation works again")
        else:
            log.error("local annunciation failed: %s", fault)
        if self.on_fault is not None:
            self.on_fault(fault)
