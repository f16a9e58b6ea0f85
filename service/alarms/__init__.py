"""The alarm engine: pure (no I/O, no clock reads), driven by readings and ``now``."""

from service.alarms.engine import AlarmEngine, Output
from service.alarms.limits import LIMITS, Limits
from service.alarms.model import (
    ALLOWED,
    Alarm,
    AlarmTransition,
    AudioState,
    ConditionState,
    Event,
    InfusionContext,
    Kind,
    OperatorAction,
    Priority,
    ServiceFault,
    SignalState,
    TabletCount,
)

__all__ = [
    "ALLOWED",
    "LIMITS",
    "Alarm",
    "AlarmEngine",
    "AlarmTransition",
    "AudioState",
    "ConditionState",
    "Event",
    "InfusionContext",
    "Kind",
    "Limits",
    "OperatorAction",
    "Output",
    "Priority",
    "ServiceFault",
    "SignalState",
    "TabletCount",
]
