"""Readings and alarm transitions as JSON-ready dicts (the live socket and the REST API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drivers.readings import (
    METRICS,
    AvailabilityChange,
    DeviceConditions,
    PumpReading,
    VitalReading,
)
from service.alarms.annunciation import PATTERNS, Pattern
from service.alarms.model import (
    Alarm,
    AlarmTransition,
    AudioState,
    InfusionContext,
    OperatorAction,
    Priority,
    ServiceFault,
    TabletCount,
)
from service.events import BusEvent


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def vital(reading: VitalReading) -> dict[str, Any]:
    info = METRICS[reading.metric]
    return {
        "source": reading.source,
        "metric": reading.metric.value,
        "value": reading.value,
        "unit": info.unit,
        "validity": reading.validity.value,
        "measured_at": iso(reading.measured_at),
        "mdc_code": info.mdc_code,
    }


def availability(change: AvailabilityChange) -> dict[str, Any]:
    return {
        "source": change.source,
        "availability": change.availability.value,
        "detail": change.detail,
        "at": iso(change.at),
    }


def conditions(event: DeviceConditions) -> dict[str, Any]:
    return {
        "source": event.source,
        "active": sorted(c.value for c in event.active),
        "at": iso(event.at),
    }


def pump(reading: PumpReading) -> dict[str, Any]:
    return {
        "source": reading.source,
        "channel": reading.channel,
        "at": iso(reading.at),
        "state": reading.state.value,
        "rate_ml_h": reading.rate_ml_h,
        "volume_infused_ml": reading.volume_infused_ml,
        "vtbi_ml": reading.vtbi_ml,
        "time_remaining_s": reading.time_remaining_s,
        "drug": reading.drug,
        "concentration": reading.concentration,
        "conditions": sorted(c.value for c in reading.conditions),
    }


def alarm(item: Alarm, audible: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": item.id,
        "key": item.key,
        "kind": item.kind.value,
        "priority": item.priority.value,
        "marker": item.priority.marker,
        "message": item.message,
        "source": item.source,
        "started_at": iso(item.started_at),
        "condition": item.condition.value,
        "signal": item.signal.value,
        "latching": item.latching,
        "acknowledged_by": item.acknowledged_by,
        "acknowledged_at": iso(item.acknowledged_at),
        "responsible": item.responsible,
        "escalated": item.escalated,
        "cause": item.cause,
    }
    if audible is not None:
        out["audible"] = audible
    return out


def transition(item: AlarmTransition) -> dict[str, Any]:
    return {
        **alarm(item.alarm, item.audible),
        "state": item.state,
        "event": item.event.value,
        "at": iso(item.at),
        "message": item.message,
        "user": item.user,
        "notify": item.notify,
    }


def audio(state: AudioState) -> dict[str, Any]:
    return {
        "paused_until": iso(state.paused_until),
        "paused_by": state.paused_by,
        "paused_priority": state.paused_priority.value if state.paused_priority else None,
    }


def annunciation_table(patterns: dict[Priority, Pattern] | None = None) -> dict[str, Any]:
    """The annunciation table (service/alarms/annunciation.py) as the tablets play it: by
    priority, each pulse's [onset, duration] in seconds, the fundamental, the harmonics'
    amplitudes, the rise and fall (a fraction of the pulse), the silence between bursts and the
    start-to-start period (both null: the burst plays once)."""
    table = PATTERNS if patterns is None else patterns
    return {
        priority.value: {
            "pulses": [[onset, length] for onset, length in p.pulses],
            "fundamental_hz": p.fundamental_hz,
            "harmonics": list(p.harmonics),
            "rise_fall": p.rise_fall,
            "burst_interval_s": p.burst_interval_s,
            "period_s": p.period,
        }
        for priority, p in table.items()
    }


def message(event: BusEvent) -> dict[str, Any]:
    """The live-socket message for one bus event."""
    if isinstance(event, VitalReading):
        return {"type": "vital", **vital(event)}
    if isinstance(event, AvailabilityChange):
        return {"type": "availability", **availability(event)}
    if isinstance(event, DeviceConditions):
        return {"type": "conditions", **conditions(event)}
    if isinstance(event, PumpReading):
        return {"type": "pump", **pump(event)}
    if isinstance(event, AlarmTransition):
        return {"type": "alarm", **transition(event)}
    if isinstance(event, OperatorAction):
        out: dict[str, Any] = {
            "type": "action",
            "action": event.action,
            "user": event.user,
            "detail": event.detail,
            "at": iso(event.at),
        }
        if event.audio is not None:
            annunciation = event.annunciation.value if event.annunciation else None
            out["audio"] = {**audio(event.audio), "annunciation": annunciation}
        if event.limits is not None:
            out["limits"] = event.limits
        if event.audible is not None:
            out["audible"] = event.audible
        return out
    if isinstance(event, TabletCount):
        return {"type": "tablets", "count": event.count, "at": iso(event.at)}
    if isinstance(event, InfusionContext):
        return {"type": "infusion", "running": event.running, "at": iso(event.at)}
    if isinstance(event, ServiceFault):
        return {
            "type": "service_fault",
            "name": event.name,
            "active": event.active,
            "detail": event.detail,
            "at": iso(event.at),
        }
    raise TypeError(f"no live message for {type(event).__name__}")
