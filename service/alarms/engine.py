"""The alarm engine: pure, deterministic, driven by readings, operator actions and ``now``.

``observe(event, now)``, ``tick(now)``, ``acknowledge(alarm_id, user, now)``,
``pause_audio(user, now)``, ``accept_responsibility``/``reject_responsibility`` and
``set_limits`` each return what happened (``AlarmTransition`` and ``OperatorAction`` items);
``next_deadline()`` tells the runner when ``tick`` next has something to do. The engine never
reads a clock and does no I/O, so the same inputs always give the same outputs.

Signal rules (docs/alarms.md):
* HIGH alarms latch: when the cause ends before anyone acknowledged, the signal stays LATCHED.
* Acknowledging silences that condition only; if it is still present after ``reminder_s`` it
  sounds again (REMINDED).
* An alarm sounding unacknowledged for ``escalate_s`` escalates: MEDIUM becomes HIGH, HIGH
  notifies the nurse role. LOW alarms do not escalate.
* Audio pause lasts at most ``audio_pause_max_s``; during it, alarms up to the highest priority
  present at the pause stay silent, and a new alarm of higher priority still sounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.readings import (
    Availability,
    AvailabilityChange,
    Condition,
    DeviceConditions,
    Metric,
    PumpCondition,
    PumpReading,
    PumpState,
    Reading,
    Validity,
    VitalReading,
)
from service.alarms.limits import Limits
from service.alarms.model import (
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
from service.alarms.rules import BloodPressureRule, HeartRateRule, SpO2Rule, Verdict
from service.alarms.rules import DelayedLimit as _Delayed

Output = AlarmTransition | OperatorAction
EngineInput = Reading | ServiceFault | TabletCount | InfusionContext

#: Device-reported conditions that mean the measurement is not happening.
SENSOR_PROBLEMS: dict[Condition, str] = {
    Condition.NO_SENSOR: "no sensor",
    Condition.SENSOR_OFF: "sensor off",
    Condition.DEFECTIVE_SENSOR: "defective sensor",
    Condition.UNRECOGNIZED_SENSOR: "unrecognised sensor",
    Condition.MODULE_ABSENT: "module absent",
}

#: Pump-reported conditions: priority and text (IEC 60601-2-24 practice [U]).
PUMP_CONDITIONS: dict[PumpCondition, tuple[Priority, str]] = {
    PumpCondition.OCCLUSION: (Priority.HIGH, "occlusion"),
    PumpCondition.AIR_IN_LINE: (Priority.HIGH, "air in line"),
    PumpCondition.CONTAINER_EMPTY: (Priority.HIGH, "syringe/container empty"),
    PumpCondition.PUMP_FAULT: (Priority.HIGH, "pump fault"),
    PumpCondition.DOOR_OPEN: (Priority.MEDIUM, "door open"),
    PumpCondition.DROP_ALARM: (Priority.MEDIUM, "drop alarm"),
    PumpCondition.BATTERY_EMPTY: (Priority.MEDIUM, "battery empty"),
    PumpCondition.BATTERY_LOW: (Priority.LOW, "battery low"),
    PumpCondition.PRE_ALARM: (Priority.LOW, "pre-alarm"),
    PumpCondition.TIME_OVER: (Priority.LOW, "infusion time over"),
    PumpCondition.END_OF_VOLUME: (Priority.LOW, "infusion complete (end of volume)"),
}


@dataclass(frozen=True, slots=True)
class _Want:
    """A rule's decision that a condition exists."""

    kind: Kind
    priority: Priority
    message: str
    source: str
    cause: str


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


