"""Driver ``bbraun-bcc``: B. Braun Space rack (SpaceCom / SpaceStation) over BCC, read-only.

RS232 at 9600 8N1 (TIS 3.2.1) or TCP (``socket://host:4001``, mindleaving's default port).
Protocol details: drivers/codecs/bbraun_bcc.py and docs/protocols/bbraun-bcc.md.

The session, everything that changes it lives here (after h11's ``_state.py``):

==========  ===============================================  ====================================
phase       entered when                                     left when
==========  ===============================================  ====================================
ALIVE       port opened; the rack refused a request          ``GNACK`` arrives: its block carries
            (GNERR, e.g. a new bedId); the handshake gave    the real bedId -> VERSION
            up (then again ``poll_interval`` later)
VERSION     GNACK                                            version arrives -> POLLING
POLLING     version                                          rack GNERR -> ALIVE
==========  ===============================================  ====================================

* One request is outstanding at a time. Every good block is ACKed at once; a corrupt one is
  NAKed (the device sends it again), at most ``MAX_NAKS`` times in a row, then the request waits
  for its deadline.
* A request with no (complete) answer ``response_timeout`` after the last byte of progress is sent
  again, ``max_attempts`` times in all; then the handshake restarts ``poll_interval`` later, or a
  poll is skipped.
* ``MEM:GET`` goes out no faster than every ``poll_interval`` (5 s; mindleaving enforces the same
  minimum), re-sends included.
* ``stale_after`` is 15 s: three polls. One lost poll (a NAK storm, a re-sent request) is normal on
  a long RS232 run and must not raise a technical alarm; three in a row means the link is gone.

READ-ONLY by design: the only things this module ever writes are ACK, NAK and the requests in
``ALLOWED_COMMANDS``; ``_send`` refuses anything else.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from drivers.codecs.bbraun_bcc import (
    ACK_BYTE,
    DEFAULT_BED_ID,
    DSSTATUS_ON,
    NAK_BYTE,
    BbraunBccCodec,
    BccAlarm1,
    BccAlarm2,
    BccBlock,
    BccPreAlarm,
    BccPumpError,
    BccPumpStatus,
    BccResponse,
    BccStatus1,
    CorruptBlock,
    decode_content,
    encode_block,
)
from drivers.errors import DriverUsageError
from drivers.handlers.base import DeviceHandler, HandlerOutput
from drivers.handlers.poller import Poller, Request
from drivers.readings import PumpCondition, PumpReading, PumpState
from drivers.transports.serial_url import SerialSettings

ALIVE = "ADMIN:ALIVE"
VERSION = "ADMIN:VERSION"
MEM_GET = "MEM:GET"
#: Every request this driver may ever send: read-only queries (TIS 3.2.6). Nothing else.
ALLOWED_COMMANDS: frozenset[str] = frozenset({ALIVE, VERSION, MEM_GET})
#: The link-layer bytes it sends besides requests (TIS 3.2.3).
ALLOWED_CONTROL_BYTES: frozenset[bytes] = frozenset({ACK_BYTE, NAK_BYTE})

POLL_INTERVAL = 5.0
RESPONSE_TIMEOUT = 3.0  # a 1.1 kB block takes 1.2 s at 9600 baud
MAX_ATTEMPTS = 3
MAX_NAKS = 3
#: GNERR code "no further data available or no pumps in the system" (mindleaving BccErrorCodes).
NO_PUMPS = "11"

# --- conditions (one place; sources in docs/protocols/bbraun-bcc.md) -------------------------

#: INMn / INAn parameters (icu_devices ``bbraun_const.h``).
FLAG_CONDITIONS: dict[str, PumpCondition] = {
    "INA1": PumpCondition.BATTERY_EMPTY,  # battery empty
    "INA2": PumpCondition.CONTAINER_EMPTY,  # syringe empty
    "INA3": PumpCondition.OCCLUSION,  # pressure alarm
    "INA4": PumpCondition.PRE_ALARM,  # standby expires in two minutes
    "INA5": PumpCondition.TIME_OVER,  # standby over
    "INA6": PumpCondition.PUMP_FAULT,  # CC alarm
    "INA7": PumpCondition.END_OF_VOLUME,
    "INA8": PumpCondition.TIME_OVER,
    "INA9": PumpCondition.PUMP_FAULT,  # syringe alarm
    "INA11": PumpCondition.BATTERY_LOW,  # battery pre-alarm
    "INA12": PumpCondition.PRE_ALARM,  # syringe empty pre-alarm
    "INA13": PumpCondition.DOOR_OPEN,
    "INA14": PumpCondition.DROP_ALARM,
    "INA15": PumpCondition.AIR_IN_LINE,
    "INA16": PumpCondition.END_OF_VOLUME,  # KVO end: the KVO phase after end of volume is over
}
PUMPING, STANDBY, READY, KVO = "INM3", "INM6", "INM1", "INM10"

ALARM1_CONDITIONS: dict[BccAlarm1, PumpCondition] = {
    BccAlarm1.CALIBRATION_DATA_CORRUPT: PumpCondition.PUMP_FAULT,
    BccAlarm1.BATTERY_ALARM: PumpCondition.BATTERY_EMPTY,
    BccAlarm1.THERAPY_DATA_CORRUPT: PumpCondition.PUMP_FAULT,
    BccAlarm1.SETTINGS_CORRUPT: PumpCondition.PUMP_FAULT,
    BccAlarm1.BATTERY_VOLTAGE_LOW: PumpCondition.BATTERY_LOW,
    BccAlarm1.BATTERY_NOT_IN_PUMP: PumpCondition.PUMP_FAULT,
    BccAlarm1.BATTERY_FLAT_AT_POWER_ON: PumpCondition.BATTERY_EMPTY,
    BccAlarm1.BATTERY_COVER_OPEN: PumpCondition.PUMP_FAULT,
    BccAlarm1.SYRINGE_EMPTY: PumpCondition.CONTAINER_EMPTY,
    BccAlarm1.PRESSURE_TOO_HIGH: PumpCondition.OCCLUSION,
    BccAlarm1.PRESSURE_TOO_HIGH_DRIVE_BLOCKED: PumpCondition.OCCLUSION,
    BccAlarm1.STANDBY_TIME_EXPIRED: PumpCondition.TIME_OVER,
    BccAlarm1.VOLUME_INFUSED: PumpCondition.END_OF_VOLUME,
    BccAlarm1.INFUSION_TIME_EXPIRED: PumpCondition.TIME_OVER,
    BccAlarm1.CLAW_MALFUNCTION: PumpCondition.PUMP_FAULT,
    BccAlarm1.PRESSURE_SENSOR_DEFECT: PumpCondition.PUMP_FAULT,
    BccAlarm1.SYRINGE_HOLDER_OPEN: PumpCondition.DOOR_OPEN,
    BccAlarm1.SYRINGE_INCORRECTLY_INSERTED: PumpCondition.PUMP_FAULT,
    BccAlarm1.KVO_END: PumpCondition.END_OF_VOLUME,
    BccAlarm1.PRESSURE_UPSTREAM: PumpCondition.OCCLUSION,
    BccAlarm1.DROP_ALARM: PumpCondition.DROP_ALARM,
    BccAlarm1.NO_DROPS: PumpCondition.DROP_ALARM,
    BccAlarm1.TOO_FEW_DROPS: PumpCondition.DROP_ALARM,
    BccAlarm1.TOO_MANY_DROPS: PumpCondition.DROP_ALARM,
    BccAlarm1.FREE_FLOW: PumpCondition.DROP_ALARM,
    BccAlarm1.DROP_SENSOR_REQUIRED: PumpCondition.DROP_ALARM,
    BccAlarm1.AIR_ALARM: PumpCondition.AIR_IN_LINE,
    BccAlarm1.AIR_BUBBLE_TOO_LARGE: PumpCondition.AIR_IN_LINE,
    BccAlarm1.AIR_RATE_EXCEEDED: PumpCondition.AIR_IN_LINE,
    BccAlarm1.AIR_SENSOR_FAULT: PumpCondition.PUMP_FAULT,
}
ALARM2_CONDITIONS: dict[BccAlarm2, PumpCondition] = {
    BccAlarm2.TIME_LIMIT_REACHED: PumpCondition.TIME_OVER,
    BccAlarm2.SGC_END_ALARM: PumpCondition.END_OF_VOLUME,
    BccAlarm2.TAKE_OVER_SYRINGE_END: PumpCondition.CONTAINER_EMPTY,
    BccAlarm2.TAKE_OVER_FAILED: PumpCondition.PUMP_FAULT,
    BccAlarm2.DANGER_OF_FREE_FLOW: PumpCondition.PUMP_FAULT,
    BccAlarm2.OCCLUSION_TEST_ERROR: PumpCondition.PUMP_FAULT,
    BccAlarm2.DOOR_OPENED_DURING_INFUSION: PumpCondition.DOOR_OPEN,
    BccAlarm2.SYRINGE_NOT_INSERTED_SECURELY: PumpCondition.PUMP_FAULT,
}
PREALARM_CONDITIONS: dict[BccPreAlarm, PumpCondition] = {
    BccPreAlarm.SYRINGE_EMPTY: PumpCondition.PRE_ALARM,
    BccPreAlarm.VOLUME_ALMOST_DELIVERED: PumpCondition.PRE_ALARM,
    BccPreAlarm.TIME_NEAR_END: PumpCondition.PRE_ALARM,
    BccPreAlarm.BATTERY_ALMOST_FLAT: PumpCondition.BATTERY_LOW,
}
#: Conditions that warn but do not stop the pump: they leave the state to the status flags.
ADVISORY = frozenset({PumpCondition.PRE_ALARM, PumpCondition.BATTERY_LOW})


def pump_conditions(status: BccPumpStatus) -> frozenset[PumpCondition]:
    found = {c for name, c in FLAG_CONDITIONS.items() if name in status.active}
    found |= {c for bit, c in ALARM1_CONDITIONS.items() if status.alarm1 & bit}
    found |= {c for bit, c in ALARM2_CONDITIONS.items() if status.alarm2 & bit}
    found |= {c for bit, c in PREALARM_CONDITIONS.items() if status.prealarm & bit}
    return frozenset(found)


def pump_state(status: BccPumpStatus, conditions: frozenset[PumpCondition]) -> PumpState:
    """Alarms first, then the INM status flags (or STATUS1 bits when only those are sent)."""
    bits = status.status1 if status.status1 is not None else BccStatus1(0)
    kvo = KVO in status.active or bool(bits & BccStatus1.KVO_ACTIVE)
    if PumpCondition.END_OF_VOLUME in conditions:
        return PumpState.KVO if kvo else PumpState.COMPLETE
    if conditions - ADVISORY:
        return PumpState.ALARM
    if PUMPING in status.active or bits & BccStatus1.INFUSING:
        return PumpState.KVO if kvo else PumpState.INFUSING
    if STANDBY in status.active or bits & BccStatus1.STANDBY:
        return PumpState.STANDBY
    if READY in status.active or bits & BccStatus1.READY_TO_START:
        return PumpState.PAUSED  # programmed and ready, not running
    if status.dsstatus is not None and status.dsstatus != DSSTATUS_ON:
        return PumpState.STANDBY  # TIS 3.4.2: DSSTATUS 00050 = pump off
    return PumpState.UNKNOWN


def pump_reading(source: str, status: BccPumpStatus, at: datetime) -> PumpReading:
    conditions = pump_conditions(status)
    concentration = None
    if status.concentration is not None:
        concentration = f"{status.concentration:g}"
        if status.concentration_unit:
            concentration += f" {status.concentration_unit}"
    return PumpReading(
        source=source,
        at=at,
        state=pump_state(status, conditions),
        channel=status.channel,
        rate_ml_h=status.rate_ml_h,
        volume_infused_ml=status.volume_infused_ml,
        vtbi_ml=status.vtbi_ml,
        time_remaining_s=status.time_remaining_s,
        drug=status.drug or status.drug_short,
        concentration=concentration,
        conditions=conditions,
    )


def removed_pump_reading(source: str, error: BccPumpError, at: datetime) -> PumpReading:
    """``GNERR`` on a slot (pump removed, TIS 3.2.6): the channel no longer reports."""
    return PumpReading(source=source, at=at, state=PumpState.UNKNOWN, channel=error.channel)


# --- the handler ----------------------------------------------------------------------------


class Phase(StrEnum):
    ALIVE = "alive"
    VERSION = "version"
    POLLING = "polling"


class BbraunBccHandler(DeviceHandler[BccBlock | BccResponse | CorruptBlock]):
    name: ClassVar[str] = "bbraun-bcc"
    serial: ClassVar[SerialSettings] = SerialSettings(9600, 8, "N", 1)
    stale_after: ClassVar[float] = 15.0
    codec: BbraunBccCodec

    def __init__(
        self,
        source: str,
        *,
        stuffing: bool = True,
        poll_interval: float = POLL_INTERVAL,
        response_timeout: float = RESPONSE_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.stuffing = stuffing
        self.poller = Poller(
            poll_interval=poll_interval,
            response_timeout=response_timeout,
            max_attempts=max_attempts,
            max_naks=MAX_NAKS,
        )
        super().__init__(source)
        self.phase = Phase.ALIVE
        self.bed_id: str | None = None
        self.version: str | None = None
        self._last_mem_get: float | None = None
        #: Diagnostics: GNERR answers from the rack.
        self.rack_errors = 0

    @property
    def timeouts(self) -> int:
        """Diagnostics: requests that went unanswered."""
        return self.poller.timeouts

    @property
    def naks_sent(self) -> int:
        """Diagnostics: NAKs sent for corrupt blocks."""
        return self.poller.naks_sent

    # -- DeviceHandler -------------------------------------------------------------------------

    def new_codec(self) -> BbraunBccCodec:
        return BbraunBccCodec(stuffing=self.stuffing)

    def on_open(self, mono: float, wall: datetime) -> HandlerOutput:
        out = super().on_open(mono, wall)  # a reopened port starts mid-block
        self.phase, self.bed_id = Phase.ALIVE, None
        self.poller.answered()
        self._send(ALIVE, mono, out)
        return out

    def on_event(
        self,
        event: BccBlock | BccResponse | CorruptBlock,
        mono: float,
        wall: datetime,
        out: HandlerOutput,
    ) -> None:
        if isinstance(event, CorruptBlock):
            out.rejected.append(f"corrupt block: {event.reason}")
            if self.poller.nak(mono):
                out.writes.append(NAK_BYTE)  # TIS 3.2.3: the device sends the same block again
        elif isinstance(event, BccBlock):
            out.frames_ok += 1
            out.writes.append(ACK_BYTE)  # TIS 3.2.3: every good block is acknowledged
            out.problems += [f"record dropped: {p}" for p in event.problems]
            self.poller.progress(mono)
        else:
            self._on_response(event, mono, wall, out)

    def on_tick(self, mono: float, wall: datetime) -> HandlerOutput:
        out = HandlerOutput()
        expired = self.poller.expired(mono)
        if expired is not None:
            self._expire(expired, mono, out)
        elif self.poller.due(mono):
            if self.phase is Phase.POLLING:
                self._send(MEM_GET, mono, out)
            elif self.phase is Phase.ALIVE:
                self._send(ALIVE, mono, out)
            else:
                self._send(VERSION, mono, out)
        return out

    def next_deadline(self) -> float | None:
        return self.poller.next_deadline()

    # -- requests ------------------------------------------------------------------------------

    def _send(self, command: str, mono: float, out: HandlerOutput, attempts: int = 1) -> None:
        if command not in ALLOWED_COMMANDS:  # read-only by design, checked at the last moment
            raise DriverUsageError(f"{command!r} is not a read-only BCC request")
        if command == MEM_GET and self._last_mem_get is not None:
            earliest = self._last_mem_get + self.poller.poll_interval
            if mono < earliest:  # never poll faster than poll_interval, re-sends included
                self.poller.next_request = earliest
                return
        bed = DEFAULT_BED_ID if command == ALIVE or self.bed_id is None else self.bed_id
        data = encode_block(bed, command, stuffing=self.stuffing)
        self.codec.reset_response()  # TIS 3.2.3: a new request restarts at the first block
        out.writes.append(data)
        floor = -math.inf
        if command == MEM_GET:
            self._last_mem_get = mono
            self.poller.next_request = mono + self.poller.poll_interval
            floor = mono + self.poller.poll_interval  # a re-sent MEM:GET is a poll too
        self.poller.sent(command, mono, attempts=attempts, floor=floor)

    def _expire(self, request: Request, mono: float, out: HandlerOutput) -> None:
        if self.poller.can_retry(request):
            self._send(request.command, mono, out, request.attempts + 1)
            if self.poller.pending is None:  # MEM:GET held back by the poll interval
                request.deadline = self.poller.next_request
                self.poller.pending = request
            return
        if self.phase is not Phase.POLLING:
            self.phase = Phase.ALIVE  # start the handshake again, one poll interval later
            self.poller.next_request = mono + self.poller.poll_interval

    # -- responses -------------------------------------------------------------------------

    def _on_response(
        self, response: BccResponse, mono: float, wall: datetime, out: HandlerOutput
    ) -> None:
        content = decode_content(response.records)
        out.problems += [f"response: {p}" for p in content.problems]
        pending = self.poller.pending
        if content.alive:
            if self.phase is Phase.ALIVE:
                self.bed_id = response.bed_id  # TIS 3.2.4: the real bedId, used from now on
                self.poller.answered()
                self.phase = Phase.VERSION
                self._send(VERSION, mono, out)
            return
        if content.version is not None:
            self.version = content.version
            if self.phase is Phase.VERSION:
                self.poller.answered()
                self.phase = Phase.POLLING
                self._send(MEM_GET, mono, out)
            return
        if content.rack_error is not None:
            self.rack_errors += 1
            if pending is not None and pending.command == MEM_GET:
                self.poller.answered()
                if content.rack_error != NO_PUMPS:  # e.g. a new bedId after a SpaceCom restart
                    self.phase = Phase.ALIVE
                    self.poller.next_request = mono
            elif pending is not None:
                self.poller.answered()
                self.phase = Phase.ALIVE
                self.poller.next_request = mono + self.poller.poll_interval
            return
        if pending is not None and pending.command == MEM_GET:
            self.poller.answered()
        for status in content.pumps:
            out.readings.append(pump_reading(self.source, status, wall))
            out.problems += [f"{status.channel}: {p}" for p in status.problems]
        for error in content.pump_errors:
            out.readings.append(removed_pump_reading(self.source, error, wall))
