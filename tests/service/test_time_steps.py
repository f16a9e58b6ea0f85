"""A wall-clock step (NTP correcting the clock by an hour, forward or back) changes no duration:
audio pause, escalation, reminders, condition delays and "no tablet" run on monotonic time,
while records keep the true wall time. The engine stays pure: the runtime's ``SteppedClock``
sees the step and calls ``AlarmEngine.shift_time``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from websockets.sync.client import connect

from drivers.clock import FakeClock
from drivers.readings import (
    Availability,
    AvailabilityChange,
    Condition,
    DeviceConditions,
    Metric,
    VitalReading,
)
from service.alarms import (
    AlarmEngine,
    AlarmTransition,
    Event,
    InfusionContext,
    OperatorAction,
    Output,
    Priority,
    SignalState,
    TabletCount,
)
from service.alarms.engine import EngineInput
from service.api.app import create_app
from service.clock import SteppedClock
from service.serialize import iso
from service.settings import Settings
from tests.support import add_test_users, free_port, run_app, wait_for

HOUR = 3600.0
STEPS = [HOUR, -HOUR]


class Bed:
    """The engine driven as the runtime drives it: every ``now`` read through a SteppedClock."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.engine = AlarmEngine()
        self.steps: list[timedelta] = []
        self.time = SteppedClock(self.clock, self._stepped, watching=lambda: True)
        self.start = self.clock.monotonic()
        self.time.utcnow()  # the first read: the reference

    def _stepped(self, step: timedelta, wall: datetime) -> None:
        self.steps.append(step)
        self.engine.shift_time(step)

    @property
    def mono(self) -> float:
        """Monotonic seconds since the bed started."""
        return self.clock.monotonic() - self.start

    def at(self, mono: float) -> list[Output]:
        """Move the clocks together to ``mono`` s and let the engine run its deadlines."""
        self.clock.advance(mono - self.mono)
        return self.engine.tick(self.time.utcnow())

    def observe(self, event_at: Callable[[datetime], EngineInput]) -> list[Output]:
        now = self.time.utcnow()
        return self.engine.observe(event_at(now), now)

    def step(self, seconds: float, then: float = 1.0) -> list[Output]:
        """The wall clock steps by ``seconds`` while ``then`` s of monotonic time pass."""
        self.clock.step_wall(seconds)
        return self.at(self.mono + then)


def transitions(outputs: list[Output]) -> list[AlarmTransition]:
    return [o for o in outputs if isinstance(o, AlarmTransition)]


def actions(outputs: list[Output]) -> list[str]:
    return [o.action for o in outputs if isinstance(o, OperatorAction)]


def link_lost(bed: Bed) -> AlarmTransition:
    [raised] = transitions(
        bed.observe(lambda now: AvailabilityChange("monitor", Availability.STALE, now))
    )
    return raised


@pytest.mark.parametrize("step", STEPS)
def test_an_audio_pause_neither_ends_early_nor_lasts_longer(step: float) -> None:
    bed = Bed()
    link_lost(bed)
    bed.engine.pause_audio("sitter", bed.time.utcnow())
    assert actions(bed.step(step)) == []  # 1 s later, the wall clock an hour off
    assert bed.steps == [timedelta(seconds=step)]
    assert bed.engine.annunciation(bed.time.utcnow()) is None  # still paused
    assert actions(bed.at(119.9)) == []
    assert actions(bed.at(120.0)) == ["audio_resumed"]  # 120 s of monotonic time
    # Sounding again, and escalated: 120 s unacknowledged (the pause silences, the clock runs);
    # escalation notifies, the link alarm stays MEDIUM.
    assert bed.engine.annunciation(bed.time.utcnow()) is Priority.MEDIUM
    assert all(a.escalated for a in bed.engine.active())


@pytest.mark.parametrize("step", STEPS)
def test_without_the_step_detector_the_pause_would_be_wrong(step: float) -> None:
    """The failure the detector prevents: fed the stepped wall time as is, the engine ends the
    pause at once (+1 h) or keeps it for an hour (-1 h)."""
    clock, engine = FakeClock(), AlarmEngine()
    engine.observe(
        AvailabilityChange("monitor", Availability.STALE, clock.utcnow()), clock.utcnow()
    )
    engine.pause_audio("sitter", clock.utcnow())
    clock.step_wall(step)
    clock.advance(1)
    ended = "audio_resumed" in actions(engine.tick(clock.utcnow()))
    assert ended is (step > 0)


@pytest.mark.parametrize("step", STEPS)
def test_escalation_after_escalate_s_of_monotonic_time(step: float) -> None:
    bed = Bed()
    raised = link_lost(bed)
    assert transitions(bed.at(30)) == []
    assert transitions(bed.step(step)) == []  # at 31 s, stepped
    assert transitions(bed.at(119.9)) == []
    [escalated] = transitions(bed.at(120))
    assert (escalated.event, escalated.alarm.priority) == (Event.ESCALATED, Priority.MEDIUM)
    # Records keep the true wall time: the alarm started before the step, escalated after it.
    assert escalated.alarm.started_at == raised.alarm.started_at == raised.at
    assert escalated.at == raised.at + timedelta(seconds=120 + step)


