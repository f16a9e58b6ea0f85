"""The current picture of the bed, kept up to date synchronously as events are published.

A tablet that connects (or reconnects, or fell behind) gets ``snapshot()`` and then the events
after it; because both happen on the event loop without an ``await`` between them, nothing falls
in the gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers.readings import (
    Availability,
    AvailabilityChange,
    DeviceConditions,
    PumpReading,
    VitalReading,
)
from drivers.registry import DeviceSpec
from service import serialize
from service.alarms.model import Alarm, AudioState, Priority, TabletCount
from service.events import BusEvent


@dataclass
class DeviceStatus:
    spec: DeviceSpec
    availability: Availability | None = None
    detail: str = "starting"
    since: datetime | None = None
    frames_ok: int = 0
    frames_rejected: int = 0


class LiveState:
    def __init__(self, bed: str, devices: list[DeviceSpec]) -> None:
        self.bed = bed
        self.devices: dict[str, DeviceStatus] = {d.source: DeviceStatus(d) for d in devices}
        self.vitals: dict[str, VitalReading] = {}
        self.conditions: dict[str, DeviceConditions] = {}
        self.pumps: dict[tuple[str, str], PumpReading] = {}
        self.alarms: list[Alarm] = []
        self.audible: dict[str, bool] = {}
        self.audio = AudioState()
        self.annunciation: Priority | None = None
        self.tablets = 0
        self.limits: dict[str, float] = {}

    def apply(self, event: BusEvent) -> None:
        if isinstance(event, VitalReading):
            # One value per metric for the bed (the last source to report it wins).
            self.vitals[event.metric.value] = event
        elif isinstance(event, AvailabilityChange):
            status = self.devices.get(event.source)
            if status is not None:
                status.availability = event.availability
                status.detail = event.detail
                status.since = event.at
        elif isinstance(event, DeviceConditions):
            self.conditions[event.source] = event
        elif isinstance(event, PumpReading):
            self.pumps[(event.source, event.channel)] = event
        elif isinstance(event, TabletCount):
            self.tablets = event.count

    def device_list(self) -> list[dict[str, Any]]:
        return [
            {
                "source": s.spec.source,
                "driver": s.spec.driver,
                "url": s.spec.url,
                "availability": s.availability.value if s.availability else "starting",
                "detail": s.detail,
                "since": serialize.iso(s.since),
                "frames_ok": s.frames_ok,
                "frames_rejected": s.frames_rejected,
            }
            for s in self.devices.values()
        ]

    def snapshot(self, now: datetime) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "bed": self.bed,
            "server_time": serialize.iso(now),
            "devices": self.device_list(),
            "vitals": {k: serialize.vital(v) for k, v in self.vitals.items()},
            "conditions": {k: serialize.conditions(v) for k, v in self.conditions.items()},
            "pumps": [serialize.pump(p) for p in self.pumps.values()],
            "alarms": [serialize.alarm(a, self.audible.get(a.id)) for a in self.alarms],
            "audio": {
                **serialize.audio(self.audio),
                "annunciation": self.annunciation.value if self.annunciation else None,
            },
            "tablets": self.tablets,
            "limits": self.limits,
            # How each priority sounds: the local annunciator's table, played by the tablets.
            "annunciation_table": serialize.annunciation_table(),
        }
