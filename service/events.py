"""What travels on the service's bus: the drivers' readings and the service's own events."""

from __future__ import annotations

from drivers.readings import Reading
from service.alarms.model import (
    AlarmTransition,
    InfusionContext,
    OperatorAction,
    ServiceFault,
    TabletCount,
)

BusEvent = Reading | AlarmTransition | OperatorAction | ServiceFault | TabletCount | InfusionContext

__all__ = [
    "AlarmTransition",
    "BusEvent",
    "InfusionContext",
    "OperatorAction",
    "ServiceFault",
    "TabletCount",
]