class AlarmEngine:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._alarms: dict[str, Alarm] = {}  # shown alarms by key
        self._on_since: dict[str, datetime] = {}  # when each alarm last started sounding
        self.audio = AudioState()
        # rule state
        self._hr = HeartRateRule()
        self._spo2 = SpO2Rule()
        self._rr = _Delayed(above=False)
        self._bp = BloodPressureRule()
        self._last_hr_at: datetime | None = None
        self._sensor_since: dict[tuple[str, Condition], datetime] = {}
        self._nibp_failures: dict[str, int] = {}
        self._pump_stopped_since: dict[tuple[str, str], datetime] = {}
        self._pump_was_infusing: set[tuple[str, str]] = set()
        self._pumps_infusing: set[tuple[str, str]] = set()
        self._rate_mismatches: dict[tuple[str, str], int] = {}
        self._tablets: int | None = None
        self._unwatched_since: datetime | None = None
        self._context = InfusionContext(False, datetime.min)

    # == inputs ===============================================================================

    def observe(self, event: EngineInput, now: datetime) -> list[Output]:
        if isinstance(event, VitalReading):
            return self._vital(event, now)
        if isinstance(event, AvailabilityChange):
            bad = event.availability is not Availability.CONNECTED
            detail = f": {event.detail}" if event.detail else ""
            want = _Want(
                Kind.TECHNICAL,
                Priority.MEDIUM,
                f"{event.source} {event.availability.value}{detail}",
                event.source,
                f"link {event.availability.value}",
            )
            return self._set(f"device_link:{event.source}", want if bad else None, now)
        if isinstance(event, DeviceConditions):
            return self._device_conditions(event, now)
        if isinstance(event, PumpReading):
            return self._pump(event, now)
        if isinstance(event, ServiceFault):
            want = _Want(
                Kind.TECHNICAL, event.priority, f"Vigil: {event.detail}", "vigil", event.name
            )
            return self._set(f"service:{event.name}", want if event.active else None, now)
        if isinstance(event, TabletCount):
            self._tablets = event.count
            return self.tick(now)
        if isinstance(event, InfusionContext):
            self._context = event
            self._bp.baseline_sys = event.baseline_sys
            out: list[Output] = []
            if not event.running:  # no infusion: no expected rate to compare with
                self._rate_mismatches.clear()
                for key in [k for k in self._alarms if k.startswith("pump_rate:")]:
                    out += self._set(key, None, now)
            return out + self.tick(now)
        raise TypeError(f"the alarm engine cannot observe {type(event).__name__}")

    def tick(self, now: datetime) -> list[Output]:
        out: list[Output] = []
        lim = self.limits
        # Sensor problems that have lasted their delay.
        for (source, condition), since in list(self._sensor_since.items()):
            if now - since >= _s(lim.sensor_delay_s):
                want = _Want(
                    Kind.TECHNICAL,
                    Priority.MEDIUM,
                    f"{source}: {SENSOR_PROBLEMS[condition]}",
                    source,
                    condition.value,
                )
                out += self._set(f"sensor:{source}:{condition.value}", want, now)
        # A pump stopped with volume left.
        for (source, channel), since in self._pump_stopped_since.items():
            if now - since >= _s(lim.pump_stopped_s):
                name = f"{source} {channel}".strip()
                want = _Want(
                    Kind.TECHNICAL,
                    Priority.MEDIUM,
                    f"Pump {name} stopped with volume left",
                    source,
                    "pump stopped",
                )
                out += self._set(f"pump_stopped:{source}:{channel}", want, now)
        # Nobody is watching the tablet while an infusion runs.
        self._update_unwatched(now)
        unwatched = self._unwatched_since is not None and now - self._unwatched_since >= _s(
            lim.no_tablet_s
        )
        absent = (
            _Want(
                Kind.TECHNICAL,
                Priority.MEDIUM,
                "No tablet connected during the infusion",
                "vigil",
                "no tablet",
            )
            if unwatched
            else None
        )
        out += self._set("no_tablet", absent, now)
        # Reminders and escalation.
        for key, alarm in list(self._alarms.items()):
            if (
                alarm.signal is SignalState.ACKNOWLEDGED
                and alarm.acknowledged_at is not None
                and now - alarm.acknowledged_at >= _s(lim.reminder_s)
            ):
                alarm = alarm.with_(signal=SignalState.ON)
                self._alarms[key] = alarm
                self._on_since[key] = now
                out.append(
                    AlarmTransition(alarm, Event.REMINDED, now, f"{alarm.message} (still present)")
                )
            elif (
                alarm.signal is SignalState.ON
                and alarm.priority is not Priority.LOW
                and not alarm.escalated
                and now - self._on_since.get(key, alarm.started_at) >= _s(lim.escalate_s)
            ):
                out.append(self._escalate(key, alarm, now))
        # End of an audio pause.
        if self.audio.paused_until is not None and now >= self.audio.paused_until:
            self.audio = AudioState()
            out.append(OperatorAction("audio_resumed", "system", now, "audio pause ended"))
        return out

    # == operator actions =====================================================================

    def acknowledge(self, alarm_id: str, user: str, now: datetime) -> list[Output]:
        key, alarm = self._find(alarm_id)
        if alarm.signal is SignalState.LATCHED:
            ended = alarm.with_(signal=SignalState.OFF, acknowledged_by=user, acknowledged_at=now)
            self._drop(key)
            return [AlarmTransition(ended, Event.ENDED, now, alarm.message, user=user)]
        if alarm.signal is SignalState.ACKNOWLEDGED:
            return []
        alarm = alarm.with_(
            signal=SignalState.ACKNOWLEDGED, acknowledged_by=user, acknowledged_at=now
        )
        self._alarms[key] = alarm
        return [AlarmTransition(alarm, Event.ACKNOWLEDGED, now, alarm.message, user=user)]

    def accept_responsibility(self, alarm_id: str, user: str, now: datetime) -> list[Output]:
        key, alarm = self._find(alarm_id)
        out = self.acknowledge(alarm_id, user, now)
        current = self._alarms.get(key, alarm).with_(responsible=user)
        if key in self._alarms:
            self._alarms[key] = current
        return out + [
            AlarmTransition(current, Event.RESPONSIBILITY_ACCEPTED, now, current.message, user=user)
        ]

    def reject_responsibility(self, alarm_id: str, user: str, now: datetime) -> list[Output]:
        """The operator cannot attend: the alarm keeps sounding and escalates at once."""
        key, alarm = self._find(alarm_id)
        out: list[Output] = [
            AlarmTransition(alarm, Event.RESPONSIBILITY_REJECTED, now, alarm.message, user=user)
        ]
        if alarm.signal is SignalState.ACKNOWLEDGED:
            alarm = alarm.with_(signal=SignalState.ON, acknowledged_by=None, acknowledged_at=None)
            self._alarms[key] = alarm
            self._on_since[key] = now
        if not alarm.escalated and alarm.signal is SignalState.ON:
            out.append(self._escalate(key, alarm, now))
        return out

    def pause_audio(self, user: str, now: datetime, seconds: float | None = None) -> list[Output]:
        length = min(seconds or self.limits.audio_pause_max_s, self.limits.audio_pause_max_s)
        present = [a.priority for a in self._alarms.values() if a.shown]
        ceiling = max(present, key=lambda p: p.rank) if present else Priority.MEDIUM
        self.audio = AudioState(now + _s(length), user, ceiling)
        return [
            OperatorAction(
                "audio_paused",
                user,
                now,
                f"audio paused for {length:.0f} s (up to {ceiling.value})",
            )
        ]

    def resume_audio(self, user: str, now: datetime) -> list[Output]:
        if self.audio.paused_until is None:
            return []
        self.audio = AudioState()
        return [OperatorAction("audio_resumed", user, now, "audio pause ended by operator")]

    def set_limits(self, changes: dict[str, float], user: str, now: datetime) -> list[Output]:
        """Change limits (raises ``ValueError`` with the reason if a change is not allowed)."""
        old = self.limits
        self.limits = old.changed(changes)
        detail = ", ".join(
            f"{k} {getattr(old, k):g}→{getattr(self.limits, k):g}" for k in sorted(changes)
        )
        return [OperatorAction("limits_changed", user, now, detail)]

    # == views ================================================================================

    def active(self) -> list[Alarm]:
        """Shown alarms, highest priority first, then oldest first."""
        return sorted(self._alarms.values(), key=lambda a: (-a.priority.rank, a.started_at))

    def audible(self, alarm: Alarm, now: datetime) -> bool:
        if alarm.signal is not SignalState.ON:
            return False
        paused = self.audio.paused_until is not None and now < self.audio.paused_until
        ceiling = self.audio.paused_priority
        return not (paused and ceiling is not None and alarm.priority.rank <= ceiling.rank)

    def annunciation(self, now: datetime) -> Priority | None:
        """The priority the bedside should sound now, if any."""
        loud = [a.priority for a in self._alarms.values() if self.audible(a, now)]
        return max(loud, key=lambda p: p.rank) if loud else None

    def next_deadline(self) -> datetime | None:
        lim = self.limits
        times: list[datetime] = [s + _s(lim.sensor_delay_s) for s in self._sensor_since.values()]
        times += [s + _s(lim.pump_stopped_s) for s in self._pump_stopped_since.values()]
        if self._unwatched_since is not None:
            times.append(self._unwatched_since + _s(lim.no_tablet_s))
        for key, alarm in self._alarms.items():
            if alarm.signal is SignalState.ACKNOWLEDGED and alarm.acknowledged_at is not None:
                times.append(alarm.acknowledged_at + _s(lim.reminder_s))
            elif (
                alarm.signal is SignalState.ON
                and alarm.priority is not Priority.LOW
                and not alarm.escalated
            ):
                times.append(self._on_since.get(key, alarm.started_at) + _s(lim.escalate_s))
        if self.audio.paused_until is not None:
            times.append(self.audio.paused_until)
        return min(times) if times else None

    def restore(self, alarms: list[Alarm], now: datetime) -> None:
        """Re-adopt alarms that were shown when the service stopped (latched ones stay
        latched until acknowledged; others end by themselves when their cause is gone)."""
        for alarm in alarms:
            self._alarms[alarm.key] = alarm
            self._on_since[alarm.key] = now

    # == rules ================================================================================

    def _vital(self, r: VitalReading, now: datetime) -> list[Output]:
        if r.validity is Validity.INVALID or r.value is None:
            return []
        lim = self.limits
        v = r.value
        cause = f"{r.metric.value} {v:g} at {r.measured_at.isoformat()}"
        if r.metric is Metric.HR or (
            r.metric is Metric.PULSE_RATE
            and (self._last_hr_at is None or now - self._last_hr_at > _s(15))
        ):
            if r.metric is Metric.HR:
                self._last_hr_at = now
            label = "HR" if r.metric is Metric.HR else "Pulse"
            out = self._verdict(
                "hr_high",
                Kind.PHYSIOLOGICAL,
                r.source,
                cause,
                now,
                self._hr.tachycardia(v, label, lim, now),
            )
            return out + self._verdict(
                "hr_low",
                Kind.PHYSIOLOGICAL,
                r.source,
                cause,
                now,
                self._hr.bradycardia(v, label, lim, now),
            )
        if r.metric is Metric.SPO2:
            return self._verdict(
                "spo2_low", Kind.PHYSIOLOGICAL, r.source, cause, now, self._spo2.update(v, lim, now)
            )
        if r.metric is Metric.RESP_RATE:
            low = self._rr.update(v, lim.rr_low, 1.0, lim.rr_delay_s, now)
            verdict = Verdict(Priority.MEDIUM, f"RR {v:g} < {lim.rr_low:g}") if low else None
            return self._verdict("rr_low", Kind.PHYSIOLOGICAL, r.source, cause, now, verdict)
        if r.metric in (Metric.NIBP_SYS, Metric.NIBP_DIA) and r.validity is Validity.VALID:
            return self._nibp(r, v, cause, now)
        return []

    def _nibp(self, r: VitalReading, v: float, cause: str, now: datetime) -> list[Output]:
        self._nibp_failures.pop(r.source, None)
        out = self._set(f"nibp_failed:{r.source}", None, now)
        sys_v = v if r.metric is Metric.NIBP_SYS else None
        dia_v = v if r.metric is Metric.NIBP_DIA else None
        decided, verdict = self._bp.update(r.measured_at, sys_v, dia_v, self.limits)
        if decided:
            out += self._verdict("bp_high", Kind.PHYSIOLOGICAL, r.source, cause, now, verdict)
        if r.metric is Metric.NIBP_SYS:
            low = v < self.limits.sbp_low
            recovered = v >= self.limits.sbp_low + self.limits.bp_hysteresis
            if low or recovered:
                hypo = Verdict(Priority.MEDIUM, f"SBP {v:g} < {self.limits.sbp_low:g}")
                out += self._verdict(
                    "bp_low", Kind.PHYSIOLOGICAL, r.source, cause, now, hypo if low else None
                )
        return out

    def _device_conditions(self, event: DeviceConditions, now: datetime) -> list[Output]:
        out: list[Output] = []
        for condition in SENSOR_PROBLEMS:
            key = (event.source, condition)
            if condition in event.active:
                self._sensor_since.setdefault(key, now)
            else:
                self._sensor_since.pop(key, None)
                out += self._set(f"sensor:{event.source}:{condition.value}", None, now)
        if Condition.NIBP_MEASUREMENT_FAILED in event.active:
            count = self._nibp_failures.get(event.source, 0) + 1
            self._nibp_failures[event.source] = count
            priority = Priority.MEDIUM if count >= 2 else Priority.LOW
            text = f"{event.source}: NIBP measurement failed" + (
                f" ({count} in a row)" if count >= 2 else ""
            )
            want = _Want(Kind.TECHNICAL, priority, text, event.source, "NIBP failed")
            out += self._set(f"nibp_failed:{event.source}", want, now)
        return out + self.tick(now)

    def _pump(self, r: PumpReading, now: datetime) -> list[Output]:
        out: list[Output] = []
        pump = (r.source, r.channel)
        name = f"{r.source} {r.channel}".strip()
        for condition, (priority, label) in PUMP_CONDITIONS.items():
            want = None
            if condition in r.conditions:
                want = _Want(
                    Kind.TECHNICAL, priority, f"Pump {name}: {label}", r.source, condition.value
                )
            out += self._set(f"pump:{r.source}:{r.channel}:{condition.value}", want, now)
        complete = r.state is PumpState.COMPLETE or r.state is PumpState.KVO
        done = _Want(
            Kind.TECHNICAL,
            Priority.LOW,
            f"Pump {name}: {'KVO' if r.state is PumpState.KVO else 'infusion complete'}",
            r.source,
            r.state.value,
        )
        out += self._set(f"pump_complete:{r.source}:{r.channel}", done if complete else None, now)
        out += self._rate_check(r, pump, name, now)
        # Stopped with volume left, after having infused in this infusion.
        if r.state is PumpState.INFUSING:
            self._pump_was_infusing.add(pump)
            self._pumps_infusing.add(pump)
        else:
            self._pumps_infusing.discard(pump)
        if complete:
            self._pump_was_infusing.discard(pump)
        # Volume left: the programmed VTBI not yet infused (unknown VTBI counts as left).
        left = r.vtbi_ml is None or r.vtbi_ml > (r.volume_infused_ml or 0.0)
        stopped = (
            r.state in (PumpState.PAUSED, PumpState.STANDBY, PumpState.ALARM)
            and pump in self._pump_was_infusing
            and left
        )
        if stopped:
            self._pump_stopped_since.setdefault(pump, now)
        else:
            self._pump_stopped_since.pop(pump, None)
            out += self._set(f"pump_stopped:{r.source}:{r.channel}", None, now)
        return out + self.tick(now)

    def _rate_check(
        self, r: PumpReading, pump: tuple[str, str], name: str, now: datetime
    ) -> list[Output]:
        """The pump's rate against the rate the infusion session implies (a wrong pump
        programme): MEDIUM after ``pump_rate_readings`` mismatching infusing readings."""
        lim = self.limits
        expected = self._context.expected_rate_ml_h if self._context.running else None
        key = f"pump_rate:{r.source}:{r.channel}"
        rate = r.rate_ml_h
        if (
            expected
            and rate is not None
            and r.state is PumpState.INFUSING
            and abs(rate - expected) > lim.pump_rate_tolerance * expected
        ):
            count = self._rate_mismatches.get(pump, 0) + 1
            self._rate_mismatches[pump] = count
            if count < lim.pump_rate_readings:
                return []
            want = _Want(
                Kind.TECHNICAL,
                Priority.MEDIUM,
                f"Pump {name}: rate {rate:.1f} mL/h ≠ expected {expected:.1f} mL/h",
                r.source,
                "rate mismatch",
            )
            return self._set(key, want, now)
        self._rate_mismatches.pop(pump, None)
        return self._set(key, None, now)

    # == the state machine ====================================================================

    def _verdict(
        self, key: str, kind: Kind, source: str, cause: str, now: datetime, verdict: Verdict | None
    ) -> list[Output]:
        want = (
            None
            if verdict is None
            else _Want(kind, verdict.priority, verdict.message, source, cause)
        )
        return self._set(key, want, now)

    def _set(self, key: str, want: _Want | None, now: datetime) -> list[Output]:
        alarm = self._alarms.get(key)
        if want is not None:
            if alarm is None:
                alarm = Alarm(
                    id=f"{key}@{now.isoformat()}",
                    key=key,
                    kind=want.kind,
                    priority=want.priority,
                    message=want.message,
                    source=want.source,
                    started_at=now,
                    latching=want.priority is Priority.HIGH,
                    cause=want.cause,
                )
                self._alarms[key] = alarm
                self._on_since[key] = now
                return [AlarmTransition(alarm, Event.RAISED, now, alarm.message)]
            return self._update(key, alarm, want, now)
        if alarm is None or alarm.condition is ConditionState.INACTIVE:
            return []
        if alarm.latching and alarm.signal is SignalState.ON:
            alarm = alarm.with_(condition=ConditionState.INACTIVE, signal=SignalState.LATCHED)
            self._alarms[key] = alarm
            return [AlarmTransition(alarm, Event.LATCHED, now, alarm.message)]
        ended = alarm.with_(condition=ConditionState.INACTIVE, signal=SignalState.OFF)
        self._drop(key)
        return [AlarmTransition(ended, Event.ENDED, now, alarm.message)]

    def _update(self, key: str, alarm: Alarm, want: _Want, now: datetime) -> list[Output]:
        rising = want.priority.rank > alarm.priority.rank
        returning = alarm.condition is ConditionState.INACTIVE
        escalated_floor = alarm.escalated and alarm.kind is want.kind
        priority = want.priority
        if escalated_floor and alarm.priority.rank > priority.rank:
            priority = alarm.priority  # an escalated alarm does not quietly de-escalate
        changed = priority is not alarm.priority or returning
        # A worse or returning condition sounds again even if it was acknowledged.
        resound = rising or returning
        updated = alarm.with_(
            priority=priority,
            message=want.message,
            cause=want.cause,
            condition=ConditionState.ACTIVE,
            latching=alarm.latching or priority is Priority.HIGH,
            signal=SignalState.ON if resound else alarm.signal,
            acknowledged_by=None if resound else alarm.acknowledged_by,
            acknowledged_at=None if resound else alarm.acknowledged_at,
        )
        if resound:
            self._on_since[key] = now
        self._alarms[key] = updated
        if changed:
            event = Event.RAISED if returning else Event.UPDATED
            return [AlarmTransition(updated, event, now, updated.message)]
        return []

    def _escalate(self, key: str, alarm: Alarm, now: datetime) -> AlarmTransition:
        priority = Priority.HIGH if alarm.priority is Priority.MEDIUM else alarm.priority
        alarm = alarm.with_(
            priority=priority, escalated=True, latching=alarm.latching or priority is Priority.HIGH
        )
        self._alarms[key] = alarm
        return AlarmTransition(
            alarm, Event.ESCALATED, now, f"{alarm.message} (not acknowledged)", notify="nurse"
        )

    def _update_unwatched(self, now: datetime) -> None:
        running = self._context.running or bool(self._pumps_infusing)
        if running and self._tablets == 0:
            if self._unwatched_since is None:
                self._unwatched_since = now
        else:
            self._unwatched_since = None

    def _find(self, alarm_id: str) -> tuple[str, Alarm]:
        for key, alarm in self._alarms.items():
            if alarm.id == alarm_id:
                return key, alarm
        raise KeyError(alarm_id)

    def _drop(self, key: str) -> None:
        self._alarms.pop(key, None)
        self._on_since.pop(key, None)
