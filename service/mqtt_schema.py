"""The MQTT schema v1 of docs/mqtt.md as code, for both ends of the link: topics, the version,
what a bed sends (``up/...``, encoded here, parsed here by the central) and what the central
sends (``cmd/...``, encoded here, parsed here by the bed).

The bed's uplink (service/link/uplink.py) and the clinic central station (central/) both use
this module and share nothing else of each other's: it is the whole contract between them. It is
pure (no I/O, no clock: times are passed in) and imports only the standard library and the API's
time format (``service.serialize.iso``), so the central never loads the bed's runtime to read it
(tests/test_import_rules.py keeps it so).

``parse`` turns one message a bed sent into a typed message, ``None`` for a topic a v1 reader
ignores, or raises ``BadMessage`` naming what is wrong; a bad message never reaches the
central's state. Payload fields v1 does not define are ignored, as the schema says.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.serialize import iso

VERSION = 1
ROOT = f"vigil/v{VERSION}"
#: Clinic and bed names: one MQTT topic level, no wildcards.
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PRIORITIES = ("high", "medium", "low")
SIGNALS = ("on", "acknowledged", "latched", "off")
#: Kinds of ``up/events``.
ALARM = "alarm"
COMMAND_RESULT = "command_result"

#: What the central subscribes to, with the QoS it asks for. Events and status must reach the
#: central even across its own restarts (QoS 1, queued by the broker in the central's session).
#: The state is retained, so the newest one arrives on every (re)subscription: asking QoS 0
#: keeps a second's snapshots of every bed out of the broker's queue for the central, which
#: then holds only events while the central is away (max_queued_messages in vigil.conf).
SUBTOPICS: tuple[tuple[str, int], ...] = (
    ("status", 1),
    ("events", 1),
    ("state", 0),
    ("heartbeat", 0),
    ("vitals", 0),
)


# -- topics ----------------------------------------------------------------------------------


def topic(clinic: str, bed: str, leaf: str) -> str:
    """``vigil/v1/<clinic>/<bed>/<leaf>``, e.g. leaf ``up/status`` or ``cmd/#``."""
    return f"{ROOT}/{clinic}/{bed}/{leaf}"


def subscriptions(clinic: str) -> list[tuple[str, int]]:
    """The central's subscriptions: every bed's ``up/...`` of one clinic."""
    return [(f"{ROOT}/{clinic}/+/up/{name}", qos) for name, qos in SUBTOPICS]


def command_topic(clinic: str, bed: str, command: str) -> str:
    return topic(clinic, bed, f"cmd/{command}")


# -- up: what a bed sends (encoded by the bed) ---------------------------------------------------


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body)


def encode_status(bed: str, online: bool, at: datetime, version: str) -> str:
    """``up/status`` (retained; also the last will, with ``online`` false)."""
    return _dump({"v": VERSION, "bed": bed, "online": online, "at": iso(at), "version": version})


def encode_heartbeat(bed: str, at: datetime, outbox: int) -> str:
    return _dump({"v": VERSION, "bed": bed, "at": iso(at), "outbox": outbox})


def encode_state(
    bed: str,
    at: datetime,
    *,
    vitals: dict[str, Any],
    alarms: list[Any],
    infusion: dict[str, Any] | None,
    devices: list[Any],
) -> str:
    """``up/state`` (retained): the live shapes of docs/api.md."""
    return _dump(
        {
            "v": VERSION,
            "bed": bed,
            "at": iso(at),
            "vitals": vitals,
            "alarms": alarms,
            "infusion": infusion,
            "devices": devices,
        }
    )


def encode_vitals(bed: str, at: datetime, readings: list[dict[str, Any]]) -> str:
    return _dump({"v": VERSION, "bed": bed, "at": iso(at), "readings": readings})


def event_id(bed: str, seq: int) -> str:
    """The idempotency key of an event: the central stores each once."""
    return f"{bed}/{seq}"


def encode_event(bed: str, seq: int, kind: str, at: datetime, data: dict[str, Any]) -> str:
    """``up/events``: one event of the bed's outbox (``seq`` is its outbox row number)."""
    return _dump(
        {
            "v": VERSION,
            "bed": bed,
            "seq": seq,
            "id": event_id(bed, seq),
            "kind": kind,
            "at": iso(at),
            "data": data,
        }
    )


