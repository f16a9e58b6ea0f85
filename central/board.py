"""The central station's picture of every bed: pure logic, time passed in.

``Board.observe(message, now)`` applies one v1 message (service/mqtt_schema.py),
``Board.tick(now)`` moves time on (staleness, escalation deadlines, command time-outs), and
``Board.acknowledge(...)`` records a nurse's acknowledgement sent from the central. Each returns
``Outputs``: which beds changed (for the live overview), what to store, and which escalations to
notify. Nothing here reads a clock, touches the network or the database, so every rule is tested
with plain datetimes (tests/central/test_station_logic.py).

Rules:

* **De-duplication**: a bed's events carry a ``seq`` that only grows; an event whose seq is not
  above the bed's ``last_seq`` was seen before (a redelivery) and is neither stored nor applied
  again. The database's unique (bed, seq) constraint is the second line of defence.
* **Newest wins**: the retained ``up/state`` snapshot and the ``up/events`` stream can arrive in
  either order (different QoS, a backlog after a reconnect). Both carry the bed's own time; an
  alarm is changed only by something at least as new as what set it.
* **Online, stale**: ``up/status`` says online or offline (the last will says offline). An online
  bed not heard from (heartbeat, vitals, state) for ``stale_after`` is STALE. Retained messages
  replayed on subscription are not "hearing" the bed, but start the stale countdown.
* **Escalation**: a HIGH or MEDIUM alarm whose signal is on or latched (not acknowledged) at an
  online, fresh bed escalates ``escalate_after`` after the central first sees it so; once per
  alarm. Acknowledgement or end cancels it; while an acknowledgement sent from here is on its way
  it waits; at an offline or stale bed it waits too (that tile is the alarm) and fires on return.
* **Acknowledgement from the central**: ``acknowledge`` creates a pending command (the alarm
  shows "acknowledging…"); the bed's ``command_result`` event gives ok/failed with a detail; the
  ``acknowledged`` transition (by event or snapshot) completes it; no answer within
  ``command_timeout`` fails it.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from service.mqtt_schema import Event, Heartbeat, Message, State, Status, Vitals, parse_time
from service.serialize import iso

RANK = {"high": 3, "medium": 2, "low": 1}
ESCALATING = frozenset({"high", "medium"})
UNACKNOWLEDGED = frozenset({"on", "latched"})
#: Commands kept per bed for the overview (newest last).
COMMANDS_KEPT = 10
#: An online bed's row (last seen) is re-saved at most this often while nothing else changes.
SAVE_EVERY = timedelta(seconds=60)


# -- records for the database (the store maps them to rows) -------------------------------------


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event to store once (central_events), with its alarm_log row for alarm events."""

    bed: str
    seq: int
    kind: str
    at: datetime
    received_at: datetime
    payload: str
    alarm_log: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ReadingRecord:
    bed: str
    source: str
    metric: str
    value: float | None
    validity: str
    measured_at: datetime


@dataclass(frozen=True, slots=True)
class BedRecord:
    """The bed's row in central_beds (its last seq is kept by the store, from the events)."""

    bed: str
    online: bool
    status_at: datetime | None
    last_seen: datetime | None
    state: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    bed: str | None
    at: datetime
    user: str
    action: str
    detail: str


Record = EventRecord | ReadingRecord | BedRecord | AuditRecord


@dataclass(frozen=True, slots=True)
class Escalation:
    """An alarm not acknowledged in time: what a ``Notifier`` sends."""

    clinic: str
    bed: str
    bed_status: str
    alarm: dict[str, Any]
    shown_since: datetime
    escalated_at: datetime
    after_s: float

    @property
    def id(self) -> str:
        return f"{self.bed}/{self.alarm['id']}"

    def payload(self) -> dict[str, Any]:
        a = self.alarm
        return {
            "v": 1,
            "type": "escalation",
            "id": self.id,
            "clinic": self.clinic,
            "bed": self.bed,
            "bed_status": self.bed_status,
            "alarm": {
                key: a.get(key)
                for key in (
                    "id",
                    "key",
                    "kind",
                    "priority",
                    "message",
                    "source",
                    "started_at",
                    "condition",
                    "signal",
                    "cause",
                )
            },
            "shown_since": iso(self.shown_since),
            "escalated_at": iso(self.escalated_at),
            "unacknowledged_for_s": round((self.escalated_at - self.shown_since).total_seconds()),
            "escalate_after_s": self.after_s,
        }


