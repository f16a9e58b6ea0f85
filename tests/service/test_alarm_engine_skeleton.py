"""The first alarm rules: device links, sensor conditions, pump occlusion, SpO2 placeholder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drivers.readings import (
    Availability,
    AvailabilityChange,
    Condition,
    DeviceConditions,
    Metric,
    PumpCondition,
    PumpReading,
    PumpState,
    Validity,
    VitalReading,
)
from service.alarms import AlarmEngine, AlarmState, Kind, Priority
from service.alarms.model import ServiceFault

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def spo2(value: float | None, at: datetime = T0) -> VitalReading:
    validity = Validity.INVALID if value is None else Validity.VALID
    return VitalReading("monitor", Metric.SPO2, value, at, validity)


def test_spo2_below_limit_raises_and_clears() -> None:
    engine = AlarmEngine(spo2_low_limit=90)
    assert engine.observe(spo2(95), T0) == []
    [raised] = engine.observe(spo2(88), T0)
    assert raised.state is AlarmState.ACTIVE
    assert raised.alarm.kind is Kind.PHYSIOLOGICAL and raised.alarm.priority is Priority.MEDIUM
    assert raised.message == "SpO2 88 < 90"
    assert engine.observe(spo2(87), T0) == []  # already active
    assert engine.observe(spo2(None), T0) == []  # no value is not a recovery
    [cleared] = engine.observe(spo2(93), T0 + timedelta(seconds=5))
    assert cleared.state is AlarmState.CLEARED and cleared.alarm.id == raised.alarm.id


def test_lost_link_is_a_technical_alarm_until_data_returns() -> None:
    engine = AlarmEngine()
    [raised] = engine.observe(
        AvailabilityChange("monitor", Availability.STALE, T0, "no valid data for 3 s"), T0
    )
    assert raised.alarm.kind is Kind.TECHNICAL
    assert raised.message == "monitor stale: no valid data for 3 s"
    assert engine.observe(AvailabilityChange("monitor", Availability.DISCONNECTED, T0), T0) == []
    [cleared] = engine.observe(AvailabilityChange("monitor", Availability.CONNECTED, T0), T0)
    assert cleared.state is AlarmState.CLEARED


def test_sensor_conditions_and_pump_occlusion() -> None:
    engine = AlarmEngine()
    [sensor] = engine.observe(
        DeviceConditions("monitor", frozenset({Condition.SENSOR_OFF}), T0), T0
    )
    assert sensor.message == "monitor: sensor off"
    pump = PumpReading("pump", T0, PumpState.ALARM, conditions=frozenset({PumpCondition.OCCLUSION}))
    [occlusion] = engine.observe(pump, T0)
    assert occlusion.alarm.priority is Priority.HIGH
    assert [a.priority for a in engine.active()] == [Priority.HIGH, Priority.MEDIUM]


def test_service_fault_is_high() -> None:
    engine = AlarmEngine()
    [raised] = engine.observe(ServiceFault("storage", True, "storage failing: disk full", T0), T0)
    assert raised.alarm.priority is Priority.HIGH
    assert raised.message == "Vigil: storage failing: disk full"
