"""The MQTT schema v1 of docs/mqtt.md as code: topics, and the central's reading of payloads.

Pure: no I/O, no clock. ``parse`` turns one received message into a typed message, ``None`` for
a topic a v1 reader ignores, or raises ``BadMessage`` naming what is wrong; a bad message never
reaches the station's state. Payload fields v1 does not define are ignored, as the schema says.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VERSION = 1
ROOT = f"vigil/v{VERSION}"
#: Clinic and bed names: one MQTT topic level, no wildcards.
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PRIORITIES = ("high", "medium", "low")
SIGNALS = ("on", "acknowledged", "latched", "off")

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


def subscriptions(clinic: str) -> list[tuple[str, int]]:
    return [(f"{ROOT}/{clinic}/+/up/{name}", qos) for name, qos in SUBTOPICS]


def command_topic(clinic: str, bed: str, command: str) -> str:
    return f"{ROOT}/{clinic}/{bed}/cmd/{command}"


class BadMessage(ValueError):
    """A message that does not follow the v1 schema (the text says why)."""


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


def split_topic(topic: str, clinic: str) -> tuple[str, str] | None:
    """``vigil/v1/<clinic>/<bed>/up/<name>`` → (bed, name); None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 6 or "/".join(parts[:2]) != ROOT or parts[2] != clinic or parts[4] != "up":
        return None
    if not NAME.match(parts[3]):
        return None
    return parts[3], parts[5]


def parse(topic: str, payload: bytes, clinic: str) -> Message | None:
    where = split_topic(topic, clinic)
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
    event_id = data.get("id", f"{bed}/{seq}")
    if event_id != f"{bed}/{seq}":
        raise BadMessage(f"id: {event_id!r} is not {bed}/{seq}")
    kind = _str(data, "kind", "")
    body = data.get("data")
    if not isinstance(body, dict):
        raise BadMessage("data: an object is needed")
    if kind == "alarm":
        body = alarm(body, "data.")
    elif kind == "command_result":
        if not isinstance(body.get("command_id"), str) or not isinstance(body.get("ok"), bool):
            raise BadMessage("data: command_id (string) and ok (true/false) are needed")
        body = {**body, "detail": str(body.get("detail") or "")}
    return Event(bed, seq, event_id, kind, at, body)