def command_result(command_id: str, ok: bool, detail: str) -> dict[str, Any]:
    """The ``data`` of a ``command_result`` event: the bed's answer to a command."""
    return {"command_id": command_id, "ok": ok, "detail": detail}


# -- down: what the central sends (encoded by the central, parsed by the bed) --------------------


def encode_acknowledge(bed: str, command_id: str, alarm_id: str, user: str, at: datetime) -> str:
    """``cmd/acknowledge``: a nurse at the central acknowledges an alarm at ``bed``."""
    return _dump(
        {
            "v": VERSION,
            "bed": bed,
            "command_id": command_id,
            "alarm_id": alarm_id,
            "user": user,
            "at": iso(at),
        }
    )


class BadMessage(ValueError):
    """A message that does not follow the v1 schema (the text says why)."""


class RefusedCommand(BadMessage):
    """A readable command the bed cannot carry out: answered ``ok: false`` with ``detail``."""

    def __init__(self, command_id: str, detail: str) -> None:
        super().__init__(detail)
        self.command_id = command_id
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Acknowledge:
    command_id: str
    alarm_id: str
    #: The user at the central, as sent (the bed records ``<user>@central``).
    user: str


def command_name(topic_name: str) -> str:
    return topic_name.rsplit("/", 1)[-1]


def parse_command(topic_name: str, payload: bytes) -> Acknowledge:
    """A command the bed received on ``.../cmd/<name>``. Raises ``RefusedCommand`` for a
    command it must answer with a refusal, ``BadMessage`` for a payload that is not a JSON
    object (there is no command id to answer)."""
    name = command_name(topic_name)
    try:
        body = json.loads(payload)
    except ValueError as exc:  # UnicodeDecodeError too
        raise BadMessage(str(exc)) from None
    if not isinstance(body, dict):
        raise BadMessage("not a JSON object")
    command_id = str(body.get("command_id", ""))[:64]
    if name != "acknowledge":
        raise RefusedCommand(command_id, f"unknown command {name!r}")
    alarm_id, user = body.get("alarm_id"), body.get("user")
    if not isinstance(alarm_id, str) or not isinstance(user, str):
        raise RefusedCommand(command_id, "acknowledge needs alarm_id and user")
    return Acknowledge(command_id, alarm_id, user)


# -- up: what the central reads ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    bed: str
    online: bool
    at: datetime
    version: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    bed: str
    at: datetime
    outbox: int | None


@dataclass(frozen=True, slots=True)
class State:
    bed: str
    at: datetime
    vitals: dict[str, dict[str, Any]]
    alarms: list[dict[str, Any]]
    infusion: dict[str, Any] | None
    devices: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Vitals:
    bed: str
    at: datetime
    readings: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Event:
    bed: str
    seq: int
    id: str
    kind: str
    at: datetime
    data: dict[str, Any]


Message = Status | Heartbeat | State | Vitals | Event


