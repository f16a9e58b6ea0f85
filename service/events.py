"""What travels on the service's bus: the drivers' readings and the service's own events."""

from __future__ import annotations

from drivers.readings import Reading
from service.alarms.model import AlarmTransition, ServiceFault

BusEvent = Reading | AlarmTransition | ServiceFault

__all__ = ["AlarmTransition", "BusEvent", "ServiceFault"]
