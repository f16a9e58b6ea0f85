"""The alarm engine: pure, deterministic, driven by readings, operator actions and ``now``.

``observe(event, now)``, ``tick(now)``, ``acknowledge(alarm_id, user, now)``,
``pause_audio(user, now)``, ``accept_responsibility``/``reject_responsibility`` and
``set_limits`` each return what happened (``AlarmTransition`` and ``OperatorAction`` items);
``next_deadline()`` tells the runner when ``tick`` next has something to do. The engine never
reads a clock and does no I/O, so the same inputs always give the same outputs.

Signal rules (docs/alarms.md):
* Physiological HIGH alarms latch: when the cause ends before anyone acknowledged, the signal
  stays LATCHED. Technical alarms end by themselves when their cause ends.
* Acknowledging silences that condition only; if it is still present after ``reminder_s`` it
  sounds again (REMINDED) — except the pump's "infusion complete", which never reminds.
* An alarm sounding unacknowledged for ``escalate_s`` escalates its *notification* (the nurse
  role is told: every tablet's "nurse needed" banner, the central station, the webhook); its
  priority does not change. A physiological alarm's priority changes only when its own rule
  says the condition got worse (or better). LOW alarms do not escalate.
* Audio pause lasts at most ``audio_pause_max_s``; during it, alarms up to the highest priority
  present at the pause stay silent, a new alarm of higher priority still sounds, and a new HIGH
  alarm always sounds (the pause then narrows to MEDIUM and says so). An alarm may be paused
  once: pausing again while an alarm an earlier pause silenced is still shown needs a nurse
  (``pause_audio(..., nurse=True)``), otherwise ``PauseRefused``.

Time: every timer (delays, pause end, reminder and escalation) is a wall-clock ``datetime`` in
the frame of the ``now`` the engine is given. When the runtime sees the wall clock step against
the monotonic clock it calls ``shift_time(step)``, which moves every timer by the step, so that
durations are those of the monotonic clock while records keep the true wall time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
from service.alarms.rules import (
    BloodPressureRule,
    BreathRule,
    Cuff,
    HeartRateRule,
    HypotensionRule,
    SpO2Rule,
    Verdict,
    condition_text,
)
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
}
#: A pump reporting end of volume has completed: one "infusion complete" alarm, not two.
#: (``PumpCondition.END_OF_VOLUME`` is read as the completion itself.)

#: Seconds to gather the systolic, diastolic and mean of one cuff measurement (they arrive as
#: separate readings with the same measurement time) before it is judged with what came.
CUFF_GATHER_S = 2.0
#: Alarm keys whose acknowledgement is final while the cause lasts (no reminder).
NO_REMINDER = ("pump_complete:",)
#: The cuff-cycle grace: no reading for ``nibp_cycle_s`` + this during an infusion is overdue.
NIBP_OVERDUE_MARGIN_S = 120.0


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


#: What the transition's message adds to the alarm's own (the alarm log keeps the former).
NOTES = {Event.ESCALATED: " (not acknowledged)", Event.REMINDED: " (still present)"}


class PauseRefused(Exception):
    """A repeat audio pause without a nurse: the alarms an earlier pause silenced are still
    shown. ``str(exc)`` is the reason to show; ``alarms`` are the alarms concerned."""

    def __init__(self, alarms: list[Alarm]) -> None:
        self.alarms = alarms
        what = "this alarm was" if len(alarms) == 1 else "these alarms were"
        super().__init__(f"{what} paused once already: a nurse must confirm")


class AlarmEngine:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._alarms: dict[str, Alarm] = {}  # shown alarms by key
        self.audio = AudioState()
        #: Ids of shown alarms that an audio pause has silenced (cleared when the alarm ends): a
        #: second pause while one of them is shown needs a nurse.
        self.paused_once: set[str] = set()
        #: Ids of the HIGH alarms the running pause covers; any other HIGH sounds through it.
        self._pause_high: set[str] = set()
        # rule state
        self._hr = HeartRateRule()
        self._spo2 = SpO2Rule()
        self._rr = _Delayed(above=False)
        self._etco2 = _Delayed(above=True)
        self._bp = BloodPressureRule()
        self._hypo = HypotensionRule()
        self._breath = BreathRule()
        self._breath_source = ""
        #: Cuff measurements being gathered, by source.
        self._cuffs: dict[str, tuple[Cuff, datetime]] = {}
        #: The last measurement judged, by source (its late mean refines the MAP).
        self._judged: dict[str, Cuff] = {}
        #: An unconfirmed severe BP awaits a repeat by this time, by source (with its text).
        self._repeat_due: dict[str, tuple[datetime, str]] = {}
        #: The last complete cuff measurement (engine time), and since when an infusion runs.
        self._last_cuff: datetime | None = None
        self._running_since: datetime | None = None
        self._last_hr_at: datetime | None = None
        self._sensor_since: dict[tuple[str, Condition], datetime] = {}
        self._nibp_failures: dict[str, int] = {}
        self._pump_stopped_since: dict[tuple[str, str], datetime] = {}
        self._pump_was_infusing: set[tuple[str, str]] = set()
        self._pumps_infusing: set[tuple[str, str]] = set()
        self._rate_mismatches: dict[tuple[str, str], int] = {}
        #: Pumps whose completion *End infusion* answered (until they report another state).
        self._completion_answered: set[tuple[str, str]] = set()
        self._tablets: int | None = None
        self._unwatched_since: datetime | None = None
        self._context = InfusionContext(False, datetime.min)

    # == inputs ===============================================================================

    def observe(self, event: EngineInput, now: datetime) -> list[Output]:
        out = self._observe(event, now)
        return out + self._during_pause(now)

    def tick(self, now: datetime) -> list[Output]:
        out = self._tick(now)
        return out + self._during_pause(now)

    def _observe(self, event: EngineInput, now: datetime) -> list[Output]:
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
            return self._tick(now)
        if isinstance(event, InfusionContext):
            was_running = self._context.running
            self._context = event
            self._bp.baseline_sys = event.baseline_sys
            self._bp.baseline_dia = event.baseline_dia
            self._hypo.baseline_sys = event.baseline_sys
            out: list[Output] = []
            if event.running and not was_running:
                self._running_since = now
            if not event.running:  # no infusion: no expected rate, no cuff cadence
                self._running_since = None
                self._rate_mismatches.clear()
                ended = ("pump_rate:", "pump_complete:") if was_running else ("pump_rate:",)
                for key in [k for k in self._alarms if k.startswith(ended)]:
                    if key.startswith("pump_complete:"):
                        # End infusion answers it: no new signal while the pump stays complete.
                        _, source, channel = key.split(":", 2)
                        self._completion_answered.add((source, channel))
                    out += self._set(key, None, now)
                out += self._set("nibp_overdue", None, now)
            return out + self._tick(now)
        raise TypeError(f"the alarm engine cannot observe {type(event).__name__}")

    def _tick(self, now: datetime) -> list[Output]:
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
        out += self._cuff_timers(now)
        if self._breath.since:
            out += self._verdict(
                "apnoea",
                Kind.PHYSIOLOGICAL,
                self._breath_source,
                "no breath",
                now,
                self._breath.verdict(lim, now),
            )
        # Reminders and escalation.
        for key, alarm in list(self._alarms.items()):
            if (
                alarm.signal is SignalState.ACKNOWLEDGED
                and alarm.acknowledged_at is not None
                and not key.startswith(NO_REMINDER)
                and now - alarm.acknowledged_at >= _s(lim.reminder_s)
            ):
                alarm = alarm.with_(signal=SignalState.ON, sounding_since=now)
                self._alarms[key] = alarm
                note = alarm.message + NOTES[Event.REMINDED]
                out.append(AlarmTransition(alarm, Event.REMINDED, now, note))
            elif (
                alarm.signal is SignalState.ON
                and alarm.priority is not Priority.LOW
                and not alarm.escalated
                and now - _sounding(alarm) >= _s(lim.escalate_s)
            ):
                out.append(self._escalate(key, alarm, now))
        # End of an audio pause.
        if self.audio.paused_until is not None and now >= self.audio.paused_until:
            self.audio = AudioState()
            self._pause_high.clear()
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
        if key in self._alarms:
            current = self._alarms[key].with_(responsible=user)
            self._alarms[key] = current
        else:  # a latched alarm: the acknowledgement ended it
            ended = [o for o in out if isinstance(o, AlarmTransition)]
            current = (ended[-1].alarm if ended else alarm).with_(responsible=user)
        return out + [
            AlarmTransition(current, Event.RESPONSIBILITY_ACCEPTED, now, current.message, user=user)
        ]

    def reject_responsibility(self, alarm_id: str, user: str, now: datetime) -> list[Output]:
        """The operator cannot attend: nobody is responsible any more and no acknowledgement is
        in force; the alarm sounds again and escalates at once."""
        key, alarm = self._find(alarm_id)
        alarm = alarm.with_(responsible=None, acknowledged_by=None, acknowledged_at=None)
        if alarm.signal is SignalState.ACKNOWLEDGED:
            alarm = alarm.with_(signal=SignalState.ON, sounding_since=now)
        self._alarms[key] = alarm
        out: list[Output] = [
            AlarmTransition(alarm, Event.RESPONSIBILITY_REJECTED, now, alarm.message, user=user)
        ]
        if not alarm.escalated and alarm.signal is SignalState.ON:
            out.append(self._escalate(key, alarm, now))
        return out + self._during_pause(now)

    def pause_audio(
        self, user: str, now: datetime, seconds: float | None = None, *, nurse: bool = False
    ) -> list[Output]:
        """Pause the audible signals for at most ``audio_pause_max_s``. An alarm may be paused
        once: while an alarm that an earlier pause silenced is still shown, only a nurse
        (``nurse=True``: a nurse signed in, or a nurse's PIN given) may pause again; otherwise
        ``PauseRefused`` (the caller records the refusal)."""
        again = [a for a in self.active() if a.id in self.paused_once]
        if again and not nurse:
            raise PauseRefused(again)
        length = min(seconds or self.limits.audio_pause_max_s, self.limits.audio_pause_max_s)
        present = [a.priority for a in self._alarms.values() if a.shown]
        ceiling = max(present, key=lambda p: p.rank) if present else Priority.MEDIUM
        self.audio = AudioState(now + _s(length), user, ceiling)
        self._pause_high = {a.id for a in self._alarms.values() if a.priority is Priority.HIGH}
        self.paused_once |= {a.id for a in self._alarms.values() if a.signal is SignalState.ON}
        detail = f"audio paused for {length:.0f} s (up to {ceiling.value})"
        if again:
            detail += "; paused before, confirmed by a nurse: " + "; ".join(
                a.message for a in again
            )
        return [OperatorAction("audio_paused", user, now, detail)]

    def refusal(self, refused: PauseRefused, user: str, now: datetime) -> OperatorAction:
        """The audit record of a refused pause."""
        what = "; ".join(f"{a.message} ({a.id})" for a in refused.alarms)
        return OperatorAction("audio_pause_refused", user, now, f"{refused}: {what}")

    def resume_audio(self, user: str, now: datetime) -> list[Output]:
        if self.audio.paused_until is None:
            return []
        self.audio = AudioState()
        self._pause_high.clear()
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
        times += [seen + _s(CUFF_GATHER_S) for _, seen in self._cuffs.values()]
        times += [due for due, _ in self._repeat_due.values()]
        cadence = self._cadence_due()
        if cadence is not None and "nibp_overdue" not in self._alarms:
            times.append(cadence)
        breath = self._breath.deadline(lim)
        if breath is not None and "apnoea" not in self._alarms:
            times.append(breath)
        for alarm in self._alarms.values():
            if (
                alarm.signal is SignalState.ACKNOWLEDGED
                and alarm.acknowledged_at is not None
                and not alarm.key.startswith(NO_REMINDER)
            ):
                times.append(alarm.acknowledged_at + _s(lim.reminder_s))
            elif (
                alarm.signal is SignalState.ON
                and alarm.priority is not Priority.LOW
                and not alarm.escalated
            ):
                times.append(_sounding(alarm) + _s(lim.escalate_s))
        if self.audio.paused_until is not None:
            times.append(self.audio.paused_until)
        return min(times) if times else None

    def restore(self, alarms: list[Alarm], now: datetime) -> None:
        """Re-adopt alarms that were shown when the service stopped (latched ones stay
        latched until acknowledged; others end by themselves when their cause is gone).

        Their timers continue: an ON alarm escalates ``escalate_s`` after it started sounding
        (at once if that has passed; never again once escalated), an acknowledged one reminds
        ``reminder_s`` after its acknowledgement. A time after ``now`` (the clock went back
        while the service was down) counts from ``now``."""
        for alarm in alarms:
            sounding = min(_sounding(alarm), now)
            acked = alarm.acknowledged_at
            self._alarms[alarm.key] = alarm.with_(
                sounding_since=sounding, acknowledged_at=None if acked is None else min(acked, now)
            )

    def shift_time(self, step: timedelta) -> None:
        """The wall clock stepped by ``step`` (seen by the runtime against the monotonic clock):
        move every timer by it, so that condition delays, the audio pause, reminders,
        escalation and "no tablet" keep the length they have on the monotonic clock. Records
        (``started_at``, alarm ids) and device measurement times (NIBP ``measured_at``) stay."""
        if self.audio.paused_until is not None:
            self.audio = replace(self.audio, paused_until=self.audio.paused_until + step)
        for key, alarm in self._alarms.items():
            acked = alarm.acknowledged_at
            self._alarms[key] = alarm.with_(
                sounding_since=_sounding(alarm) + step,
                acknowledged_at=None if acked is None else acked + step,
            )
        self._sensor_since = {k: t + step for k, t in self._sensor_since.items()}
        self._pump_stopped_since = {k: t + step for k, t in self._pump_stopped_since.items()}
        if self._unwatched_since is not None:
            self._unwatched_since += step
        if self._last_hr_at is not None:
            self._last_hr_at += step
        self._hr.shift(step)
        self._spo2.shift(step)
        self._rr.shift(step)
        self._etco2.shift(step)
        self._breath.shift(step)
        self._cuffs = {k: (c, seen + step) for k, (c, seen) in self._cuffs.items()}
        self._repeat_due = {k: (t + step, m) for k, (t, m) in self._repeat_due.items()}
        if self._last_cuff is not None:
            self._last_cuff += step
        if self._running_since is not None:
            self._running_since += step

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
            base = self._context.baseline_hr if self._context.running else None
            out = self._verdict(
                "hr_high",
                Kind.PHYSIOLOGICAL,
                r.source,
                cause,
                now,
                self._hr.tachycardia(v, label, lim, now, base),
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
            if r.validity is not Validity.VALID:
                return []  # a value the oximeter flags never raises or escalates by itself
            return self._verdict(
                "spo2_low", Kind.PHYSIOLOGICAL, r.source, cause, now, self._spo2.update(v, lim, now)
            )
        if r.metric is Metric.RESP_RATE:
            self._breath_evidence("rr", v > 0, "RR 0", r.source, now)
            out = self._breathing(now)
            if v == 0:
                return out  # no breath is apnoea, not a low rate
            low = self._rr.update(v, lim.rr_low, 1.0, lim.rr_delay_s, now)
            text = condition_text("RR", v, "<", lim.rr_low, 1.0)
            verdict = Verdict(Priority.MEDIUM, text) if low else None
            return out + self._verdict("rr_low", Kind.PHYSIOLOGICAL, r.source, cause, now, verdict)
        if r.metric is Metric.ETCO2:
            no_co2 = v < lim.etco2_apnoea
            text = f"EtCO2 {v:g} < {lim.etco2_apnoea:g} mmHg"
            self._breath_evidence("etco2", not no_co2, text, r.source, now)
            out = self._breathing(now)
            high = self._etco2.update(v, lim.etco2_high, 2.0, lim.etco2_delay_s, now)
            verdict = None
            if high:
                verdict = Verdict(
                    Priority.MEDIUM, condition_text("EtCO2", v, ">", lim.etco2_high, 2.0)
                )
            return out + self._verdict(
                "etco2_high", Kind.PHYSIOLOGICAL, r.source, cause, now, verdict
            )
        if (
            r.metric in (Metric.NIBP_SYS, Metric.NIBP_DIA, Metric.NIBP_MEAN)
            and r.validity is Validity.VALID
        ):
            return self._nibp(r, v, now)
        return []

    # -- blood pressure: one cuff measurement at a time --------------------------------------

    def _nibp(self, r: VitalReading, v: float, now: datetime) -> list[Output]:
        """Gather the parts of one measurement (same measurement time) and judge it once: when
        systolic and diastolic are in, when another measurement starts, or ``CUFF_GATHER_S``
        after its first part. A mean that comes after only refines the MAP of the low-pressure
        rule (until then MAP is estimated as (SBP + 2 DBP) / 3)."""
        judged = self._judged.get(r.source)
        if judged is not None and judged.at == r.measured_at:
            if r.metric is not Metric.NIBP_MEAN or judged.mean == v:
                return []  # the same measurement again
            judged.mean = v
            return self._low_pressure(r.source, judged, now)
        out: list[Output] = []
        pending = self._cuffs.get(r.source)
        if pending is not None and pending[0].at != r.measured_at:
            del self._cuffs[r.source]
            out += self._cuff(r.source, pending[0], now)
            pending = None
        if pending is None:
            pending = (Cuff(r.measured_at), now)
            self._cuffs[r.source] = pending
        cuff = pending[0]
        if r.metric is Metric.NIBP_SYS:
            cuff.sys = v
        elif r.metric is Metric.NIBP_DIA:
            cuff.dia = v
        else:
            cuff.mean = v
        if cuff.sys is not None and cuff.dia is not None:
            del self._cuffs[r.source]
            out += self._cuff(r.source, cuff, now)
        return out

    def _cuff(self, source: str, cuff: Cuff, now: datetime) -> list[Output]:
        """One whole cuff measurement: the BP rules once, every alarm updated in place."""
        lim = self.limits
        self._nibp_failures.pop(source, None)
        self._last_cuff = now
        self._repeat_due.pop(source, None)
        out = self._set(f"nibp_failed:{source}", None, now)
        out += self._set("nibp_overdue", None, now)
        out += self._set(f"nibp_repeat:{source}", None, now)
        cause = cuff.text()
        high = self._bp.update(cuff, lim)
        if high.decided:
            out += self._verdict("bp_high", Kind.PHYSIOLOGICAL, source, cause, now, high.verdict)
        if high.awaiting_repeat and high.verdict is not None:
            self._repeat_due[source] = (now + _s(lim.bp_repeat_due_s), high.verdict.message)
        return out + self._low_pressure(source, cuff, now)

    def _low_pressure(self, source: str, cuff: Cuff, now: datetime) -> list[Output]:
        self._judged[source] = cuff
        decided, low = self._hypo.update(cuff, self.limits)
        if not decided:
            return []
        return self._verdict("bp_low", Kind.PHYSIOLOGICAL, source, cuff.text(), now, low)

    def _cadence_due(self) -> datetime | None:
        """When the cuff cadence of a running infusion is overdue (None: no infusion)."""
        if self._running_since is None:
            return None
        last = self._running_since
        if self._last_cuff is not None and self._last_cuff > last:
            last = self._last_cuff
        return last + _s(self.limits.nibp_cycle_s + NIBP_OVERDUE_MARGIN_S)

    def _cuff_timers(self, now: datetime) -> list[Output]:
        """Measurements gathered long enough, repeats overdue, the infusion's cuff cadence."""
        out: list[Output] = []
        for source, (cuff, seen) in list(self._cuffs.items()):
            if now - seen >= _s(CUFF_GATHER_S):
                del self._cuffs[source]
                out += self._cuff(source, cuff, now)
        for source, (due, text) in list(self._repeat_due.items()):
            if now >= due:
                minutes = self.limits.bp_repeat_due_s / 60
                want = _Want(
                    Kind.TECHNICAL,
                    Priority.MEDIUM,
                    f"Repeat NIBP overdue: no cuff reading {minutes:g} min after {text}",
                    source,
                    "repeat overdue",
                )
                out += self._set(f"nibp_repeat:{source}", want, now)
        cadence = self._cadence_due()
        if cadence is not None and now >= cadence:
            minutes = (self.limits.nibp_cycle_s + NIBP_OVERDUE_MARGIN_S) / 60
            want = _Want(
                Kind.TECHNICAL,
                Priority.MEDIUM,
                f"NIBP overdue: no cuff reading for {minutes:g} min during the infusion",
                "vigil",
                "NIBP overdue",
            )
            out += self._set("nibp_overdue", want, now)
        return out

    # -- breathing ---------------------------------------------------------------------------

    def _breath_evidence(
        self, kind: str, breathing: bool, text: str, source: str, now: datetime
    ) -> None:
        if not breathing:
            self._breath_source = source
        self._breath.evidence(kind, breathing, text, now)

    def _breathing(self, now: datetime) -> list[Output]:
        verdict = self._breath.verdict(self.limits, now)
        return self._verdict(
            "apnoea", Kind.PHYSIOLOGICAL, self._breath_source, "no breath", now, verdict
        )

    def _device_conditions(self, event: DeviceConditions, now: datetime) -> list[Output]:
        out: list[Output] = []
        for condition in SENSOR_PROBLEMS:
            key = (event.source, condition)
            if condition in event.active:
                self._sensor_since.setdefault(key, now)
            else:
                self._sensor_since.pop(key, None)
                out += self._set(f"sensor:{event.source}:{condition.value}", None, now)
        flagged = Condition.APNOEA in event.active
        self._breath_evidence(
            f"flag:{event.source}", not flagged, f"{event.source} apnoea alarm", event.source, now
        )
        out += self._breathing(now)
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
        complete = (
            r.state is PumpState.COMPLETE
            or r.state is PumpState.KVO
            or PumpCondition.END_OF_VOLUME in r.conditions
        )
        done = _Want(
            Kind.TECHNICAL,
            Priority.LOW,
            f"Pump {name}: {'KVO' if r.state is PumpState.KVO else 'infusion complete'}",
            r.source,
            r.state.value,
        )
        if not complete:
            self._completion_answered.discard(pump)
        signal = complete and pump not in self._completion_answered
        out += self._set(f"pump_complete:{r.source}:{r.channel}", done if signal else None, now)
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
                    latching=_latches(want.kind, want.priority),
                    cause=want.cause,
                    sounding_since=now,
                )
                self._alarms[key] = alarm
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
        # The rule decides the priority; escalation never changed it (it notifies instead).
        priority = want.priority
        changed = priority is not alarm.priority or returning
        # A worse or returning condition sounds again even if it was acknowledged.
        resound = rising or returning
        updated = alarm.with_(
            priority=priority,
            message=want.message,
            cause=want.cause,
            condition=ConditionState.ACTIVE,
            latching=alarm.latching or _latches(alarm.kind, priority),
            signal=SignalState.ON if resound else alarm.signal,
            acknowledged_by=None if resound else alarm.acknowledged_by,
            acknowledged_at=None if resound else alarm.acknowledged_at,
            sounding_since=now if resound else alarm.sounding_since,
        )
        if resound:
            self._pause_high.discard(alarm.id)  # a returning HIGH sounds through a pause
        self._alarms[key] = updated
        if changed:
            event = Event.RAISED if returning else Event.UPDATED
            return [AlarmTransition(updated, event, now, updated.message)]
        return []

    def _escalate(self, key: str, alarm: Alarm, now: datetime) -> AlarmTransition:
        """Not acknowledged in time: tell the nurses (``notify``), keep the priority."""
        alarm = alarm.with_(escalated=True)
        self._alarms[key] = alarm
        return AlarmTransition(
            alarm, Event.ESCALATED, now, alarm.message + NOTES[Event.ESCALATED], notify="nurse"
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
        alarm = self._alarms.pop(key, None)
        if alarm is not None:
            self.paused_once.discard(alarm.id)
            self._pause_high.discard(alarm.id)

    def _paused(self, now: datetime) -> bool:
        return self.audio.paused_until is not None and now < self.audio.paused_until

    def _during_pause(self, now: datetime) -> list[Output]:
        """After every change while audio is paused: remember the alarms the pause silences
        (they count as paused once), and let a new HIGH alarm through. The pause's ceiling is
        what the tablets apply too (``paused_priority``), so a HIGH alarm the pause did not
        cover narrows it to MEDIUM: the new alarm sounds (HIGH is then sounded anyway, so the
        covered HIGH alarms sound with it); MEDIUM and LOW alarms stay silent."""
        ceiling = self.audio.paused_priority
        if not self._paused(now) or ceiling is None:
            return []
        out: list[Output] = []
        through = [
            a
            for a in self.active()
            if a.signal is SignalState.ON
            and a.priority is Priority.HIGH
            and a.id not in self._pause_high
        ]
        if through and ceiling is Priority.HIGH:
            ceiling = Priority.MEDIUM
            self.audio = replace(self.audio, paused_priority=ceiling)
            out.append(
                OperatorAction(
                    "audio_pause_narrowed",
                    "system",
                    now,
                    f"new HIGH alarm sounds through the pause: {through[0].message}; "
                    "the pause now covers MEDIUM and LOW only",
                )
            )
        self.paused_once |= {
            a.id
            for a in self._alarms.values()
            if a.signal is SignalState.ON and a.priority.rank <= ceiling.rank
        }
        return out


def _latches(kind: Kind, priority: Priority) -> bool:
    """Physiological HIGH alarms latch; technical alarms end by themselves when the fault ends
    (a link that is back, a pump that runs again: nothing is left for a nurse to see)."""
    return kind is Kind.PHYSIOLOGICAL and priority is Priority.HIGH


def _sounding(alarm: Alarm) -> datetime:
    """When the alarm's signal last started sounding (its escalation timer)."""
    return alarm.sounding_since if alarm.sounding_since is not None else alarm.started_at
