"""Alarms still shown at a restart are rebuilt from their whole history in the alarm log: every
field as the engine had it, and timers that continue (a real SQLite file, then a real server
restarted on the same data directory)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from drivers.readings import (
    Availability,
    AvailabilityChange,
    Metric,
    PumpCondition,
    PumpReading,
    PumpState,
    VitalReading,
)
from service.alarms import (
    Alarm,
    AlarmEngine,
    AlarmTransition,
    Event,
    Output,
    Priority,
    SignalState,
)
from service.persistence.db import make_engine, upgrade
from service.persistence.writer import active_alarms, write_events
from tests.support import RunningServer, wait_for

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    upgrade(url)
    return make_engine(url)


class Logged:
    """An engine whose every output goes to the alarm log with the real writer."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.engine = AlarmEngine()
        self.last: dict[str, Alarm] = {}  # alarm id -> the alarm as its last transition left it

    def __call__(self, outputs: list[Output]) -> list[Output]:
        write_events(self.db, outputs)
        for o in outputs:
            if isinstance(o, AlarmTransition):
                self.last[o.alarm.id] = o.alarm
        return outputs

    def vital(self, metric: Metric, value: float, t: float) -> list[Output]:
        return self(self.engine.observe(VitalReading("monitor", metric, value, at(t)), at(t)))

    def link(self, source: str, t: float, lost: bool = True) -> list[Output]:
        state = Availability.STALE if lost else Availability.CONNECTED
        return self(self.engine.observe(AvailabilityChange(source, state, at(t)), at(t)))

    def tick(self, t: float) -> list[Output]:
        return self(self.engine.tick(at(t)))

    def id(self, key: str) -> str:
        return next(a.id for a in self.engine.active() if a.key == key)

    def expected(self) -> list[Alarm]:
        """What a restart must bring back: each shown alarm as its last logged transition left
        it (the engine may since have changed a message or cause without a transition)."""
        return sorted((self.last[a.id] for a in self.engine.active()), key=lambda a: a.id)


def restored(db: Engine) -> list[Alarm]:
    return sorted(active_alarms(db), key=lambda a: a.id)


def test_every_field_survives_a_restart(db: Engine) -> None:
    log = Logged(db)
    # 1. A MEDIUM link alarm nobody acknowledges: escalated to HIGH (so latching), message kept.
    log.link("monitor", 0)
    log.tick(120)
    # 2. HR 150 (HIGH), then 130 (MEDIUM): still latching; a nurse accepts it (acknowledged,
    #    responsible), another nurse accepts it too.
    for t in range(1, 33):
        log.vital(Metric.HR, 150, t)
    log.vital(Metric.HR, 130, 40)
    log(log.engine.accept_responsibility(log.id("hr_high"), "nurse.kim", at(50)))
    log(log.engine.accept_responsibility(log.id("hr_high"), "nurse.bo", at(55)))
    # 3. A pump alarm accepted, then rejected: nobody responsible, no acknowledgement, escalated.
    occlusion = PumpReading(
        "pump", at(60), PumpState.ALARM, conditions=frozenset({PumpCondition.OCCLUSION})
    )
    log(log.engine.observe(occlusion, at(60)))
    key = "pump:pump::occlusion"
    log(log.engine.accept_responsibility(log.id(key), "nurse.kim", at(61)))
    log(log.engine.reject_responsibility(log.id(key), "nurse.kim", at(62)))
    # 4. SpO2 acknowledged, then reminded: sounding again, the acknowledgement kept.
    for t in range(70, 84):
        log.vital(Metric.SPO2, 88, t)
    log(log.engine.acknowledge(log.id("spo2_low"), "nurse.kim", at(84)))
    for t in range(85, 130):
        log.vital(Metric.SPO2, 88, t)
    log.tick(210)
    # 5. A second link alarm acknowledged; a latched HIGH (bp 205/125, then a normal reading).
    log.link("pump", 220)
    log(log.engine.acknowledge(log.id("device_link:pump"), "nurse.kim", at(221)))
    for s, d, t in ((205, 125, 230), (130, 80, 240)):
        log.vital(Metric.NIBP_SYS, s, t)
        log.vital(Metric.NIBP_DIA, d, t)

    shown = {a.key: a for a in restored(db)}
    assert restored(db) == log.expected()  # every field, dataclass equality

    link = shown["device_link:monitor"]
    # Escalation notifies and keeps the priority; a technical alarm never latches.
    assert (link.escalated, link.priority, link.latching) == (True, Priority.MEDIUM, False)
    assert link.message == "monitor stale"  # not the escalation's "(not acknowledged)"
    assert link.sounding_since == at(0)
    hr = shown["hr_high"]  # reminded at the 210 s tick: sounding, its acknowledgement kept
    assert (hr.priority, hr.latching, hr.signal, hr.sounding_since) == (
        Priority.MEDIUM,
        True,
        SignalState.ON,
        at(210),
    )
    assert (hr.acknowledged_by, hr.acknowledged_at, hr.responsible) == (
        "nurse.kim",
        at(50),
        "nurse.bo",
    )
    assert hr.started_at == at(31)  # the first raise, not a later row's time
    pump = shown[key]
    assert (pump.responsible, pump.acknowledged_by, pump.escalated, pump.signal) == (
        None,
        None,
        True,
        SignalState.ON,
    )
    spo2 = shown["spo2_low"]
    assert (spo2.signal, spo2.acknowledged_by, spo2.sounding_since) == (
        SignalState.ON,
        "nurse.kim",
        at(210),
    )
    assert shown["bp_high"].signal is SignalState.LATCHED
    link2 = shown["device_link:pump"]
    assert (link2.signal, link2.acknowledged_at) == (SignalState.ACKNOWLEDGED, at(221))