@pytest.mark.parametrize("step", STEPS)
def test_a_reminder_after_reminder_s_of_monotonic_time(step: float) -> None:
    bed = Bed()
    raised = link_lost(bed)
    bed.engine.acknowledge(raised.alarm.id, "nurse.kim", bed.time.utcnow())
    bed.at(60)
    bed.step(step)
    assert transitions(bed.at(119.9)) == []
    [reminded] = transitions(bed.at(120))
    assert (reminded.event, reminded.alarm.signal) == (Event.REMINDED, SignalState.ON)


def hr_130(now: datetime) -> VitalReading:
    return VitalReading("monitor", Metric.HR, 130.0, now)


def spo2_88(now: datetime) -> VitalReading:
    return VitalReading("monitor", Metric.SPO2, 88.0, now)


def raised_after(bed: Bed, reading: Callable[[datetime], EngineInput], step: float) -> float:
    """One reading a second; the wall clock steps at 5 s. When (monotonic s) the alarm rises."""
    for second in range(60):
        bed.at(second)
        if second == 5:
            bed.step(step, then=0)
        if transitions(bed.observe(reading)):
            return bed.mono
    raise AssertionError("no alarm")


@pytest.mark.parametrize("step", STEPS)
def test_condition_delays_keep_their_length(step: float) -> None:
    # HR 130 for hr_delay_s (30 s), not 5 s (+1 h) or an hour (-1 h).
    assert raised_after(Bed(), hr_130, step) == 30.0
    # SatSeconds: 88 % is 2 %·s a second, 25 %·s after 13 readings; the step neither inflates a
    # reading's time (+1 h) nor makes it negative (-1 h).
    assert raised_after(Bed(), spo2_88, step) == 12.0


@pytest.mark.parametrize("step", STEPS)
def test_sensor_and_no_tablet_delays_keep_their_length(step: float) -> None:
    bed = Bed()
    bed.observe(lambda now: DeviceConditions("monitor", frozenset({Condition.SENSOR_OFF}), now))
    bed.observe(lambda now: InfusionContext(True, now))
    bed.observe(lambda now: TabletCount(0, now))
    bed.step(step, then=5)
    assert transitions(bed.at(9.9)) == []
    keys = sorted(t.alarm.key for t in transitions(bed.at(10)))
    assert keys == ["no_tablet", "sensor:monitor:sensor_off"]


def test_small_drift_is_not_a_step_and_worker_threads_do_not_look() -> None:
    clock = FakeClock()
    seen: list[timedelta] = []
    watching = [True]
    stepped = SteppedClock(
        clock, lambda step, wall: seen.append(step), watching=lambda: watching[0]
    )
    stepped.utcnow()
    clock.step_wall(1.5)  # within the tolerance (2 s): a slew, not a step
    clock.advance(60)
    stepped.utcnow()
    assert seen == []
    watching[0] = False  # a worker thread: passes through without looking
    clock.step_wall(-HOUR)
    assert stepped.utcnow() == clock.utcnow()
    assert seen == []
    watching[0] = True  # the next read on the loop sees it, once
    stepped.utcnow()
    stepped.utcnow()
    assert seen == [timedelta(seconds=-HOUR)]
    assert stepped.monotonic() == clock.monotonic()


def test_a_real_server_keeps_a_pause_through_a_clock_step(tmp_path: Path) -> None:
    """Served by uvicorn with an injected clock: the wall clock steps back an hour during a
    pause; the runtime moves the pause's end with it, audits the step and tells the tablets."""
    clock = FakeClock()
    settings = Settings.model_validate({"data_dir": tmp_path / "data"})
    add_test_users(settings)
    port = free_port()
    server = run_app(create_app(settings.model_copy(update={"port": port}), clock), port)
    try:
        sitter = server.login("sitter")
        runtime = server.app.state.runtime
        server.publish(AvailabilityChange("monitor", Availability.STALE, clock.utcnow()))
        wait_for(lambda: sitter.get("/api/v1/alarms").json())
        paused = sitter.post("/api/v1/audio/pause", json={"seconds": 60})
        assert paused.status_code == 200, paused.text
        until = runtime.engine.audio.paused_until
        with connect(server.ws_url, additional_headers=server.cookie_header()) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
            clock.step_wall(-HOUR)
            clock.advance(1)
            # Any reading makes the alarm runner read the clock.
            server.publish(VitalReading("monitor", Metric.SPO2, 97.0, clock.utcnow()))
            while True:
                message = json.loads(ws.recv(timeout=5))
                if message["type"] == "action" and message["action"] == "clock_stepped":
                    break
            assert message["user"] == "system"
            assert message["detail"].startswith("wall clock stepped by -3600.0 s")
            # The tablets get the pause's new end: still 59 s away on the new wall clock.
            new_until = until - timedelta(hours=1)
            assert message["audio"]["paused_until"] == iso(new_until)
        assert runtime.engine.audio.paused_until == new_until
        alarms = sitter.get("/api/v1/alarms").json()
        assert [a["audible"] for a in alarms] == [False]
        wait_for(
            lambda: any(
                a["action"] == "clock_stepped" and a["user"] == "system"
                for a in sitter.get("/api/v1/audit").json()
            )
        )
    finally:
        server.stop()
