"""Alarm vocabulary after IEC 60601-1-8:2006+A1:2012+A2:2020 (docs/alarms.md).

Terms used as the standard uses them:

* an **alarm condition** is what the system has decided exists; its *kind* is physiological
  (the patient) or technical (the equipment), its *priority* HIGH, MEDIUM or LOW;
* an **alarm signal** is what the system generates for it (shown and sounded); its state says
  whether it is on, acknowledged, latched or off;
* **audio paused** is a temporary, global inactivation of the audible signals.

The allowed combinations of condition and signal live in one table, ``ALLOWED``, with the clause
each comes from. Clause numbers are those of the 2020 consolidated edition as widely quoted; the
standard itself is paywalled and Vigil claims no conformity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
        return _RANK[self]

    @property
    def marker(self) -> str:
        """Message prefix convention: *** HIGH, ** MEDIUM, * LOW."""
        return "*" * self.rank


_RANK = {Priority.HIGH: 3, Priority.MEDIUM: 2, Priority.LOW: 1}


class ConditionState(StrEnum):
    ACTIVE = "active"  # the cause is present now
    INACTIVE = "inactive"  # the cause has ended


class SignalState(StrEnum):
    ON = "on"  # shown and (unless audio is paused) sounded
    ACKNOWLEDGED = "acknowledged"  # shown; audible signal silenced for this condition only
    LATCHED = "latched"  # cause ended, signal kept until an operator acts
    OFF = "off"  # over


#: (condition, signal) -> (meaning, source). Any other combination is a bug.
ALLOWED: dict[tuple[ConditionState, SignalState], tuple[str, str]] = {
    (ConditionState.ACTIVE, SignalState.ON): ("alarming: shown and sounded", "§6.3 alarm signals"),
    (ConditionState.ACTIVE, SignalState.ACKNOWLEDGED): (
        "present, audible signal silenced until it ends or the reminder interval passes",
        "§6.8 alarm signal inactivation states (ACKNOWLEDGED, A1)",
    ),
    (ConditionState.INACTIVE, SignalState.LATCHED): (
        "cause ended, signal kept until acknowledged (HIGH priority latches)",
        "§6.10 non-latching and latching alarm signals",
    ),
    (ConditionState.INACTIVE, SignalState.OFF): (
        "over: kept only in the alarm log",
        "§6.12 alarm system logging",
    ),
}


class Event(StrEnum):
    """What happened to an alarm, as written to the alarm log."""

    RAISED = "raised"
    UPDATED = "updated"  # value, message or priority changed while active
    ACKNOWLEDGED = "acknowledged"
    REMINDED = "reminded"  # acknowledged but still present after the reminder interval
    ESCALATED = "escalated"  # not acknowledged in time
    LATCHED = "latched"
    ENDED = "ended"
    RESPONSIBILITY_ACCEPTED = "responsibility_accepted"
    RESPONSIBILITY_REJECTED = "responsibility_rejected"


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    #: What condition this is, stable across occurrences (``spo2_low``, ``device_link:monitor``).
    key: str
    kind: Kind
    priority: Priority
    message: str
    source: str
    started_at: datetime
    condition: ConditionState = ConditionState.ACTIVE
    signal: SignalState = SignalState.ON
    latching: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    responsible: str | None = None
    escalated: bool = False
    #: The reading that caused (or last updated) the alarm, e.g. ``SBP 186 at 09:31:05``.
    cause: str = ""
    #: When the signal last started sounding (raised, returned, got worse, reminded, rejected):
    #: escalation counts from here. A timer, moved with the clock by ``AlarmEngine.shift_time``;
    #: ``None`` for an alarm built without it (then ``started_at`` stands in).
    sounding_since: datetime | None = None

    def __post_init__(self) -> None:
        if (self.condition, self.signal) not in ALLOWED:
            raise ValueError(f"{self.key}: {self.condition}/{self.signal} is not an alarm state")

    @property
    def shown(self) -> bool:
        """Displayed on the tablet (anything but OFF)."""
        return self.signal is not SignalState.OFF

    def with_(self, **changes: object) -> Alarm:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    alarm: Alarm  # the alarm as it is after the event
    event: Event
    at: datetime
    message: str
    user: str | None = None
    #: Who must be told besides the bedside (escalation): a role name such as ``nurse``.
    notify: str | None = None
    #: Monotonic seconds, stamped by the runtime when it publishes (the engine reads no clock).
    mono: float | None = None
    #: Already on disk (a human action, written before the API answered).
    persisted: bool = False
    #: Whether the alarm sounds right after this transition (stamped when published), so a
    #: tablet knows what to sound without asking.
    audible: bool | None = None

    @property
    def state(self) -> str:
        """``active`` while the alarm is shown, ``cleared`` once it is over."""
        return "active" if self.alarm.shown else "cleared"


@dataclass(frozen=True, slots=True)
class AudioState:
    """The global audio-paused state and who set it."""

    paused_until: datetime | None = None
    paused_by: str | None = None
    #: Alarms of this priority or lower stay silent during the pause; higher ones still sound.
    paused_priority: Priority | None = None


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """A human action not tied to one alarm (audio pause, limit change), for the audit log."""

    action: str
    user: str
    at: datetime
    detail: str
    mono: float | None = None
    persisted: bool = False
    #: What the tablets redraw after the action (stamped by the alarm runner when it publishes):
    #: the audio state, the priority to sound, and the alarm limits in force.
    audio: AudioState | None = None
    annunciation: Priority | None = None
    limits: dict[str, float] | None = None
    #: Alarm id → sounds now, for every shown alarm (a pause changes them all).
    audible: dict[str, bool] | None = None


@dataclass(frozen=True, slots=True)
class ServiceFault:
    """A fault of Vigil itself (storage failing, persistence backlog...), raised or cleared."""

    name: str
    active: bool
    detail: str
    at: datetime
    #: HIGH by default; a fault that does not stop the bed alarming (the central link) is lower.
    priority: Priority = Priority.HIGH


@dataclass(frozen=True, slots=True)
class TabletCount:
    """How many tablets are listening now (the runtime reports every change)."""

    count: int
    at: datetime


@dataclass(frozen=True, slots=True)
class InfusionContext:
    """Whether an infusion is running and the patient's baseline (from the infusion session)."""

    running: bool
    at: datetime
    baseline_sys: float | None = None
    baseline_dia: float | None = None
    baseline_hr: float | None = None
    #: The pump rate the session's dose, weight, concentration and duration imply (mL/h).
    expected_rate_ml_h: float | None = None
