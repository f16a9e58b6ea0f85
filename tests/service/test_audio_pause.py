"""The audio pause policy: a sitter pauses an alarm once; again needs a nurse; a new HIGH alarm
always sounds through a pause (engine with injected time, then a real server)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from drivers.readings import (
    Availability,
    AvailabilityChange,
    Metric,
    PumpCondition,
    PumpReading,
    PumpState,
    VitalReading,
)
from service.alarms import AlarmEngine, AlarmTransition, OperatorAction, Output, Priority
from service.alarms.engine import PauseRefused
from tests.support import PINS, RunningServer, wait_for

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
REFUSED = "this alarm was paused once already: a nurse must confirm"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def high_bp(engine: AlarmEngine, t: float) -> AlarmTransition:
    out: list[Output] = []
    for metric, value in ((Metric.NIBP_SYS, 205.0), (Metric.NIBP_DIA, 125.0)):
        out += engine.observe(VitalReading("monitor", metric, value, at(t)), at(t))
    [raised] = [o for o in out if isinstance(o, AlarmTransition)]
    return raised


def occlusion(engine: AlarmEngine, t: float) -> list[Output]:
    reading = PumpReading(
        "pump", at(t), PumpState.ALARM, conditions=frozenset({PumpCondition.OCCLUSION})
    )
    return engine.observe(reading, at(t))


def link_lost(engine: AlarmEngine, t: float, source: str = "monitor") -> list[Output]:
    return engine.observe(AvailabilityChange(source, Availability.STALE, at(t)), at(t))


def ceiling(engine: AlarmEngine) -> Priority | None:
    """The priority up to which the running pause silences alarms (what the tablets apply)."""
    return engine.audio.paused_priority


def actions(outputs: list[Output]) -> list[OperatorAction]:
    return [o for o in outputs if isinstance(o, OperatorAction)]


def test_a_sitter_pauses_a_sounding_high_alarm_once_then_a_nurse_must_confirm() -> None:
    engine = AlarmEngine()
    high = high_bp(engine, 0)
    [paused] = actions(engine.pause_audio("sitter", at(5)))
    assert (paused.action, paused.detail) == ("audio_paused", "audio paused for 120 s (up to high)")
    assert engine.annunciation(at(6)) is None
    assert high.alarm.id in engine.paused_once
    # Neither extended while it runs...
    with pytest.raises(PauseRefused, match=REFUSED) as refused:
        engine.pause_audio("sitter", at(60))
    assert [a.id for a in refused.value.alarms] == [high.alarm.id]
    # ...nor repeated once it ran out.
    [resumed] = actions(engine.tick(at(125)))
    assert resumed.action == "audio_resumed"
    assert engine.annunciation(at(125)) is Priority.HIGH
    with pytest.raises(PauseRefused) as again:
        engine.pause_audio("sitter", at(130))
    assert engine.audio.paused_until is None  # refused: nothing changed
    record = engine.refusal(again.value, "sitter", at(130))
    assert (record.action, record.user, record.at) == ("audio_pause_refused", "sitter", at(130))
    assert record.detail == f"{REFUSED}: SBP 205 ≥ 200 ({high.alarm.id})"
    # A nurse (signed in, or giving her PIN at the sitter's tablet) may pause it again.
    [by_nurse] = actions(engine.pause_audio("nurse.kim", at(131), nurse=True))
    assert by_nurse.user == "nurse.kim"
    assert by_nurse.detail == (
        "audio paused for 120 s (up to high); paused before, confirmed by a nurse: SBP 205 ≥ 200"
    )
    assert engine.annunciation(at(132)) is None


def test_the_pause_record_goes_with_the_alarm() -> None:
    engine = AlarmEngine()
    [raised] = [o for o in link_lost(engine, 0) if isinstance(o, AlarmTransition)]
    engine.pause_audio("sitter", at(1))
    engine.observe(AvailabilityChange("monitor", Availability.CONNECTED, at(20)), at(20))
    assert engine.paused_once == set()  # ended: forgotten
    engine.resume_audio("sitter", at(21))
    [again] = [o for o in link_lost(engine, 30) if isinstance(o, AlarmTransition)]
    assert again.alarm.id != raised.alarm.id  # a new occurrence is a new alarm
    assert actions(engine.pause_audio("sitter", at(31)))[0].action == "audio_paused"


def test_alarms_a_pause_silenced_count_as_paused_even_if_raised_during_it() -> None:
    engine = AlarmEngine()
    engine.pause_audio("sitter", at(0))  # nothing sounding yet: "up to medium"
    [raised] = [o for o in link_lost(engine, 10) if isinstance(o, AlarmTransition)]
    assert engine.annunciation(at(10)) is None
    assert raised.alarm.id in engine.paused_once
    engine.tick(at(120))
    with pytest.raises(PauseRefused):
        engine.pause_audio("sitter", at(121))


def test_an_acknowledged_alarm_is_not_paused_by_a_pause_until_it_sounds_again() -> None:
    engine = AlarmEngine()
    [raised] = [o for o in link_lost(engine, 0) if isinstance(o, AlarmTransition)]
    engine.acknowledge(raised.alarm.id, "nurse.kim", at(1))
    engine.pause_audio("sitter", at(2))
    assert engine.paused_once == set()  # acknowledged: the pause did not silence it
    engine.resume_audio("sitter", at(3))
    engine.pause_audio("sitter", at(100))
    engine.tick(at(121))  # reminded during the pause: now the pause silences it
    assert engine.annunciation(at(121)) is None
    assert raised.alarm.id in engine.paused_once


def test_a_new_high_alarm_sounds_through_a_pause_that_covers_a_high_one() -> None:
    engine = AlarmEngine()
    high_bp(engine, 0)
    engine.pause_audio("sitter", at(1))
    assert ceiling(engine) is Priority.HIGH
    out = occlusion(engine, 10)
    [new] = [o for o in out if isinstance(o, AlarmTransition)]
    [narrowed] = actions(out)
    assert (narrowed.action, narrowed.user) == ("audio_pause_narrowed", "system")
    assert "Pump pump: occlusion" in narrowed.detail
    assert engine.audible(new.alarm, at(10))
    assert engine.annunciation(at(10)) is Priority.HIGH
    # The tablets apply the same ceiling: MEDIUM and LOW alarms stay silent.
    assert ceiling(engine) is Priority.MEDIUM
    [medium] = [o for o in link_lost(engine, 11) if isinstance(o, AlarmTransition)]
    assert not engine.audible(medium.alarm, at(11))
    assert engine.audio.paused_until == at(121)  # the pause itself goes on


def test_a_paused_alarm_that_gets_worse_sounds_and_a_lower_new_one_does_not() -> None:
    engine = AlarmEngine()
    high_bp(engine, 0)
    for t in range(14):  # SpO2 88 %: MEDIUM after 13 s (SatSeconds)
        engine.observe(VitalReading("monitor", Metric.SPO2, 88.0, at(t)), at(t))
    engine.pause_audio("sitter", at(14))
    assert engine.annunciation(at(14)) is None
    out: list[Output] = []
    for t in range(15, 25):  # 80 %: HIGH
        out += engine.observe(VitalReading("monitor", Metric.SPO2, 80.0, at(t)), at(t))
    assert [a.action for a in actions(out)] == ["audio_pause_narrowed"]
    spo2 = next(a for a in engine.active() if a.key == "spo2_low")
    assert spo2.priority is Priority.HIGH and engine.audible(spo2, at(25))


# -- a real server ----------------------------------------------------------------------------


def shown(client: httpx.Client, key: str) -> dict[str, Any] | None:
    alarms: list[dict[str, Any]] = client.get("/api/v1/alarms").json()
    return next((a for a in alarms if a["key"] == key), None)


def test_the_pause_policy_over_http(serve: Callable[..., RunningServer]) -> None:
    server = serve()
    sitter, nurse = server.login("sitter"), server.login("nurse")
    server.cuff(205, 125, 90)
    high = wait_for(lambda: shown(sitter, "bp_high"))
    assert (high["priority"], high["audible"]) == ("high", True)

    first = sitter.post("/api/v1/audio/pause", json={"seconds": 60})
    assert first.status_code == 200, first.text
    assert first.json()[0]["detail"] == "audio paused for 60 s (up to high)"
    paused = shown(sitter, "bp_high")
    assert paused is not None
    assert (paused["id"], paused["audible"]) == (high["id"], False)

    # Again, as the sitter alone: refused, and the refusal is in the audit log.
    again = sitter.post("/api/v1/audio/pause", json={})
    assert (again.status_code, again.json()["detail"]) == (403, REFUSED)
    # The sitter's own PIN does not make her a nurse.
    own = sitter.post("/api/v1/audio/pause", json={"username": "sitter", "pin": PINS["sitter"]})
    assert (own.status_code, own.json()["detail"]) == (403, "sitter is not a nurse")
    wrong = sitter.post("/api/v1/audio/pause", json={"username": "nurse", "pin": "0000"})
    assert wrong.status_code == 401
    # The nurse who walked up confirms at the sitter's tablet; the pause is hers.
    confirmed = sitter.post(
        "/api/v1/audio/pause", json={"username": "nurse", "pin": PINS["nurse"], "seconds": 30}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()[0]["user"] == "nurse"
    assert "confirmed by a nurse: SBP 205 ≥ 200" in confirmed.json()[0]["detail"]
    # A signed-in nurse needs no PIN.
    assert nurse.post("/api/v1/audio/pause", json={}).status_code == 200

    audit = [(a["action"], a["user"]) for a in sitter.get("/api/v1/audit").json()]
    assert ("audio_pause_refused", "sitter") in audit
    assert audit.count(("audio_paused", "nurse")) == 2
    assert audit.count(("audio_paused", "sitter")) == 1

    # A new HIGH alarm sounds through the nurse's pause.
    server.publish(
        PumpReading(
            "pump",
            server.app.state.runtime.clock.utcnow(),
            PumpState.ALARM,
            conditions=frozenset({PumpCondition.OCCLUSION}),
        )
    )
    pump = wait_for(lambda: shown(sitter, "pump:pump::occlusion"))
    assert pump["audible"] is True
    wait_for(
        lambda: any(
            a["action"] == "audio_pause_narrowed" for a in sitter.get("/api/v1/audit").json()
        )
    )