def test_timers_continue_after_a_restart(db: Engine) -> None:
    log = Logged(db)
    log.link("monitor", 0)
    log.tick(120)  # escalated
    log.link("pump", 100)  # sounding since 100 s: escalates at 220 s
    log.vital(Metric.NIBP_SYS, 205, 110)
    log.vital(Metric.NIBP_DIA, 100, 110)  # one cuff measurement: judged once all parts are in
    log.vital(Metric.NIBP_MEAN, 135, 110)
    log(log.engine.acknowledge(log.id("bp_high"), "nurse.kim", at(115)))  # reminds at 235 s

    engine = AlarmEngine()
    engine.restore(active_alarms(db), at(150))  # restarted 30 s after the last event
    assert engine.next_deadline() == at(220)
    assert [t.event for t in engine.tick(at(219)) if isinstance(t, AlarmTransition)] == []
    [escalated] = [t for t in engine.tick(at(220)) if isinstance(t, AlarmTransition)]
    assert (escalated.alarm.key, escalated.event) == ("device_link:pump", Event.ESCALATED)
    [reminded] = [t for t in engine.tick(at(235)) if isinstance(t, AlarmTransition)]
    assert (reminded.alarm.key, reminded.event) == ("bp_high", Event.REMINDED)
    # The monitor's link alarm had escalated before the restart: never again.
    later = engine.tick(at(1000))
    assert all(
        t.alarm.key != "device_link:monitor" for t in later if isinstance(t, AlarmTransition)
    )

    # A restart long after: an alarm unacknowledged past escalate_s escalates at the first tick;
    # a restore time before the log's (the clock went back while down) counts from the restart.
    again = AlarmEngine()
    again.restore(active_alarms(db), at(100_000))
    events = {
        t.alarm.key: t.event for t in again.tick(at(100_000)) if isinstance(t, AlarmTransition)
    }
    assert events == {"device_link:pump": Event.ESCALATED, "bp_high": Event.REMINDED}
    back = AlarmEngine()
    back.restore(active_alarms(db), at(50))
    assert back.next_deadline() == at(50 + 120)


@pytest.mark.parametrize("seed", range(12))
def test_random_sessions_restore_exactly(db: Engine, seed: int) -> None:
    """Random readings, ticks and nurse actions: whatever is shown at the end comes back
    field for field."""
    rng = random.Random(seed)
    log = Logged(db)
    t = 0.0
    for _ in range(300):
        t += rng.choice([0.5, 1, 1, 2, 5, 30])
        roll = rng.random()
        if roll < 0.35:
            log.vital(Metric.HR, rng.choice([40, 80, 125, 138, 150]), t)
        elif roll < 0.6:
            log.vital(Metric.SPO2, rng.choice([80, 86, 88, 90.5, 97]), t)
        elif roll < 0.7:
            sys, dia = rng.choice([(205, 125), (185, 90), (120, 80)])
            log.vital(Metric.NIBP_SYS, sys, t)
            log.vital(Metric.NIBP_DIA, dia, t)
        elif roll < 0.75:
            log.link(rng.choice(["monitor", "pump"]), t, lost=rng.random() < 0.6)
        elif roll < 0.9:
            log.tick(t)
        else:
            shown = log.engine.active()
            if shown:
                alarm = rng.choice(shown)
                act = rng.choice(
                    [
                        log.engine.acknowledge,
                        log.engine.accept_responsibility,
                        log.engine.reject_responsibility,
                    ]
                )
                log(act(alarm.id, rng.choice(["nurse.kim", "nurse.bo"]), at(t)))
    assert restored(db) == log.expected()


# -- a real server, restarted on the same data directory ----------------------------------------


def alarms_by_key(server: RunningServer) -> dict[str, dict[str, Any]]:
    return {a["key"]: a for a in server.login("nurse").get("/api/v1/alarms").json()}


def test_a_restarted_server_shows_the_same_alarms(serve: Callable[..., RunningServer]) -> None:
    server = serve()
    nurse = server.login("nurse")
    server.cuff(205, 125, 90)  # HIGH blood pressure
    server.publish(AvailabilityChange("monitor", Availability.STALE, T0))  # MEDIUM link
    wait_for(lambda: {"bp_high", "device_link:monitor"} <= set(alarms_by_key(server)))
    shown = alarms_by_key(server)
    accepted = nurse.post(f"/api/v1/alarms/{shown['bp_high']['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    link_id = shown["device_link:monitor"]["id"]
    assert nurse.post(f"/api/v1/alarms/{link_id}/reject").status_code == 200
    before = wait_for(
        lambda: (a := alarms_by_key(server))["device_link:monitor"]["escalated"] and a
    )
    assert before["bp_high"]["responsible"] == "nurse"
    server.stop()

    again = serve()  # same data directory
    after = alarms_by_key(again)
    assert set(after) == {"bp_high", "device_link:monitor"}
    for key in after:  # every field the API shows, as before the restart
        assert after[key] == before[key], key
    assert after["device_link:monitor"]["priority"] == "medium"  # escalated: notified, not raised
    assert after["device_link:monitor"]["escalated"] is True
    assert after["bp_high"]["acknowledged_by"] == "nurse"
