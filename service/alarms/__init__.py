"""The alarm engine: pure (no I/O, no clock reads), driven by readings and ``now``."""

from service.alarms.engine import AlarmEngine
from service.alarms.model import Alarm, AlarmState, AlarmTransition, Kind, Priority

__all__ = ["Alarm", "AlarmEngine", "AlarmState", "AlarmTransition", "Kind", "Priority"]
