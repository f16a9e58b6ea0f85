"""Alarm vocabulary after IEC 60601-1-8 (see docs/alarms.md): condition kind and priority."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"high": 3, "medium": 2, "low": 1}[self.value]

    @property
    def marker(self) -> str:
        """Message prefix convention: *** HIGH, ** MEDIUM, * LOW."""
        return "*" * self.rank


class AlarmState(StrEnum):
    ACTIVE = "active"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    #: What condition this is, stable across occurrences, e.g. ``spo2_low`` or
    #: ``device_link:monitor``.
    key: str
    kind: Kind
    priority: Priority
    message: str
    source: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    alarm: Alarm
    state: AlarmState
    at: datetime
    #: Current message (a value against its limit may change while the alarm lasts).
    message: str


@dataclass(frozen=True, slots=True)
class ServiceFault:
    """A fault of Vigil itself (storage failing, persistence backlog...), raised or cleared."""

    name: str
    active: bool
    detail: str
    at: datetime
