"""The central station's pure logic (central/board.py, settings.py; service/mqtt_schema.py):
staleness, escalation, de-duplication, the acknowledgement's life, parsing. Time is a plain
datetime passed in; nothing sleeps, nothing touches the network or a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central.board import (
    AuditRecord,
    BedRecord,
    Board,
    EventRecord,
    Outputs,
    ReadingRecord,
    Refused,
)
from central.settings import load_station_settings
from service.mqtt_schema import BadMessage, Message, command_topic, parse, subscriptions
from service.serialize import iso

CLINIC = "clinic-a"
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def message(bed: str, leaf: str, **body: Any) -> Message:
    """A v1 message as a unit publishes it, read through the real parser."""
    payload = json.dumps({"v": 1, "bed": bed, **body}).encode()
    parsed = parse(f"vigil/v1/{CLINIC}/{bed}/up/{leaf}", payload, CLINIC)
    assert parsed is not None
    return parsed


def alarm(
    alarm_id: str = "spo2_low@1", priority: str = "high", signal: str = "on", **extra: Any
) -> dict[str, Any]:
    return {
        "id": alarm_id,
        "key": alarm_id.split("@")[0],
        "kind": "physiological",
        "priority": priority,
        "message": "SpO2 84 < 85",
        "source": "monitor",
        "started_at": iso(T0),
        "condition": "active" if signal in ("on", "acknowledged") else "inactive",
        "signal": signal,
        "acknowledged_by": None,
        **extra,
    }


def transition(event: str, **fields: Any) -> dict[str, Any]:
    data = alarm(**fields)
    state = "cleared" if data["signal"] == "off" else "active"
    return {**data, "event": event, "state": state, "user": None}


def event(bed: str, seq: int, kind: str, data: dict[str, Any], when: datetime) -> Message:
    return message(bed, "events", seq=seq, id=f"{bed}/{seq}", kind=kind, at=iso(when), data=data)


def status(bed: str, online: bool, when: datetime) -> Message:
    return message(bed, "status", online=online, at=iso(when), version="0.1.0")


def heartbeat(bed: str, when: datetime, outbox: int = 0) -> Message:
    return message(bed, "heartbeat", at=iso(when), outbox=outbox)


def state(bed: str, when: datetime, alarms: list[dict[str, Any]]) -> Message:
    vital = {
        "source": "monitor",
        "metric": "hr",
        "value": 72.0,
        "unit": "/min",
        "validity": "valid",
        "measured_at": iso(when),
    }
    return message(
        bed,
        "state",
        at=iso(when),
        vitals={"hr": vital},
        alarms=alarms,
        infusion=None,
        devices=[{"source": "monitor", "availability": "connected"}],
    )


def board(**kw: Any) -> Board:
    return Board(
        CLINIC,
        stale_after=timedelta(seconds=kw.pop("stale", 15)),
        escalate_after=timedelta(seconds=kw.pop("escalate", 60)),
        command_timeout=timedelta(seconds=kw.pop("timeout", 30)),
    )


def online(b: Board, bed: str = "bed-1", when: datetime = T0) -> None:
    b.observe(status(bed, True, when), when)
    b.observe(heartbeat(bed, when), when)


def raise_alarm(b: Board, seq: int = 1, when: datetime = T0, **fields: Any) -> Outputs:
    return b.observe(event("bed-1", seq, "alarm", transition("raised", **fields), when), when)


# -- staleness and online ------------------------------------------------------------------------


def test_a_silent_bed_turns_stale_after_stale_after_and_fresh_on_the_next_heartbeat() -> None:
    b = board()
    online(b)
    assert b.tick(at(15)).changed == set()
    assert b.beds["bed-1"].status == "online"
    assert b.tick(at(15.1)).changed == {"bed-1"}
    assert b.beds["bed-1"].status == "stale"
    assert b.tick(at(20)).changed == set()  # reported once
    b.observe(heartbeat("bed-1", at(21)), at(21))
    assert b.beds["bed-1"].status == "online"
    assert b.bed_json("bed-1")["last_seen"] == iso(at(21))  # type: ignore[index]


def test_vitals_and_a_live_state_count_as_hearing_the_bed() -> None:
    b = board()
    online(b)
    reading = {"source": "monitor", "metric": "spo2", "value": 97, "measured_at": iso(at(10))}
    out = b.observe(message("bed-1", "vitals", at=iso(at(10)), readings=[reading]), at(10))
    assert [type(r) for r in out.records] == [ReadingRecord]
    b.observe(state("bed-1", at(20), []), at(20))
    assert b.tick(at(34)).changed == set()
    assert b.beds["bed-1"].vitals["spo2"]["value"] == 97.0
    b.tick(at(35.1))
    assert b.beds["bed-1"].status == "stale"


def test_the_last_will_marks_offline_and_an_offline_bed_is_never_stale() -> None:
    b = board()
    online(b)
    out = b.observe(status("bed-1", False, T0), at(3))
    assert out.changed == {"bed-1"} and isinstance(out.records[0], BedRecord)
    assert b.beds["bed-1"].status == "offline"
    assert b.bed_json("bed-1")["last_seen"] == iso(T0)  # type: ignore[index]  # the will: not heard
    b.tick(at(100))
    assert b.beds["bed-1"].status == "offline"


def test_retained_messages_start_the_stale_countdown_but_are_not_hearing_the_bed() -> None:
    b = board()
    b.restore("bed-1", last_seq=4, last_seen=at(-3600), status_at=None, state="{}")
    assert b.beds["bed-1"].status == "offline"
    b.observe(status("bed-1", True, at(-3600)), T0, retained=True)
    b.observe(state("bed-1", at(-3599), []), at(0.1), retained=True)
    assert b.beds["bed-1"].status == "online"
    assert b.tick(at(14)).changed == set()
    b.tick(at(16))
    assert b.beds["bed-1"].status == "stale"  # a unit that died without its will reaching us


def test_a_heartbeat_after_an_offline_status_means_the_unit_is_back() -> None:
    b = board()
    b.observe(status("bed-1", False, T0), T0)
    b.observe(heartbeat("bed-1", at(1), outbox=7), at(1))
    bed = b.bed_json("bed-1")
    assert bed is not None and (bed["status"], bed["outbox"]) == ("online", 7)


# -- de-duplication and ordering -----------------------------------------------------------------


def test_a_redelivered_event_is_neither_stored_nor_applied_again() -> None:
    b = board()
    online(b)
    first = raise_alarm(b, seq=1, when=at(1))
    assert [type(r) for r in first.records] == [EventRecord]
    record = first.records[0]
    assert isinstance(record, EventRecord) and record.alarm_log is not None
    assert (record.bed, record.seq, record.alarm_log["bed"]) == ("bed-1", 1, "bed-1")
    acked = transition("acknowledged", signal="acknowledged", acknowledged_by="nurse")
    b.observe(event("bed-1", 2, "alarm", acked, at(2)), at(2))
    again = raise_alarm(b, seq=1, when=at(1))  # the broker delivers seq 1 once more
    assert again.duplicate and again.records == [] and again.changed == set()
    assert b.beds["bed-1"].alarms["spo2_low@1"].signal == "acknowledged"
    assert (b.beds["bed-1"].last_seq, b.duplicates) == (2, 1)


def test_an_event_older_than_the_snapshot_is_stored_but_does_not_change_the_alarm() -> None:
    b = board()
    online(b)
    b.observe(state("bed-1", at(10), [alarm(signal="acknowledged")]), at(10))
    out = raise_alarm(b, seq=1, when=at(5))  # from the outbox backlog, after the newer state
    assert len(out.records) == 1
    assert b.beds["bed-1"].alarms["spo2_low@1"].signal == "acknowledged"
    ended = transition("ended", signal="off")
    b.observe(event("bed-1", 2, "alarm", ended, at(4)), at(11))  # an older end: ignored too
    assert "spo2_low@1" in b.beds["bed-1"].alarms
    b.observe(state("bed-1", at(12), []), at(12))  # the bed no longer shows it
    assert b.beds["bed-1"].alarms == {}


def test_an_older_snapshot_does_not_undo_a_newer_event() -> None:
    b = board()
    online(b)
    raise_alarm(b, seq=1, when=at(5))
    b.observe(state("bed-1", at(3), []), at(6))
    assert "spo2_low@1" in b.beds["bed-1"].alarms


def test_unknown_event_kinds_are_stored_and_otherwise_ignored() -> None:
    b = board()
    online(b)
    out = b.observe(event("bed-1", 1, "session_note", {"text": "x"}, at(1)), at(1))
    record = out.records[0]
    assert isinstance(record, EventRecord) and (record.kind, record.alarm_log) == (
        "session_note",
        None,
    )


# -- escalation ----------------------------------------------------------------------------------


def test_an_unacknowledged_high_alarm_escalates_once_after_escalate_after() -> None:
    b = board()
    online(b)
    raise_alarm(b, when=at(1))
    for second in (10, 30, 60):
        b.observe(heartbeat("bed-1", at(second)), at(second))
        assert b.tick(at(second)).escalations == []
    b.observe(heartbeat("bed-1", at(61)), at(61))
    out = b.tick(at(61))
    assert [e.alarm["id"] for e in out.escalations] == ["spo2_low@1"]
    audit = [r for r in out.records if isinstance(r, AuditRecord)]
    assert [(a.bed, a.user, a.action) for a in audit] == [("bed-1", "central", "escalated")]
    assert json.loads(audit[0].detail)["alarm_id"] == "spo2_low@1"
    shown = b.bed_json("bed-1")["alarms"][0]["central"]  # type: ignore[index]
    assert shown["escalated"] and shown["escalated_at"] == iso(at(61))
    b.observe(heartbeat("bed-1", at(62)), at(62))
    assert b.tick(at(200)).escalations == []  # once per alarm
    payload = out.escalations[0].payload()
    assert payload["id"] == "bed-1/spo2_low@1" and payload["unacknowledged_for_s"] == 60
    assert (payload["clinic"], payload["alarm"]["priority"], payload["bed_status"]) == (
        CLINIC,
        "high",
        "online",
    )


@pytest.mark.parametrize(("priority", "escalates"), [("medium", True), ("low", False)])
def test_medium_escalates_low_does_not(priority: str, escalates: bool) -> None:
    b = board(stale=1000)
    online(b)
    raise_alarm(b, priority=priority)
    assert bool(b.tick(at(60)).escalations) is escalates


def test_acknowledgement_or_end_before_the_deadline_cancels_the_escalation() -> None:
    b = board(stale=1000)
    online(b)
    raise_alarm(b, seq=1, alarm_id="a@1")
    raise_alarm(b, seq=2, alarm_id="b@1")
    acked = transition("acknowledged", alarm_id="a@1", signal="acknowledged")
    b.observe(event("bed-1", 3, "alarm", acked, at(30)), at(30))
    b.observe(
        event("bed-1", 4, "alarm", transition("ended", alarm_id="b@1", signal="off"), at(31)),
        at(31),
    )
    assert b.tick(at(120)).escalations == []
    assert list(b.beds["bed-1"].alarms) == ["a@1"]


def test_a_latched_alarm_still_needs_acknowledging() -> None:
    b = board(stale=1000)
    online(b)
    raise_alarm(b)
    latched = transition("latched", signal="latched")
    b.observe(event("bed-1", 2, "alarm", latched, at(10)), at(10))
    assert len(b.tick(at(60)).escalations) == 1


def test_an_offline_or_stale_bed_does_not_escalate_until_it_is_back() -> None:
    b = board(stale=15)
    online(b)
    raise_alarm(b)
    b.observe(status("bed-1", False, at(5)), at(5))
    assert b.tick(at(100)).escalations == []
    b.observe(status("bed-1", True, at(101)), at(101))
    out = b.tick(at(101))
    assert len(out.escalations) == 1  # overdue: at once
    b2 = board(stale=15)
    online(b2)
    raise_alarm(b2)
    assert b2.tick(at(70)).escalations == []  # stale by then
    b2.observe(heartbeat("bed-1", at(71)), at(71))
    assert len(b2.tick(at(71)).escalations) == 1


def test_an_alarm_escalated_before_a_restart_is_not_escalated_again() -> None:
    b = board(stale=1000)
    online(b)
    raise_alarm(b)
    saved = b.beds["bed-1"].saved_state()
    again = board(stale=1000)
    again.restore(
        "bed-1", last_seq=1, last_seen=T0, status_at=T0, state=saved, escalated={"spo2_low@1": T0}
    )
    assert again.beds["bed-1"].alarms["spo2_low@1"].signal == "on"
    online(again, when=at(1))
    assert again.tick(at(500)).escalations == []
    fresh = board(stale=1000)
    fresh.restore("bed-1", last_seq=1, last_seen=T0, status_at=T0, state=saved)
    online(fresh, when=at(1))
    assert len(fresh.tick(at(61)).escalations) == 1  # the deadline runs from the restart


# -- acknowledgement from the central ------------------------------------------------------------


def test_acknowledge_lifecycle_pending_then_result_then_acknowledged_transition() -> None:
    b = board(stale=1000)
    online(b)
    raise_alarm(b)
    command, out = b.acknowledge("bed-1", "spo2_low@1", "nurse", "c1", at(10))
    assert command.state == "acknowledging" and out.changed == {"bed-1"}
    assert [r.action for r in out.records if isinstance(r, AuditRecord)] == ["acknowledge_sent"]
    ack = b.bed_json("bed-1")["alarms"][0]["central"]["ack"]  # type: ignore[index]
    assert (ack["state"], ack["user"], ack["command_id"]) == ("acknowledging", "nurse", "c1")
    result = {"command_id": "c1", "ok": True, "detail": "acknowledged by nurse@central"}
    b.observe(event("bed-1", 2, "command_result", result, at(11)), at(11))
    assert command.state == "acknowledging"  # until the transition arrives
    acked = transition(
        "acknowledged", signal="acknowledged", acknowledged_by="nurse@central", user="x"
    )
    b.observe(event("bed-1", 3, "alarm", acked, at(11)), at(11))
    assert (command.state, command.detail) == ("ok", "acknowledged by nurse@central")
    shown = b.bed_json("bed-1")
    assert shown is not None
    assert shown["alarms"][0]["signal"] == "acknowledged"
    assert shown["commands"][0]["state"] == "ok"
    assert b.tick(at(200)).escalations == []


def test_a_refused_acknowledgement_shows_failed_with_the_beds_reason() -> None:
    b = board(stale=1000)
    online(b)
    raise_alarm(b)
    command, _ = b.acknowledge("bed-1", "spo2_low@1", "nurse", "c1", at(10))
    result = {"command_id": "c1", "ok": False, "detail": "no shown alarm with id 'spo2_low@1'"}
    b.observe(event("bed-1", 2, "command_result", result, at(11)), at(11))
    assert (command.state, command.detail) == ("failed", "no shown alarm with id 'spo2_low@1'")
    # and a second try is allowed
    b.acknowledge("bed-1", "spo2_low@1", "nurse", "c2", at(12))


def test_an_unanswered_acknowledgement_times_out_and_the_escalation_resumes() -> None:
    b = board(stale=1000, escalate=60, timeout=30)
    online(b)
    raise_alarm(b)
    command, _ = b.acknowledge("bed-1", "spo2_low@1", "nurse", "c1", at(50))
    assert b.tick(at(70)).escalations == []  # overdue, but an acknowledgement is on its way
    out = b.tick(at(80))
    assert command.state == "failed" and "no answer from the bed within 30 s" in command.detail
    assert len(out.escalations) == 1


def test_an_acknowledgement_the_broker_never_took_fails_at_once() -> None:
    b = board(stale=1000)
    online(b)
    raise_alarm(b)
    command, _ = b.acknowledge("bed-1", "spo2_low@1", "nurse", "c1", at(10))
    assert b.command_failed("c1", "central broker unreachable", at(10)).changed == {"bed-1"}
    assert (command.state, command.detail) == ("failed", "central broker unreachable")


@pytest.mark.parametrize(
    ("setup", "bed", "alarm_id", "status_code", "detail"),
    [
        ("offline", "bed-1", "spo2_low@1", 409, "bed offline"),
        ("stale", "bed-1", "spo2_low@1", 409, "bed not responding (stale)"),
        ("online", "bed-9", "spo2_low@1", 404, "no bed bed-9"),
        ("online", "bed-1", "nope@1", 404, "no alarm nope@1 shown at bed-1"),
        ("acknowledged", "bed-1", "spo2_low@1", 409, "alarm already acknowledged"),
        ("pending", "bed-1", "spo2_low@1", 409, "an acknowledgement is already on its way"),
    ],
)
def test_acknowledgements_that_cannot_be_sent_are_refused(
    setup: str, bed: str, alarm_id: str, status_code: int, detail: str
) -> None:
    b = board()
    online(b)
    raise_alarm(b)
    if setup == "offline":
        b.observe(status("bed-1", False, at(1)), at(1))
    elif setup == "stale":
        b.tick(at(16))
    elif setup == "acknowledged":
        acked = transition("acknowledged", signal="acknowledged")
        b.observe(event("bed-1", 2, "alarm", acked, at(2)), at(2))
    elif setup == "pending":
        b.acknowledge("bed-1", "spo2_low@1", "nurse", "c0", at(2))
    with pytest.raises(Refused) as refused:
        b.acknowledge(bed, alarm_id, "nurse", "c1", at(3))
    assert (refused.value.status, refused.value.detail) == (status_code, detail)


def test_overview_json_orders_alarms_and_beds() -> None:
    b = board(stale=1000)
    for name in ("bed-10", "bed-2", "bed-1"):
        online(b, name)
    b.observe(state("bed-1", at(1), [alarm("low@1", "low"), alarm("high@1", "high")]), at(1))
    assert [x["bed"] for x in b.beds_json()] == ["bed-1", "bed-2", "bed-10"]
    shown = b.bed_json("bed-1")
    assert shown is not None
    assert [a["id"] for a in shown["alarms"]] == ["high@1", "low@1"]
    assert shown["top_alarm"]["id"] == "high@1"
    assert shown["vitals"]["hr"]["value"] == 72.0


# -- the schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leaf", "body", "error"),
    [
        ("heartbeat", b"not json", "not JSON"),
        ("heartbeat", b"[1]", "not a JSON object"),
        ("heartbeat", b'{"v": 2, "bed": "bed-1", "at": "2026-11-22T09:00:00Z"}', "v: 2"),
        ("heartbeat", b'{"v": 1, "bed": "bed-2", "at": "2026-11-22T09:00:00Z"}', "bed: 'bed-2'"),
        ("heartbeat", b'{"v": 1, "bed": "bed-1", "at": "yesterday"}', "at: not an ISO"),
        ("status", b'{"v": 1, "bed": "bed-1", "at": "2026-11-22T09:00:00Z"}', "online"),
        (
            "events",
            b'{"v":1,"bed":"bed-1","at":"2026-11-22T09:00:00Z","seq":0,"kind":"alarm","data":{}}',
            "seq",
        ),
        (
            "events",
            b'{"v":1,"bed":"bed-1","at":"2026-11-22T09:00:00Z","seq":3,"id":"bed-1/4",'
            b'"kind":"alarm","data":{}}',
            "id",
        ),
        (
            "events",
            b'{"v":1,"bed":"bed-1","at":"2026-11-22T09:00:00Z","seq":3,"kind":"alarm",'
            b'"data":{"id":"x","priority":"urgent","signal":"on"}}',
            "priority",
        ),
    ],
)
def test_bad_messages_are_refused_with_the_reason(leaf: str, body: bytes, error: str) -> None:
    with pytest.raises(BadMessage, match=error):
        parse(f"vigil/v1/{CLINIC}/bed-1/up/{leaf}", body, CLINIC)


def test_topics_outside_the_schema_are_ignored() -> None:
    ok = b'{"v": 1, "bed": "bed-1", "at": "2026-11-22T09:00:00Z"}'
    assert parse("vigil/v1/clinic-b/bed-1/up/heartbeat", ok, CLINIC) is None
    assert parse(f"vigil/v1/{CLINIC}/bed-1/up/future-thing", ok, CLINIC) is None
    assert parse(f"vigil/v1/{CLINIC}/bed-1/cmd/acknowledge", ok, CLINIC) is None
    assert parse(f"vigil/v1/{CLINIC}/bed-1/up/heartbeat", ok, CLINIC) is not None
    assert (
        command_topic(CLINIC, "bed-1", "acknowledge") == "vigil/v1/clinic-a/bed-1/cmd/acknowledge"
    )
    assert ("vigil/v1/clinic-a/+/up/events", 1) in subscriptions(CLINIC)


# -- settings ------------------------------------------------------------------------------------


def test_settings_read_the_password_file_and_name_bad_settings(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    config = tmp_path / "central.toml"
    config.write_text(f'clinic = "clinic-a"\npassword_file = "{secret}"\nescalate_after_s = 90\n')
    settings = load_station_settings(config, port=8200)
    assert settings.password is not None and settings.password.get_secret_value() == "s3cret"
    assert (settings.escalate_after_s, settings.port, settings.stale_after_s) == (90, 8200, 15)
    assert settings.database_url.endswith("central.db")
    assert settings.mqtt_client_id == "vigil-central-clinic-a"
    with pytest.raises(ValueError, match=r"^bad settings: stale_after_s: Input should be greater"):
        load_station_settings(config, stale_after_s=0)
    with pytest.raises(ValueError, match="webhook_url: an http:// or https:// URL"):
        load_station_settings(config, webhook_url="ftp://x")
    with pytest.raises(ValueError, match=r"ca_file: .*no such file"):
        load_station_settings(config, ca_file=tmp_path / "missing.crt")
    config.write_text('clinic = "clinic-a"\nbroker_hots = "x"\npassword = "p"\n')
    with pytest.raises(ValueError, match="broker_hots: Extra inputs are not permitted"):
        load_station_settings(config)
    config.write_text('clinic = "clinic-a"\n')
    with pytest.raises(ValueError, match="password is missing"):
        load_station_settings(config)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["central"], "vigil: bad settings: clinic: Field required\n"),
        (["central", "--clinic", "a/b", "--broker-port", "1"], "vigil: bad settings: clinic: "),
        (["central", "--config", "/nonexistent.toml"], "configuration file /nonexistent.toml"),
        (
            ["central", "--clinic", "c", "--password-file", "/nonexistent"],
            "password_file: No such file or directory: /nonexistent",
        ),
    ],
)
def test_vigil_central_names_a_bad_setting_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from service.cli import main

    for name in ("VIGIL_CENTRAL_PASSWORD", "VIGIL_CENTRAL_CLINIC"):
        monkeypatch.delenv(name, raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
