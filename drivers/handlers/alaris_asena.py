"""Driver ``alaris-asena``: Alaris / CareFusion syringe pumps (Asena GH, CC, GS), read-only.

38400 8N1 (mdpnp ``Asena.java``). Protocol details: drivers/codecs/alaris_asena.py and
docs/protocols/alaris-asena.md.

The session, everything that changes it lives here:

==========  =========================================  ==========================================
phase       entered when                               left when
==========  =========================================  ==========================================
HANDSHAKE   port opened; a handshake query got no      ``COMMS_PROTOCOL`` and ``INST_SERIALNO``
            answer (again ``poll_interval`` later)     answered -> POLLING
POLLING     handshake done                             (stays; a reopened port starts over)
==========  =========================================  ==========================================

* One query is outstanding at a time; a query with no valid answer within ``response_timeout``
  is sent again, ``max_attempts`` times in all (OpenICE waits 500 ms and retries).
* Every ``poll_interval`` (5 s) a *cycle* runs: ``INF``, then ``INF_VTBI``, then ``ALARM`` when
  the ``INF`` alarm field says an alarm is active. The cycle's PumpReading is emitted when it
  ends, so an occlusion is reported with its cause, not one cycle later.
* ``stale_after`` is 15 s: three polls. A single lost reply is normal; three in a row is a
  disconnected or switched-off pump.

READ-ONLY by design: the only bytes this module ever writes are the frames in
``ALLOWED_COMMANDS``: five queries without arguments. No rate, start, stop, VTBI or
``REMOTE_CTRL`` command exists here, and ``_send`` refuses anything else.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from drivers.codecs.alaris_asena import (
    ALARM,
    COMMS_PROTOCOL,
    INF,
    INF_VTBI,
    INST_SERIALNO,
    AlarisAsenaCodec,
    AlarmStatus,
    AsenaMessage,
    AsenaReply,
    InfStatus,
    ProtocolVersion,
    SerialNumber,
    VtbiStatus,
    encode_frame,
)
from drivers.errors import DriverUsageError
from drivers.handlers.base import DeviceHandler, HandlerOutput
from drivers.handlers.poller import Poller, Request
from drivers.readings import PumpCondition, PumpReading, PumpState
from drivers.transports.serial_url import SerialSettings

#: Every frame this driver may ever write: read-only queries, no arguments.
ALLOWED_COMMANDS: frozenset[bytes] = frozenset(
    encode_frame(c) for c in (INF, INF_VTBI, ALARM, INST_SERIALNO, COMMS_PROTOCOL)
)

POLL_INTERVAL = 5.0
RESPONSE_TIMEOUT = 1.0  # OpenICE waits 500 ms; the pump reports COMMS_RESPONSE_MAX 4000 ms
MAX_ATTEMPTS = 3

# --- meanings (ASSUMPTIONS, one place; docs/protocols/alaris-asena.md) ------------------------

#: INF field 2: "-" in replies without an alarm, "A" in a real reply during an alarm.
ALARM_NONE = frozenset({"-", ""})
#: INF field 3. Only HLD (a real reply, pump on hold) and SET are attested; the rest are assumed.
MODES: dict[str, PumpState] = {
    "INF": PumpState.INFUSING,
    "BOL": PumpState.INFUSING,
    "PRG": PumpState.INFUSING,
    "HLD": PumpState.PAUSED,
    "SET": PumpState.STANDBY,
    "KVO": PumpState.KVO,
    "EOI": PumpState.COMPLETE,
}
#: ALARM codes (list of codes in OpenICE ``AlarisMITM.java``; meanings read from their names).
ALARM_CODES: dict[str, PumpCondition | None] = {
    "AL_NOALM": None,
    "AL_OCCLU": PumpCondition.OCCLUSION,
    "AL_LWBAT": PumpCondition.BATTERY_LOW,
    "AL_LBTAC": PumpCondition.BATTERY_LOW,
    "AL_EMBAT": PumpCondition.BATTERY_EMPTY,
    "AL_EOIKV": PumpCondition.END_OF_VOLUME,
    "AL_EOIST": PumpCondition.END_OF_VOLUME,
    "AL_VTBIC": PumpCondition.END_OF_VOLUME,
    "AL_VTBIK": PumpCondition.END_OF_VOLUME,
    "AL_VTBIS": PumpCondition.END_OF_VOLUME,
    "AL_NEOIN": PumpCondition.PRE_ALARM,
    "AL_CALLB": PumpCondition.PRE_ALARM,
    "AL_ACDIS": PumpCondition.PRE_ALARM,
    "AL_FAULT": PumpCondition.PUMP_FAULT,
    "AL_DRDIS": PumpCondition.PUMP_FAULT,
    "AL_SYRCO": PumpCondition.PUMP_FAULT,
}
#: End-of-infusion codes after which the pump keeps the vein open.
KVO_CODES = frozenset({"AL_EOIKV", "AL_VTBIK"})
ADVISORY = frozenset({PumpCondition.PRE_ALARM, PumpCondition.BATTERY_LOW})


def pump_reading(
    source: str,
    inf: InfStatus,
    vtbi: VtbiStatus | None,
    alarm: AlarmStatus | None,
    at: datetime,
) -> PumpReading:
    alarm_active = inf.alarm not in ALARM_NONE
    condition = ALARM_CODES.get(alarm.code) if alarm_active and alarm is not None else None
    conditions = frozenset() if condition is None else frozenset({condition})
    unexplained = alarm_active and (alarm is None or alarm.code not in ALARM_CODES)
    if PumpCondition.END_OF_VOLUME in conditions:
        kvo = alarm is not None and alarm.code in KVO_CODES
        state = PumpState.KVO if kvo or inf.mode == "KVO" else PumpState.COMPLETE
    elif conditions - ADVISORY or unexplained:
        state = PumpState.ALARM  # an alarm whose cause is unknown is still an alarm
    else:
        state = MODES.get(inf.mode, PumpState.UNKNOWN)
    return PumpReading(
        source=source,
        at=at,
        state=state,
        rate_ml_h=inf.rate,
        volume_infused_ml=inf.volume_infused,
        vtbi_ml=None if vtbi is None else vtbi.vtbi,
        time_remaining_s=inf.time_remaining_s,
        drug=inf.drug,
        conditions=conditions,
    )


# --- the handler ----------------------------------------------------------------------------


class Phase(StrEnum):
    HANDSHAKE = "handshake"
    POLLING = "polling"


_ANSWERS: dict[type, str] = {
    InfStatus: INF,
    VtbiStatus: INF_VTBI,
    AlarmStatus: ALARM,
    SerialNumber: INST_SERIALNO,
    ProtocolVersion: COMMS_PROTOCOL,
}


class AlarisAsenaHandler(DeviceHandler[AsenaMessage]):
    name: ClassVar[str] = "alaris-asena"
    serial: ClassVar[SerialSettings] = SerialSettings(38400, 8, "N", 1)
    stale_after: ClassVar[float] = 15.0

    def __init__(
        self,
        source: str,
        *,
        poll_interval: float = POLL_INTERVAL,
        response_timeout: float = RESPONSE_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.poller = Poller(
            poll_interval=poll_interval,
            response_timeout=response_timeout,
            max_attempts=max_attempts,
        )
        super().__init__(source)
        self.phase = Phase.HANDSHAKE
        self.serial_number: str | None = None
        self.protocol_version: str | None = None
        self._queue: list[str] = []
        self._inf: InfStatus | None = None
        self._vtbi: VtbiStatus | None = None
        self._alarm: AlarmStatus | None = None

    @property
    def timeouts(self) -> int:
        """Diagnostics: queries that went unanswered."""
        return self.poller.timeouts

    # -- DeviceHandler -------------------------------------------------------------------------

    def new_codec(self) -> AlarisAsenaCodec:
        return AlarisAsenaCodec()

    def on_open(self, mono: float, wall: datetime) -> HandlerOutput:
        out = super().on_open(mono, wall)
        self.phase = Phase.HANDSHAKE
        self.poller.answered()
        self._start(Phase.HANDSHAKE, [COMMS_PROTOCOL, INST_SERIALNO], mono, out)
        return out

    def on_event(
        self, event: AsenaMessage, mono: float, wall: datetime, out: HandlerOutput
    ) -> None:
        out.frames_ok += 1
        if isinstance(event, InfStatus | VtbiStatus):
            out.problems += list(event.problems)
        command = event.command if isinstance(event, AsenaReply) else _ANSWERS[type(event)]
        pending = self.poller.pending
        if pending is None or pending.command != command:
            return  # a late or unasked-for reply: the link is alive, nothing else to do
        self.poller.answered()
        self._answered(event, mono, wall, out)

    def on_tick(self, mono: float, wall: datetime) -> HandlerOutput:
        out = HandlerOutput()
        expired = self.poller.expired(mono)
        if expired is not None:
            self._expire(expired, mono, wall, out)
        elif self.poller.due(mono):
            if self.phase is Phase.POLLING:
                self._start(Phase.POLLING, [INF], mono, out)
            else:
                self._start(Phase.HANDSHAKE, [COMMS_PROTOCOL, INST_SERIALNO], mono, out)
        return out

    def next_deadline(self) -> float | None:
        return self.poller.next_deadline()

    # -- queries ---------------------------------------------------------------------------

    def _start(self, phase: Phase, commands: list[str], mono: float, out: HandlerOutput) -> None:
        self.phase = phase
        self._queue = list(commands)
        self._inf = self._vtbi = self._alarm = None
        self.poller.next_request = mono + self.poller.poll_interval
        self._send_next(mono, out)

    def _send_next(self, mono: float, out: HandlerOutput, attempts: int = 1) -> None:
        if not self._queue:
            return
        command = self._queue[0]
        data = encode_frame(command)
        if data not in ALLOWED_COMMANDS:  # read-only by design, checked at the last moment
            raise DriverUsageError(f"{command!r} is not a read-only ASENA query")
        out.writes.append(data)
        self.poller.sent(command, mono, attempts=attempts)

    def _expire(self, request: Request, mono: float, wall: datetime, out: HandlerOutput) -> None:
        if self.poller.can_retry(request):
            self._send_next(mono, out, request.attempts + 1)
            return
        self._queue.pop(0)
        if self.phase is Phase.HANDSHAKE:
            self._queue.clear()  # try the whole handshake again at the next cycle time
        elif request.command == INF:
            self._queue.clear()  # no status this cycle
        elif not self._queue:
            self._finish_cycle(wall, out)  # report what the cycle did learn
        else:
            self._send_next(mono, out)

    def _answered(
        self, event: AsenaMessage, mono: float, wall: datetime, out: HandlerOutput
    ) -> None:
        self._queue.pop(0)
        if isinstance(event, SerialNumber):
            self.serial_number = event.serial
        elif isinstance(event, ProtocolVersion):
            self.protocol_version = event.version
        elif isinstance(event, InfStatus):
            self._inf = event
            self._queue.append(INF_VTBI)
            if event.alarm not in ALARM_NONE:
                self._queue.append(ALARM)
        elif isinstance(event, VtbiStatus):
            self._vtbi = event
        elif isinstance(event, AlarmStatus):
            self._alarm = event
        if self._queue:
            self._send_next(mono, out)
        elif self.phase is Phase.HANDSHAKE:
            self.phase = Phase.POLLING
            self._start(Phase.POLLING, [INF], mono, out)
        else:
            self._finish_cycle(wall, out)

    def _finish_cycle(self, wall: datetime, out: HandlerOutput) -> None:
        if self._inf is not None:
            out.readings.append(pump_reading(self.source, self._inf, self._vtbi, self._alarm, wall))
        self._inf = self._vtbi = self._alarm = None