@dataclass
class Outputs:
    changed: set[str] = field(default_factory=set)
    records: list[Record] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    #: An event seen before (not stored or applied again).
    duplicate: bool = False

    def merge(self, other: Outputs) -> Outputs:
        self.changed |= other.changed
        self.records += other.records
        self.escalations += other.escalations
        self.duplicate = self.duplicate or other.duplicate
        return self


class Refused(Exception):
    """An acknowledgement the central cannot send: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


# -- state ---------------------------------------------------------------------------------------


@dataclass
class Command:
    command_id: str
    bed: str
    alarm_id: str
    user: str
    sent_at: datetime
    pending: bool = True
    ok: bool | None = None
    detail: str = ""
    result_at: datetime | None = None

    @property
    def state(self) -> str:
        if self.pending:
            return "acknowledging"
        return "ok" if self.ok else "failed"

    def json(self) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "alarm_id": self.alarm_id,
            "user": self.user,
            "sent_at": iso(self.sent_at),
            "state": self.state,
            "ok": self.ok,
            "detail": self.detail,
            "result_at": iso(self.result_at),
        }


@dataclass
class AlarmState:
    data: dict[str, Any]
    #: The bed's time of the newest information applied (snapshot or event).
    as_of: datetime
    #: Central time from which the escalation deadline runs (first seen unacknowledged).
    shown_since: datetime | None = None
    due: datetime | None = None
    escalated_at: datetime | None = None
    command: Command | None = None

    @property
    def priority(self) -> str:
        return str(self.data.get("priority", "low"))

    @property
    def signal(self) -> str:
        return str(self.data.get("signal", "on"))

    def sort_key(self) -> tuple[int, int, str]:
        acked = 0 if self.signal in UNACKNOWLEDGED else 1
        return (-RANK.get(self.priority, 0), acked, str(self.data.get("started_at") or ""))

    def json(self) -> dict[str, Any]:
        command = self.command
        return {
            **self.data,
            "central": {
                "escalated": self.escalated_at is not None,
                "escalated_at": iso(self.escalated_at),
                "escalation_due": iso(self.due),
                "ack": None if command is None else command.json(),
            },
        }


@dataclass
class BedState:
    bed: str
    online: bool = False
    #: The bed's time of its last status message, and its software version.
    status_at: datetime | None = None
    version: str = ""
    #: Central time the bed was last heard from (heartbeat, vitals, live state or status).
    heard_at: datetime | None = None
    #: Heard live since this central started (not only through replayed retained messages).
    heard_live: bool = False
    stale: bool = False
    #: The bed's time of the newest state snapshot applied.
    state_at: datetime | None = None
    vitals: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarms: dict[str, AlarmState] = field(default_factory=dict)
    infusion: dict[str, Any] | None = None
    devices: list[dict[str, Any]] = field(default_factory=list)
    outbox: int | None = None
    last_seq: int = 0
    commands: OrderedDict[str, Command] = field(default_factory=OrderedDict)
    #: Bumped on every change the overview shows (cache key for its JSON).
    revision: int = 0
    #: Central time the row was last queued for the database.
    saved_at: datetime | None = None
    duplicates: int = 0

    @property
    def status(self) -> str:
        if not self.online:
            return "offline"
        return "stale" if self.stale else "online"

    def sorted_alarms(self) -> list[AlarmState]:
        return sorted(self.alarms.values(), key=AlarmState.sort_key)

    def json(self) -> dict[str, Any]:
        alarms = self.sorted_alarms()
        return {
            "bed": self.bed,
            "status": self.status,
            "online": self.online,
            "stale": self.stale,
            "last_seen": iso(self.heard_at),
            "status_at": iso(self.status_at),
            "state_at": iso(self.state_at),
            "version": self.version,
            "outbox": self.outbox,
            "last_seq": self.last_seq,
            "vitals": self.vitals,
            "alarms": [a.json() for a in alarms],
            "top_alarm": alarms[0].json() if alarms else None,
            "infusion": self.infusion,
            "devices": self.devices,
            "commands": [c.json() for c in self.commands.values()],
        }

    def saved_state(self) -> str:
        """What central_beds.state keeps: enough to show the bed again after a restart."""
        return json.dumps(
            {
                "version": self.version,
                "state_at": iso(self.state_at),
                "vitals": self.vitals,
                "alarms": [{**a.data, "as_of": iso(a.as_of)} for a in self.alarms.values()],
                "infusion": self.infusion,
                "devices": self.devices,
                "outbox": self.outbox,
            }
        )


# -- the board -----------------------------------------------------------------------------------


class Board:
    def __init__(
        self,
        clinic: str,
        *,
        stale_after: timedelta = timedelta(seconds=15),
        escalate_after: timedelta = timedelta(seconds=60),
        command_timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        self.clinic = clinic
        self.stale_after = stale_after
        self.escalate_after = escalate_after
        self.command_timeout = command_timeout
        self.beds: dict[str, BedState] = {}
        self.commands: dict[str, Command] = {}
        self.duplicates = 0

    # -- start-up ------------------------------------------------------------------------

    def restore(
        self,
        bed: str,
        *,
        last_seq: int,
        last_seen: datetime | None,
        status_at: datetime | None,
        state: str,
        escalated: dict[str, datetime] | None = None,
    ) -> None:
        """A bed as the database kept it. It is shown offline until its (retained) status
        arrives; alarms escalated before the restart (``escalated``: alarm id → when) are not
        escalated again."""
        b = self._bed(bed)
        b.last_seq = max(b.last_seq, last_seq)
        b.heard_at = last_seen
        b.status_at = status_at
        try:
            saved = json.loads(state or "{}")
        except ValueError:
            saved = {}
        if not isinstance(saved, dict):
            saved = {}
        b.version = str(saved.get("version") or "")
        vitals, infusion, devices = saved.get("vitals"), saved.get("infusion"), saved.get("devices")
        b.vitals = vitals if isinstance(vitals, dict) else {}
        b.infusion = infusion if isinstance(infusion, dict) else None
        b.devices = devices if isinstance(devices, list) else []
        b.outbox = saved.get("outbox") if isinstance(saved.get("outbox"), int) else None
        with_time = saved.get("state_at")
        b.state_at = parse_time(with_time, "state_at") if isinstance(with_time, str) else None
        for data in saved.get("alarms") or []:
            if not isinstance(data, dict) or not isinstance(data.get("id"), str):
                continue
            as_of_text = data.pop("as_of", None)
            as_of = parse_time(as_of_text, "as_of") if isinstance(as_of_text, str) else None
            alarm = AlarmState(data, as_of or b.state_at or parse_time("1970-01-01", "-"))
            when = (escalated or {}).get(alarm.data["id"])
            alarm.escalated_at = when
            b.alarms[alarm.data["id"]] = alarm
        b.revision += 1

    # -- messages ------------------------------------------------------------------------

    def observe(self, message: Message, now: datetime, *, retained: bool = False) -> Outputs:
        """Apply one message received at ``now`` (central time). ``retained``: replayed by the
        broker on subscription, not sent just now."""
        b = self._bed(message.bed)
        out = Outputs()
        if isinstance(message, Event):
            return self._event(b, message, now)
        if isinstance(message, Status):
            changed = b.online != message.online
            b.online = message.online
            b.status_at = message.at
            b.version = message.version or b.version
            if b.online:
                self._heard(b, now, live=not retained)
            else:
                b.stale = False
            out.records.append(self._saved(b, now))
            if changed:
                for alarm in b.alarms.values():
                    self._track(b, alarm, now)
        elif isinstance(message, Heartbeat):
            b.outbox = message.outbox
            self._came_online(b, now)
        elif isinstance(message, Vitals):
            for reading in message.readings:
                self._vital(b, reading)
                out.records.append(
                    ReadingRecord(
                        bed=b.bed,
                        source=str(reading.get("source") or ""),
                        metric=str(reading["metric"]),
                        value=reading.get("value"),
                        validity=str(reading.get("validity") or "valid"),
                        measured_at=parse_time(reading["measured_at"], "measured_at"),
                    )
                )
            self._came_online(b, now)
        elif isinstance(message, State):
            if retained:
                self._heard(b, now, live=False)
            else:
                self._came_online(b, now)
            if b.state_at is None or message.at >= b.state_at:
                self._state(b, message, now)
                out.records.append(self._saved(b, now))
        out.changed.add(b.bed)
        b.revision += 1
        return out

    def _came_online(self, b: BedState, now: datetime) -> None:
        """Heartbeats, vitals and live state are only ever sent by a connected unit."""
        if not b.online:
            b.online = True
            for alarm in b.alarms.values():
                self._track(b, alarm, now)
        self._heard(b, now, live=True)

    def _heard(self, b: BedState, now: datetime, *, live: bool) -> None:
        if live:
            b.heard_at = now
            b.heard_live = True
            b.stale = False
        elif b.online and not b.heard_live:
            # Only replayed retained messages so far: the stale countdown starts now.
            b.heard_at = now

    def _vital(self, b: BedState, reading: dict[str, Any]) -> None:
        metric = str(reading["metric"])
        current = b.vitals.get(metric)
        if current is None or str(reading["measured_at"]) >= str(current.get("measured_at", "")):
            b.vitals[metric] = reading

    def _state(self, b: BedState, message: State, now: datetime) -> None:
        b.state_at = message.at
        for metric, reading in message.vitals.items():
            reading.setdefault("metric", metric)
            self._vital(b, reading)
        b.infusion = message.infusion
        b.devices = message.devices
        shown = {a["id"]: a for a in message.alarms}
        for alarm_id in list(b.alarms):
            if alarm_id not in shown and b.alarms[alarm_id].as_of <= message.at:
                self._ended(b, b.alarms.pop(alarm_id))
        for alarm_id, data in shown.items():
            current = b.alarms.get(alarm_id)
            if current is not None and current.as_of > message.at:
                continue  # a newer event already said more
            self._set_alarm(b, alarm_id, data, message.at, now)

    def _event(self, b: BedState, event: Event, now: datetime) -> Outputs:
        out = Outputs()
        if event.seq <= b.last_seq:
            b.duplicates += 1
            self.duplicates += 1
            out.duplicate = True
            return out
        b.last_seq = event.seq
        alarm_log = None
        if event.kind == "alarm":
            alarm_log = self._alarm_event(b, event, now)
        elif event.kind == "command_result":
            self._command_result(b, event, now)
        out.records.append(
            EventRecord(
                bed=b.bed,
                seq=event.seq,
                kind=event.kind,
                at=event.at,
                received_at=now,
                payload=json.dumps(event.data),
                alarm_log=alarm_log,
            )
        )
        out.changed.add(b.bed)
        b.revision += 1
        return out

    def _alarm_event(self, b: BedState, event: Event, now: datetime) -> dict[str, Any]:
        data = event.data
        alarm_id = str(data["id"])
        current = b.alarms.get(alarm_id)
        newer_known = (current is not None and event.at < current.as_of) or (
            current is None and b.state_at is not None and event.at < b.state_at
        )
        if not newer_known:
            if data["signal"] == "off" or data.get("state") == "cleared":
                if current is not None:
                    self._ended(b, b.alarms.pop(alarm_id))
            else:
                transition = ("event", "state", "user", "notify", "at")
                alarm = {k: v for k, v in data.items() if k not in transition}
                self._set_alarm(b, alarm_id, alarm, event.at, now)
        return _alarm_log(b.bed, event)

    def _set_alarm(
        self, b: BedState, alarm_id: str, data: dict[str, Any], as_of: datetime, now: datetime
    ) -> None:
        alarm = b.alarms.get(alarm_id)
        if alarm is None:
            alarm = b.alarms[alarm_id] = AlarmState(data, as_of)
        else:
            alarm.data = data
            alarm.as_of = as_of
        command = alarm.command
        if command is not None and command.pending and alarm.signal == "acknowledged":
            command.pending = False
            if command.ok is None:
                command.ok = True
                command.detail = "acknowledged at the bed"
            command.result_at = command.result_at or now
        self._track(b, alarm, now)

    def _ended(self, b: BedState, alarm: AlarmState) -> None:
        alarm.due = None
        # A pending acknowledgement of an alarm that ended is answered by the bed's result.

    def _track(self, b: BedState, alarm: AlarmState, now: datetime) -> None:
        """Start or cancel the escalation deadline after a change of the alarm."""
        waiting = alarm.priority in ESCALATING and alarm.signal in UNACKNOWLEDGED
        if waiting and alarm.escalated_at is None:
            if alarm.due is None:
                alarm.shown_since = now
                alarm.due = now + self.escalate_after
        else:
            alarm.due = None

    def _command_result(self, b: BedState, event: Event, now: datetime) -> None:
        data = event.data
        command = self.commands.get(str(data["command_id"]))
        if command is None or command.bed != b.bed:
            return  # sent before a restart of the central, or not by it
        command.ok = bool(data["ok"])
        command.detail = str(data.get("detail") or ("done" if command.ok else "refused"))
        command.result_at = now
        alarm = b.alarms.get(command.alarm_id)
        if not command.ok or alarm is None or alarm.signal == "acknowledged":
            command.pending = False

    # -- acknowledgement from the central -----------------------------------------------

    def acknowledge(
        self, bed: str, alarm_id: str, user: str, command_id: str, now: datetime
    ) -> tuple[Command, Outputs]:
        """Record an acknowledgement to send to ``bed``; ``Refused`` when it cannot be sent."""
        b = self.beds.get(bed)
        if b is None:
            raise Refused(404, f"no bed {bed}")
        if not b.online:
            raise Refused(409, "bed offline")
        if b.stale:
            raise Refused(409, "bed not responding (stale)")
        alarm = b.alarms.get(alarm_id)
        if alarm is None:
            raise Refused(404, f"no alarm {alarm_id} shown at {bed}")
        if alarm.signal not in UNACKNOWLEDGED:
            raise Refused(409, f"alarm already {alarm.signal}")
        if alarm.command is not None and alarm.command.pending:
            raise Refused(409, "an acknowledgement is already on its way")
        command = Command(command_id, bed, alarm_id, user, now)
        alarm.command = command
        self.commands[command_id] = command
        b.commands[command_id] = command
        while len(b.commands) > COMMANDS_KEPT:
            old_id, _ = b.commands.popitem(last=False)
            self.commands.pop(old_id, None)
        b.revision += 1
        out = Outputs(changed={bed})
        detail = json.dumps({"alarm_id": alarm_id, "command_id": command_id})
        out.records.append(AuditRecord(bed, now, user, "acknowledge_sent", detail))
        return command, out

    def command_failed(self, command_id: str, detail: str, now: datetime) -> Outputs:
        """The command never reached the broker (refused, no connection)."""
        command = self.commands.get(command_id)
        if command is None or not command.pending:
            return Outputs()
        command.pending = False
        command.ok = False
        command.detail = detail
        command.result_at = now
        b = self.beds[command.bed]
        b.revision += 1
        return Outputs(changed={command.bed})

    # -- time ----------------------------------------------------------------------------

    def tick(self, now: datetime) -> Outputs:
        out = Outputs()
        timeout_s = self.command_timeout.total_seconds()
        for b in self.beds.values():
            changed = False
            for command in b.commands.values():
                if command.pending and now - command.sent_at >= self.command_timeout:
                    command.pending = False
                    command.ok = False
                    command.detail = f"no answer from the bed within {timeout_s:g} s"
                    command.result_at = now
                    changed = True
            if b.online and b.heard_at is not None:
                stale = now - b.heard_at > self.stale_after
                if stale != b.stale:
                    b.stale = stale
                    changed = True
            if b.online and not b.stale:
                for alarm in b.alarms.values():
                    waiting = alarm.command is not None and alarm.command.pending
                    if not waiting and alarm.due is not None and now >= alarm.due:
                        out.merge(self._escalate(b, alarm, now))
                        changed = True
            if b.online and b.saved_at is not None and now - b.saved_at >= SAVE_EVERY:
                out.records.append(self._saved(b, now))
            if changed:
                b.revision += 1
                out.changed.add(b.bed)
        return out

    def _escalate(self, b: BedState, alarm: AlarmState, now: datetime) -> Outputs:
        alarm.due = None
        alarm.escalated_at = now
        shown_since = alarm.shown_since or now
        escalation = Escalation(
            clinic=self.clinic,
            bed=b.bed,
            bed_status=b.status,
            alarm=dict(alarm.data),
            shown_since=shown_since,
            escalated_at=now,
            after_s=self.escalate_after.total_seconds(),
        )
        detail = json.dumps(
            {
                "alarm_id": alarm.data["id"],
                "priority": alarm.priority,
                "message": alarm.data.get("message", ""),
                "unacknowledged_for_s": round((now - shown_since).total_seconds()),
            }
        )
        return Outputs(
            changed={b.bed},
            records=[AuditRecord(b.bed, now, "central", "escalated", detail)],
            escalations=[escalation],
        )

    # -- views ---------------------------------------------------------------------------

    def _bed(self, bed: str) -> BedState:
        b = self.beds.get(bed)
        if b is None:
            b = self.beds[bed] = BedState(bed)
        return b

    def _saved(self, b: BedState, now: datetime) -> BedRecord:
        b.saved_at = now
        return BedRecord(b.bed, b.online, b.status_at, b.heard_at, b.saved_state())

    def bed_json(self, bed: str) -> dict[str, Any] | None:
        b = self.beds.get(bed)
        return None if b is None else b.json()

    def beds_json(self) -> list[dict[str, Any]]:
        return [self.beds[name].json() for name in sorted(self.beds, key=natural)]


def natural(name: str) -> tuple[Any, ...]:
    """bed-2 before bed-10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _alarm_log(bed: str, event: Event) -> dict[str, Any]:
    """The alarm_log row of an alarm event, as a bedside unit writes it (with the bed)."""
    d = event.data
    started = d.get("started_at")
    try:
        started_at = parse_time(started, "started_at") if started else event.at
    except ValueError:
        started_at = event.at
    return {
        "bed": bed,
        "alarm_id": str(d["id"])[:160],
        "key": str(d.get("key") or "")[:128],
        "kind": str(d.get("kind") or "")[:16],
        "priority": str(d["priority"])[:8],
        "state": str(d.get("state") or ("cleared" if d["signal"] == "off" else "active"))[:16],
        "message": str(d.get("message") or "")[:256],
        "source": str(d.get("source") or "")[:64],
        "started_at": started_at,
        "at": event.at,
        "event": str(d.get("event") or "")[:32],
        "condition": str(d.get("condition") or "")[:16],
        "signal": str(d["signal"])[:16],
        "user": None if d.get("user") is None else str(d["user"])[:64],
        "notify": None if d.get("notify") is None else str(d["notify"])[:32],
        "cause": str(d.get("cause") or "")[:256],
        "mono": None,
    }