def parse_time(value: Any, field: str) -> datetime:
    """ISO 8601 (``Z`` or an offset) → aware UTC datetime; a time without zone is taken as UTC."""
    if not isinstance(value, str):
        raise BadMessage(f"{field}: an ISO 8601 time is needed")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise BadMessage(f"{field}: not an ISO 8601 time: {value[:40]!r}") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _str(obj: dict[str, Any], key: str, where: str, *, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise BadMessage(f"{where}{key}: a string is needed")
    return value


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadMessage(f"not a number: {value!r}")
    number = float(value)
    return number if math.isfinite(number) else None


def vital(obj: Any, where: str = "vital.") -> dict[str, Any]:
    """A live vital reading, checked: metric, value (number or null), measured_at."""
    if not isinstance(obj, dict):
        raise BadMessage(f"{where[:-1]}: an object is needed")
    out = dict(obj)
    out["metric"] = _str(obj, "metric", where)
    out["source"] = _str(obj, "source", where, default="")
    out["validity"] = _str(obj, "validity", where, default="valid")
    try:
        out["value"] = _number(obj.get("value"))
    except BadMessage as exc:
        raise BadMessage(f"{where}value: {exc}") from None
    out["measured_at"] = parse_time(obj.get("measured_at"), f"{where}measured_at").isoformat()
    return out


def alarm(obj: Any, where: str = "alarm.") -> dict[str, Any]:
    """A live alarm (or alarm transition), checked: id, priority, signal, message."""
    if not isinstance(obj, dict):
        raise BadMessage(f"{where[:-1]}: an object is needed")
    out = dict(obj)
    out["id"] = _str(obj, "id", where)
    if not out["id"]:
        raise BadMessage(f"{where}id: empty")
    out["priority"] = _str(obj, "priority", where)
    if out["priority"] not in PRIORITIES:
        raise BadMessage(f"{where}priority: one of {', '.join(PRIORITIES)}")
    out["signal"] = _str(obj, "signal", where)
    if out["signal"] not in SIGNALS:
        raise BadMessage(f"{where}signal: one of {', '.join(SIGNALS)}")
    out["message"] = _str(obj, "message", where, default="")
    out["key"] = _str(obj, "key", where, default=out["id"].split("@")[0])
    return out


def _object(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise BadMessage("not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("not a JSON object")
    if data.get("v") != VERSION:
        raise BadMessage(f"v: {data.get('v')!r}, this reader knows v{VERSION}")
    return data


def split_topic(topic_name: str, clinic: str) -> tuple[str, str] | None:
    """``vigil/v1/<clinic>/<bed>/up/<name>`` → (bed, name); None for any other topic."""
    parts = topic_name.split("/")
    if len(parts) != 6 or "/".join(parts[:2]) != ROOT or parts[2] != clinic or parts[4] != "up":
        return None
    if not NAME.match(parts[3]):
        return None
    return parts[3], parts[5]


def parse(topic_name: str, payload: bytes, clinic: str) -> Message | None:
    where = split_topic(topic_name, clinic)
    if where is None:
        return None
    bed, name = where
    if name not in {n for n, _ in SUBTOPICS}:
        return None  # a later v1 addition this reader does not know
    data = _object(payload)
    if data.get("bed") != bed:
        # The broker's ACL ties the topic to the unit's user name; the payload must agree.
        raise BadMessage(f"bed: {data.get('bed')!r} in a message on {bed}'s topic")
    at = parse_time(data.get("at"), "at")
    if name == "status":
        online = data.get("online")
        if not isinstance(online, bool):
            raise BadMessage("online: true or false is needed")
        version = data.get("version")
        return Status(bed, online, at, version if isinstance(version, str) else "")
    if name == "heartbeat":
        outbox = data.get("outbox")
        return Heartbeat(bed, at, outbox if isinstance(outbox, int) and outbox >= 0 else None)
    if name == "vitals":
        readings = data.get("readings")
        if not isinstance(readings, list):
            raise BadMessage("readings: a list is needed")
        return Vitals(bed, at, [vital(r, "readings[].") for r in readings])
    if name == "state":
        return _state(bed, at, data)
    return _event(bed, at, data)


def _state(bed: str, at: datetime, data: dict[str, Any]) -> State:
    vitals = data.get("vitals") or {}
    alarms = data.get("alarms") or []
    devices = data.get("devices") or []
    infusion = data.get("infusion")
    if not isinstance(vitals, dict) or not isinstance(alarms, list):
        raise BadMessage("vitals: an object and alarms: a list are needed")
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise BadMessage("devices: a list of objects is needed")
    if infusion is not None and not isinstance(infusion, dict):
        raise BadMessage("infusion: an object or null is needed")
    checked = {str(metric): vital(v, f"vitals.{metric}.") for metric, v in vitals.items()}
    return State(bed, at, checked, [alarm(a, "alarms[].") for a in alarms], infusion, devices)


def _event(bed: str, at: datetime, data: dict[str, Any]) -> Event:
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise BadMessage("seq: a positive integer is needed")
    ident = data.get("id", event_id(bed, seq))
    if ident != event_id(bed, seq):
        raise BadMessage(f"id: {ident!r} is not {bed}/{seq}")
    kind = _str(data, "kind", "")
    body = data.get("data")
    if not isinstance(body, dict):
        raise BadMessage("data: an object is needed")
    if kind == ALARM:
        body = alarm(body, "data.")
    elif kind == COMMAND_RESULT:
        if not isinstance(body.get("command_id"), str) or not isinstance(body.get("ok"), bool):
            raise BadMessage("data: command_id (string) and ok (true/false) are needed")
        body = {**body, "detail": str(body.get("detail") or "")}
    return Event(bed, seq, ident, kind, at, body)
