"""Driver ``philips-intellivue``: Philips IntelliVue MP/MX monitor, Data Export over MIB/RS232.

115200 8N1, no handshake (protocols.md §1). The codec is ``drivers.codecs.philips_intellivue``;
the protocol as implemented is in docs/protocols/philips-intellivue.md.

The session. Everything that moves it lives in ``TRANSITIONS`` (after h11's ``_state.py``); a
trigger missing from a phase's row is ignored in that phase.

============  =================================  ============================================
phase         entered when (and what is sent)    left when
============  =================================  ============================================
ASSOCIATING   the port opened, or the back-off   Association Result -> CONFIGURING; an MDS
              is over: the Association Request   Create Event (the result was lost on the
                                                 line) -> POLLING; Refuse, Abort or no answer
                                                 within ``response_timeout`` -> BACKOFF
CONFIGURING   Association Result: the poll       MDS Create Event -> POLLING; Abort, Release,
              profile gives the minimum poll     Refuse -> BACKOFF; none within
              period and the keep-alive          ``mds_timeout`` -> BACKOFF
POLLING       MDS Create Event: its Result, then Abort, Release, Refuse -> BACKOFF; nothing
              the first poll; every re-sent MDS  from the monitor for ``silence_timeout``
              Create Event is answered again     -> BACKOFF
              (and the poll sent again)
BACKOFF       a failure: after Refuse or a time- ``backoff`` elapsed -> ASSOCIATING. The
              out a Release Request first (the   back-off doubles from ``backoff_initial`` to
              monitor may still hold the         ``backoff_max`` and resets once numerics
              association)                       flow
RELEASING     ``on_close``: the Release Request  Release Result, Abort or ``response_timeout``
                                                 -> CLOSED
CLOSED        released                           never
============  =================================  ============================================

While POLLING the handler keeps an extended numeric poll running (renewed ``renew_margin``
before its ``poll_period`` ends; the monitor answers every ~1 s), or single-polls the numerics
(after a Remote Operation Error to the extended poll, or when asked to), and sends a keep-alive
(an MDS single poll) whenever it has sent nothing for ``keepalive_interval``: by default the
larger of the negotiated minimum poll period and a third of the monitor's association time-out
of §9 (10 s under a 3.3 s period, 3 × the period up to 43 s, else 130 s): three messages per
time-out up to a 43 s period, and never a poll faster than the minimum poll period.

READ-ONLY by design: the handler sends only the message kinds in ``ALLOWED_COMMANDS``
(association control and polls); ``_send`` refuses anything else. It never sends GET, SET or
any action but a poll, so it cannot change the monitor.

Mapping (docs/protocols/philips-intellivue.md): HR 0x4182, pulse 0x4822, SpO2 0x4BB8, RR from
the airway 0x5012 or else impedance 0x500A, EtCO2 0x50B0 (or 0x509C; standalone or inside the CO2
compound), FiCO2 0x50BA, temperature 0x4B48; NIBP from the compound 0x4A04 (sys/dia/mean
0x4A05/6/7), once per measurement (a new time stamp or new values), dated by its time stamp.
A numeric with INVALID, QUESTIONABLE, UNAVAILABLE or CALIBRATION_ONGOING set, a FLOAT special,
an unknown unit or an implausible value is an INVALID reading. DEMO_DATA (or the monitor's demo
operating mode) raises ``Condition.DEMO_DATA`` and makes every value QUESTIONABLE, never VALID;
TEST_DATA makes values QUESTIONABLE. Numerics whose label names a *setting* are skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from drivers.codecs.philips_intellivue import (
    TICKS_PER_SECOND,
    AssociationAborted,
    AssociationAccepted,
    AssociationRefused,
    IntellivueMessage,
    MdsCreateEvent,
    MeasurementState,
    MessageKind,
    NumericValue,
    Observation,
    PhilipsIntellivueCodec,
    Physio,
    PollReply,
    ReleaseRequest,
    ReleaseResult,
    RemoteError,
    Unit,
    association_timeout,
    encode_association_request,
    encode_extended_poll,
    encode_keep_alive,
    encode_mds_create_result,
    encode_release_request,
    encode_single_poll,
)
from drivers.codecs.philips_intellivue.nom import (
    NO_VALUE_STATES,
    NOM_MOC_VMO_METRIC_NU,
    NOM_MOC_VMS_MDS,
    OPMODE_DEMO,
    RELATIVE_TIME_MODULUS,
    SETTING_LABEL_PREFIX,
)
from drivers.errors import DriverUsageError
from drivers.handlers.base import DeviceHandler, HandlerOutput
from drivers.readings import (
    Condition,
    DeviceConditions,
    Metric,
    Validity,
    VitalReading,
    plausible,
)
from drivers.transports.serial_url import SerialSettings

#: Every message kind this driver may ever send: association control and polls. Nothing else.
ALLOWED_COMMANDS: frozenset[MessageKind] = frozenset(
    {
        MessageKind.ASSOCIATION_REQUEST,
        MessageKind.MDS_CREATE_RESULT,
        MessageKind.SINGLE_POLL,
        MessageKind.EXTENDED_POLL,
        MessageKind.RELEASE_REQUEST,
    }
)


class Phase(StrEnum):
    ASSOCIATING = "associating"
    CONFIGURING = "configuring"  # associated, waiting for the MDS Create Event
    POLLING = "polling"
    BACKOFF = "backoff"
    RELEASING = "releasing"
    CLOSED = "closed"


class Trigger(StrEnum):
    ACCEPTED = "accepted"  # Association Result
    REFUSED = "refused"  # Refuse
    ABORTED = "aborted"  # Abort
    RELEASED = "released"  # Release Result, or a Release Request from the monitor
    MDS_CREATE = "mds_create"  # MDS Create Event Report
    TIMEOUT = "timeout"  # no answer in time, or silence while polling
    RETRY = "retry"  # the back-off is over
    CLOSE = "close"  # on_close()


_LOST = {
    Trigger.REFUSED: Phase.BACKOFF,
    Trigger.ABORTED: Phase.BACKOFF,
    Trigger.RELEASED: Phase.BACKOFF,
    Trigger.TIMEOUT: Phase.BACKOFF,
}
TRANSITIONS: dict[Phase, dict[Trigger, Phase]] = {
    # No RELEASED here: a Release Result while associating answers the Release Request sent
    # before the back-off, not this association.
    Phase.ASSOCIATING: {
        Trigger.REFUSED: Phase.BACKOFF,
        Trigger.ABORTED: Phase.BACKOFF,
        Trigger.TIMEOUT: Phase.BACKOFF,
        Trigger.ACCEPTED: Phase.CONFIGURING,
        Trigger.MDS_CREATE: Phase.POLLING,
        Trigger.CLOSE: Phase.CLOSED,
    },
    Phase.CONFIGURING: {**_LOST, Trigger.MDS_CREATE: Phase.POLLING, Trigger.CLOSE: Phase.RELEASING},
    Phase.POLLING: {**_LOST, Trigger.MDS_CREATE: Phase.POLLING, Trigger.CLOSE: Phase.RELEASING},
    Phase.BACKOFF: {Trigger.RETRY: Phase.ASSOCIATING, Trigger.CLOSE: Phase.CLOSED},
    Phase.RELEASING: {
        Trigger.RELEASED: Phase.CLOSED,
        Trigger.ABORTED: Phase.CLOSED,
        Trigger.TIMEOUT: Phase.CLOSED,
    },
    Phase.CLOSED: {},
}
#: Entering BACKOFF by these triggers sends a Release Request first: the monitor may still hold
#: an association (a lost result, a silent line, a stale association after a reopen).
RELEASE_BEFORE_RETRY = frozenset({Trigger.REFUSED, Trigger.TIMEOUT})


@dataclass(frozen=True, slots=True)
class IntellivueTimings:
    """Session timings in seconds; tests shorten them, the defaults are for a real monitor."""

    #: Answer to an Association or Release Request.
    response_timeout: float = 5.0
    #: Association Result to MDS Create Event (the monitor re-sends the event a few times).
    mds_timeout: float = 15.0
    #: Nothing received while polling (real-time numerics come every ~1 s).
    silence_timeout: float = 10.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    #: NOM_ATTR_TIME_PD_POLL of the extended poll (VSCaptureMP: 30 s) ...
    poll_period: float = 30.0
    #: ... renewed this long before it ends.
    renew_margin: float = 5.0
    #: Single-poll mode: seconds between numeric polls (never under the minimum poll period).
    single_poll_interval: float = 1.0
    #: Seconds without a client message before a keep-alive; None: from the poll profile.
    keepalive_interval: float | None = None


#: Used when the Association Result carried no poll profile: under 3.3 s, so the keep-alive is
#: sized for the shortest association time-out (10 s).
DEFAULT_MIN_POLL_PERIOD = 1.0
#: A time stamp older than this (or in the future) is not trusted to date a reading.
MAX_STAMP_AGE = timedelta(hours=24)
MMHG_PER_KPA = 7.500617
#: EtCO2 in % becomes mmHg at a standard atmosphere: the ambient pressure is not exported.
MMHG_PER_PERCENT_AT_1_ATM = 7.6

Conversion = tuple[Callable[[float], float], bool]  # (to Vigil's unit, approximate)


def _same(value: float) -> float:
    return value


_PRESSURE: dict[int, Conversion] = {
    Unit.MMHG: (_same, False),
    Unit.KILO_PASCAL: (lambda v: v * MMHG_PER_KPA, False),
}
_CO2: dict[int, Conversion] = {
    **_PRESSURE,
    Unit.PERCENT: (lambda v: v * MMHG_PER_PERCENT_AT_1_ATM, True),
}
_RATE: dict[int, Conversion] = {
    Unit.BEAT_PER_MIN: (_same, False),
    Unit.PULS_PER_MIN: (_same, False),
    Unit.PER_MIN: (_same, False),
}
UNITS: dict[Metric, dict[int, Conversion]] = {
    Metric.HR: _RATE,
    Metric.PULSE_RATE: _RATE,
    Metric.SPO2: {Unit.PERCENT: (_same, False)},
    Metric.RESP_RATE: {Unit.RESP_PER_MIN: (_same, False), Unit.PER_MIN: (_same, False)},
    Metric.ETCO2: _CO2,
    Metric.FICO2: _CO2,
    Metric.NIBP_SYS: _PRESSURE,
    Metric.NIBP_DIA: _PRESSURE,
    Metric.NIBP_MEAN: _PRESSURE,
    Metric.TEMP: {Unit.DEGC: (_same, False), Unit.FAHR: (lambda v: (v - 32) * 5 / 9, False)},
}

#: physio id -> (metric, preference: lower wins when one reply carries both).
CONTINUOUS: dict[int, tuple[Metric, int]] = {
    Physio.ECG_CARD_BEAT_RATE: (Metric.HR, 0),
    Physio.PLETH_PULS_RATE: (Metric.PULSE_RATE, 0),
    Physio.PULS_OXIM_SAT_O2: (Metric.SPO2, 0),
    Physio.AWAY_RESP_RATE: (Metric.RESP_RATE, 0),
    Physio.RESP_RATE: (Metric.RESP_RATE, 1),
    Physio.AWAY_CO2_ET: (Metric.ETCO2, 0),
    Physio.CONC_AWAY_CO2_ET: (Metric.ETCO2, 1),
    Physio.AWAY_CO2_INSP_MIN: (Metric.FICO2, 0),
    Physio.TEMP: (Metric.TEMP, 0),
}
NIBP: dict[int, Metric] = {
    Physio.PRESS_BLD_NONINV_SYS: Metric.NIBP_SYS,
    Physio.PRESS_BLD_NONINV_DIA: Metric.NIBP_DIA,
    Physio.PRESS_BLD_NONINV_MEAN: Metric.NIBP_MEAN,
}
_NOT_A_VALUE = NO_VALUE_STATES | MeasurementState.CALIBRATION_ONGOING
_NOT_PATIENT_DATA = MeasurementState.DEMO_DATA | MeasurementState.TEST_DATA
_NIBP_PENDING = MeasurementState.MSMT_ONGOING | MeasurementState.EARLY_INDICATION

NibpKey = tuple[object, ...]


def keepalive_interval(min_poll_period_s: float) -> float:
    """The larger of the minimum poll period and a third of the association time-out (§9)."""
    return max(min_poll_period_s, association_timeout(min_poll_period_s) / 3)


def observation_time(observation: Observation, reply: PollReply, received: datetime) -> datetime:
    """When ``observation`` was measured, by our clock: its time stamp's age in the monitor's
    clocks (relative time first, it never jumps), subtracted from the time the reply arrived."""
    if observation.rel_time is not None:
        ticks = (reply.rel_time - observation.rel_time) % RELATIVE_TIME_MODULUS
        age = timedelta(seconds=ticks / TICKS_PER_SECOND)
        if age <= MAX_STAMP_AGE:
            return received - age
    if observation.abs_time is not None and reply.abs_time is not None:
        age = reply.abs_time - observation.abs_time
        if timedelta(0) <= age <= MAX_STAMP_AGE:
            return received - age
    return received


class PhilipsIntellivueHandler(DeviceHandler[IntellivueMessage]):
    name: ClassVar[str] = "philips-intellivue"
    # protocols.md §1: 115200 baud, 8 data bits, no parity, 1 stop bit, no flow control.
    serial: ClassVar[SerialSettings] = SerialSettings(115200, 8, "N", 1)
    #: Real-time numerics come every ~1 s: ten seconds without any is a lost link, while one
    #: re-association (a refused or aborted association and the back-off) is not.
    stale_after: ClassVar[float] = 10.0

    def __init__(
        self,
        source: str,
        *,
        timings: IntellivueTimings | None = None,
        extended_poll: bool = True,
    ) -> None:
        self.timings = timings or IntellivueTimings()
        if self.timings.poll_period <= self.timings.renew_margin:
            raise DriverUsageError("the poll period must be longer than its renew margin")
        super().__init__(source)
        self.use_extended_poll = extended_poll
        self.phase = Phase.CLOSED
        self.min_poll_period = DEFAULT_MIN_POLL_PERIOD
        self.keepalive = self._keepalive_for(DEFAULT_MIN_POLL_PERIOD)
        self._extended = extended_poll
        self._deadline: float | None = None
        self._backoff = self.timings.backoff_initial
        self._last_rx = 0.0
        self._last_tx = 0.0
        self._poll_due: float | None = None
        self._invoke_id = 0
        self._numeric_invoke_id: int | None = None
        self._demo_mode = False
        self._conditions: frozenset[Condition] | None = None
        # NIBP tracking survives a re-association: the same cuff result is not re-reported.
        self._nibp_key: NibpKey | None = None
        self._nibp_pending = False
        #: Diagnostics.
        self.associations = 0
        self.refusals = 0
        self.aborts = 0
        self.timeouts = 0
        self.keepalives = 0
        self.mds_results = 0
        self.sent: Counter[MessageKind] = Counter()

    # -- DeviceHandler -------------------------------------------------------------------------

    def new_codec(self) -> PhilipsIntellivueCodec:
        return PhilipsIntellivueCodec()

    def on_open(self, mono: float, wall: datetime) -> HandlerOutput:
        out = super().on_open(mono, wall)  # a reopened port starts mid-frame
        self._backoff = self.timings.backoff_initial
        self._conditions = None
        self.phase = Phase.ASSOCIATING
        self._associate(mono, out)
        return out

    def on_event(
        self, event: IntellivueMessage, mono: float, wall: datetime, out: HandlerOutput
    ) -> None:
        self._last_rx = mono
        if isinstance(event, AssociationAccepted):
            if self.phase is Phase.ASSOCIATING:
                profile = event.user_info.poll_profile if event.user_info else None
                period = profile.min_poll_period_s if profile else DEFAULT_MIN_POLL_PERIOD
                self.min_poll_period = period or DEFAULT_MIN_POLL_PERIOD
                self.keepalive = self._keepalive_for(self.min_poll_period)
            self._trigger(Trigger.ACCEPTED, mono, out)
        elif isinstance(event, AssociationRefused):
            self.refusals += 1
            out.problems.append("association refused by the monitor")
            self._trigger(Trigger.REFUSED, mono, out)
        elif isinstance(event, AssociationAborted):
            self.aborts += 1
            out.problems.append("association aborted by the monitor")
            self._trigger(Trigger.ABORTED, mono, out)
        elif isinstance(event, ReleaseResult | ReleaseRequest):
            self._trigger(Trigger.RELEASED, mono, out)
        elif isinstance(event, MdsCreateEvent):
            self._mds_create(event, mono, out)
        elif isinstance(event, PollReply):
            self._poll_reply(event, mono, wall, out)
        elif isinstance(event, RemoteError):
            self._remote_error(event, mono, out)

    def on_tick(self, mono: float, wall: datetime) -> HandlerOutput:
        out = HandlerOutput()
        if self._deadline is not None and mono >= self._deadline:
            self._deadline = None
            self._trigger(
                Trigger.RETRY if self.phase is Phase.BACKOFF else Trigger.TIMEOUT, mono, out
            )
        if self.phase is Phase.POLLING:
            if mono - self._last_rx >= self.timings.silence_timeout:
                out.problems.append(f"no message from the monitor for {mono - self._last_rx:.0f} s")
                self._trigger(Trigger.TIMEOUT, mono, out)
            else:
                if self._poll_due is not None and mono >= self._poll_due:
                    self._poll(mono, out)
                if mono - self._last_tx >= self.keepalive:
                    self.keepalives += 1
                    self._send(
                        MessageKind.SINGLE_POLL, encode_keep_alive(self._next_invoke()), mono, out
                    )
        return out

    def next_deadline(self) -> float | None:
        deadlines = [self._deadline]
        if self.phase is Phase.POLLING:
            deadlines += [
                self._last_rx + self.timings.silence_timeout,
                self._last_tx + self.keepalive,
                self._poll_due,
            ]
        found = [d for d in deadlines if d is not None]
        return min(found) if found else None

    def on_close(self, mono: float, wall: datetime) -> HandlerOutput:
        """Release the association if there is one (call before closing the port)."""
        out = HandlerOutput()
        self._trigger(Trigger.CLOSE, mono, out)
        return out

    # -- the state machine -----------------------------------------------------------------

    def _trigger(self, trigger: Trigger, mono: float, out: HandlerOutput) -> None:
        before = self.phase
        after = TRANSITIONS[before].get(trigger)
        if after is None:
            return  # not meaningful in this phase (a late answer, a duplicate)
        self.phase = after
        self._deadline = None
        if after is Phase.BACKOFF:
            if trigger is Trigger.TIMEOUT:
                self.timeouts += 1
            if trigger in RELEASE_BEFORE_RETRY and before is not Phase.BACKOFF:
                self._send(MessageKind.RELEASE_REQUEST, encode_release_request(), mono, out)
            self._poll_due = None
            self._deadline = mono + self._backoff
            self._backoff = min(self._backoff * 2, self.timings.backoff_max)
        elif after is Phase.ASSOCIATING:
            self._associate(mono, out)
        elif after is Phase.CONFIGURING:
            self.associations += 1
            self._deadline = mono + self.timings.mds_timeout
        elif after is Phase.RELEASING:
            self._send(MessageKind.RELEASE_REQUEST, encode_release_request(), mono, out)
            self._deadline = mono + self.timings.response_timeout
        elif after is Phase.CLOSED:
            self._poll_due = None

    def _associate(self, mono: float, out: HandlerOutput) -> None:
        self._extended = self.use_extended_poll
        self._numeric_invoke_id = None
        self._send(MessageKind.ASSOCIATION_REQUEST, encode_association_request(), mono, out)
        self._deadline = mono + self.timings.response_timeout

    def _mds_create(self, event: MdsCreateEvent, mono: float, out: HandlerOutput) -> None:
        before = self.phase
        if Trigger.MDS_CREATE not in TRANSITIONS[before]:
            return
        if event.operating_mode is not None:
            self._demo_mode = bool(event.operating_mode & OPMODE_DEMO)
        if before is Phase.ASSOCIATING:
            self.associations += 1  # the Association Result was lost; this proves it came
        # protocols.md §8: answer *every* MDS Create Event, the re-sent ones too.
        self.mds_results += 1
        self._send(MessageKind.MDS_CREATE_RESULT, encode_mds_create_result(event), mono, out)
        self._trigger(Trigger.MDS_CREATE, mono, out)
        # A re-sent event means the monitor missed our result, and it ignores polls until it
        # has one (§9): poll again rather than wait for the next renewal.
        self._poll(mono, out)

    # -- polling ---------------------------------------------------------------------------

    def _next_invoke(self) -> int:
        self._invoke_id = self._invoke_id % 0xFFFF + 1
        return self._invoke_id

    def _poll(self, mono: float, out: HandlerOutput) -> None:
        invoke_id = self._next_invoke()
        self._numeric_invoke_id = invoke_id
        if self._extended:
            period = self.timings.poll_period
            data = encode_extended_poll(invoke_id, period_s=period)
            self._send(MessageKind.EXTENDED_POLL, data, mono, out)
            self._poll_due = mono + period - self.timings.renew_margin
        else:
            self._send(MessageKind.SINGLE_POLL, encode_single_poll(invoke_id), mono, out)
            self._poll_due = mono + max(self.timings.single_poll_interval, self.min_poll_period)

    def _send(self, kind: MessageKind, data: bytes, mono: float, out: HandlerOutput) -> None:
        if kind not in ALLOWED_COMMANDS:  # read-only by design, checked at the last moment
            raise DriverUsageError(f"{kind} is not a message this read-only driver may send")
        out.writes.append(data)
        self.sent[kind] += 1
        self._last_tx = mono

    def _keepalive_for(self, min_poll_period: float) -> float:
        if self.timings.keepalive_interval is not None:
            return self.timings.keepalive_interval
        return keepalive_interval(min_poll_period)

    def _remote_error(self, error: RemoteError, mono: float, out: HandlerOutput) -> None:
        out.problems.append(f"remote operation error {error.error_value} to {error.invoke_id}")
        if error.invoke_id == self._numeric_invoke_id and self._extended:
            # A monitor without extended polls: fall back to single polls from now on.
            self._extended = False
            if self.phase is Phase.POLLING:
                self._poll(mono, out)

    # -- readings --------------------------------------------------------------------------

    def _poll_reply(
        self, reply: PollReply, mono: float, wall: datetime, out: HandlerOutput
    ) -> None:
        if self.phase is not Phase.POLLING:
            return
        out.frames_ok += 1
        if reply.obj_class == NOM_MOC_VMS_MDS:
            for observation in reply.observations:
                if observation.operating_mode is not None:
                    self._demo_mode = bool(observation.operating_mode & OPMODE_DEMO)
            return
        if reply.obj_class != NOM_MOC_VMO_METRIC_NU:
            return
        self._backoff = self.timings.backoff_initial  # numerics flow: the session is good
        observations = [
            o
            for o in reply.observations
            if o.label is None or o.label >> 16 != SETTING_LABEL_PREFIX
        ]
        demo = self._demo_mode or any(
            n.state & MeasurementState.DEMO_DATA for o in observations for n in o.numerics
        )
        self._continuous(observations, demo, wall, out)
        self._nibp(observations, reply, demo, wall, out)
        conditions = frozenset({Condition.DEMO_DATA} if demo else ())
        if conditions != self._conditions:
            self._conditions = conditions
            out.readings.append(DeviceConditions(self.source, conditions, wall))

    def _continuous(
        self, observations: list[Observation], demo: bool, wall: datetime, out: HandlerOutput
    ) -> None:
        best: dict[Metric, tuple[bool, int, NumericValue]] = {}
        for observation in observations:
            for numeric in observation.numerics:
                found = CONTINUOUS.get(numeric.physio_id)
                if found is None:
                    continue
                metric, preference = found
                # A usable value beats an unusable one, then the preferred source wins.
                rank = (not self._usable(metric, numeric), preference, numeric)
                current = best.get(metric)
                if current is None or rank[:2] < current[:2]:
                    best[metric] = rank
        for metric, (_, _, numeric) in best.items():
            out.readings.append(self._reading(metric, numeric, demo, wall, out))

    def _nibp(
        self,
        observations: list[Observation],
        reply: PollReply,
        demo: bool,
        wall: datetime,
        out: HandlerOutput,
    ) -> None:
        members: dict[Metric, NumericValue] = {}
        carrier: Observation | None = None
        for observation in observations:
            for numeric in observation.numerics:
                metric = NIBP.get(numeric.physio_id)
                if metric is not None and metric not in members:
                    members[metric] = numeric
                    carrier = carrier or observation
        if not members or carrier is None:
            return
        if any(n.state & _NIBP_PENDING for n in members.values()):
            self._nibp_pending = True  # the cuff is measuring: wait for the result
            return
        key: NibpKey = (
            carrier.rel_time,
            carrier.abs_time,
            *(
                (m, n.value, n.special, int(n.state & ~MeasurementState.IN_ALARM))
                for m, n in sorted(members.items())
            ),
        )
        if key == self._nibp_key and not self._nibp_pending:
            return
        self._nibp_key, self._nibp_pending = key, False
        at = observation_time(carrier, reply, wall)
        for metric in (Metric.NIBP_SYS, Metric.NIBP_DIA, Metric.NIBP_MEAN):
            if metric in members:
                out.readings.append(self._reading(metric, members[metric], demo, at, out))

    @staticmethod
    def _usable(metric: Metric, numeric: NumericValue) -> bool:
        return (
            numeric.value is not None
            and not numeric.state & _NOT_A_VALUE
            and numeric.unit in UNITS[metric]
        )

    def _reading(
        self, metric: Metric, numeric: NumericValue, demo: bool, at: datetime, out: HandlerOutput
    ) -> VitalReading:
        def invalid() -> VitalReading:
            return VitalReading(self.source, metric, None, at, Validity.INVALID)

        if numeric.value is None or numeric.state & _NOT_A_VALUE:
            return invalid()
        conversion = UNITS[metric].get(numeric.unit)
        if conversion is None:
            out.problems.append(
                f"field dropped: {metric.value} in unknown unit {numeric.unit:#06x}"
            )
            return invalid()
        convert, approximate = conversion
        value = convert(numeric.value)
        if not plausible(metric, value):
            out.problems.append(f"field dropped: {metric.value}={value:g} is not plausible")
            return invalid()
        questionable = demo or approximate or bool(numeric.state & _NOT_PATIENT_DATA)
        validity = Validity.QUESTIONABLE if questionable else Validity.VALID
        return VitalReading(self.source, metric, value, at, validity)
