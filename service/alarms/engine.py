"""A first alarm engine, enough to carry alarms end to end.

Rules here: every device link that is stale or disconnected (technical, MEDIUM); sensor problems
a device reports (technical, MEDIUM); pump occlusion / air in line (HIGH); Vigil's own faults
(technical, HIGH); and one physiological placeholder, SpO2 below a limit (MEDIUM), which proves
the path. Delays, confirmation, latching, acknowledgement and the clinical rule set are the full
engine's (docs/alarms.md).

Pure: ``observe(reading, now)`` and ``tick(now)`` return the transitions they cause.
"""

from __future__ import annotations

from datetime import datetime

from drivers.readings import (
    Availability,
    AvailabilityChange,
    Condition,
    DeviceConditions,
    Metric,
    PumpCondition,
    PumpReading,
    Reading,
    Validity,
    VitalReading,
)
from service.alarms.model import (
    Alarm,
    AlarmState,
    AlarmTransition,
    Kind,
    Priority,
    ServiceFault,
)

SENSOR_CONDITIONS: dict[Condition, str] = {
    Condition.NO_SENSOR: "no sensor",
    Condition.SENSOR_OFF: "sensor off",
    Condition.DEFECTIVE_SENSOR: "defective sensor",
    Condition.UNRECOGNIZED_SENSOR: "unrecognised sensor",
    Condition.MODULE_ABSENT: "module absent",
    Condition.NIBP_MEASUREMENT_FAILED: "NIBP measurement failed",
}

PUMP_HIGH: dict[PumpCondition, str] = {
    PumpCondition.OCCLUSION: "occlusion",
    PumpCondition.AIR_IN_LINE: "air in line",
}


class AlarmEngine:
    def __init__(self, spo2_low_limit: float = 90.0) -> None:
        self.spo2_low_limit = spo2_low_limit
        self._active: dict[str, Alarm] = {}

    # -- inputs ----------------------------------------------------------------------------

    def observe(self, event: Reading | ServiceFault, now: datetime) -> list[AlarmTransition]:
        if isinstance(event, VitalReading):
            return self._vital(event, now)
        if isinstance(event, AvailabilityChange):
            bad = event.availability is not Availability.CONNECTED
            text = f"{event.source} {event.availability.value}: {event.detail}".rstrip(": ")
            return self._set(
                f"device_link:{event.source}",
                bad,
                Kind.TECHNICAL,
                Priority.MEDIUM,
                text,
                event.source,
                now,
            )
        if isinstance(event, DeviceConditions):
            out: list[AlarmTransition] = []
            for condition, label in SENSOR_CONDITIONS.items():
                out += self._set(
                    f"device_condition:{event.source}:{condition.value}",
                    condition in event.active,
                    Kind.TECHNICAL,
                    Priority.MEDIUM,
                    f"{event.source}: {label}",
                    event.source,
                    now,
                )
            return out
        if isinstance(event, PumpReading):
            out = []
            name = event.source + (f" {event.channel}" if event.channel else "")
            for pump_condition, label in PUMP_HIGH.items():
                out += self._set(
                    f"pump:{event.source}:{event.channel}:{pump_condition.value}",
                    pump_condition in event.conditions,
                    Kind.TECHNICAL,
                    Priority.HIGH,
                    f"Pump {name}: {label}",
                    event.source,
                    now,
                )
            return out
        if isinstance(event, ServiceFault):
            return self._set(
                f"service:{event.name}",
                event.active,
                Kind.TECHNICAL,
                Priority.HIGH,
                f"Vigil: {event.detail}",
                "vigil",
                now,
            )
        raise TypeError(f"the alarm engine cannot observe {type(event).__name__}")

    def tick(self, now: datetime) -> list[AlarmTransition]:
        return []

    def next_deadline(self) -> datetime | None:
        return None

    # -- state -----------------------------------------------------------------------------

    def active(self) -> list[Alarm]:
        return sorted(self._active.values(), key=lambda a: (-a.priority.rank, a.started_at))

    def restore(self, alarms: list[Alarm]) -> None:
        """Re-adopt alarms that were active when the service stopped."""
        for alarm in alarms:
            self._active[alarm.key] = alarm

    # -- rules -----------------------------------------------------------------------------

    def _vital(self, reading: VitalReading, now: datetime) -> list[AlarmTransition]:
        if reading.metric is not Metric.SPO2 or reading.validity is Validity.INVALID:
            return []
        assert reading.value is not None
        low = reading.value < self.spo2_low_limit
        return self._set(
            "spo2_low",
            low,
            Kind.PHYSIOLOGICAL,
            Priority.MEDIUM,
            f"SpO2 {reading.value:g} < {self.spo2_low_limit:g}",
            reading.source,
            now,
        )

    def _set(
        self,
        key: str,
        on: bool,
        kind: Kind,
        priority: Priority,
        message: str,
        source: str,
        now: datetime,
    ) -> list[AlarmTransition]:
        current = self._active.get(key)
        if on and current is None:
            alarm = Alarm(f"{key}@{now.isoformat()}", key, kind, priority, message, source, now)
            self._active[key] = alarm
            return [AlarmTransition(alarm, AlarmState.ACTIVE, now, message)]
        if not on and current is not None:
            del self._active[key]
            return [AlarmTransition(current, AlarmState.CLEARED, now, current.message)]
        return []
