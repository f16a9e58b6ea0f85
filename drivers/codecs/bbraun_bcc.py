"""B. Braun Space "BCC" protocol (SpaceCom / SpaceStation with Perfusor and Infusomat Space).

Authority: B. Braun *Technical Interface Specification BCC* I0022_000030 v4.0 ("TIS" below, section
numbers as summarised in /work/shared/reference/protocols.md §4.1 and §9); facts cross-checked with
mindleaving/patient-monitor-datalogger ``BBraun/`` (MIT) and KaiWU17TUM/icu_devices
``bbraun_const.h`` (MIT). Everything Vigil implements is described in docs/protocols/bbraun-bcc.md.

A block on the wire (TIS 3.2.3), before character stuffing::

    SOH  LLLLL  STX  <bedId>/1/1>  <message>  ETX|ETB  CCCCC  EOT

* ``LLLLL``: the length of the whole block SOH..EOT, 5 ASCII digits;
* ``CCCCC``: the sum of all bytes SOH..ETX/ETB inclusive, mod 256, as 5 ASCII digits;
* ``ETB`` ends a block after which more blocks of the same response follow, ``ETX`` the last one;
* optional character stuffing (TIS 3.2.3.1): ``D``→``EX``, ``E``→``EE``, ``d``→``ex``,
  ``e``→``ee``, applied to the complete block *after* the checksum is computed; length and check
  refer to the unstuffed block; destuffing scans left to right. On by default (a per-site setting).

The published vector ``<SOH>00031<STX>1/1/1>ADMIN:ALIVE<ETX>00061<EOT>`` is the *unstuffed* block:
it contains a bare ``D`` and ``E``, which can never appear on a stuffed line. With stuffing on the
same request travels as ``...1/1/1>AEXMIN:ALIVEE<ETX>00061<EOT>`` (33 bytes on the wire, length
field still 31, check still 61). mindleaving's tests pin exactly this pair.

The host answers every received block with ACK (0x06) or NAK (0x15, the device then sends the
same block again). A response body is a list of ``reltime,address,PARAMETER,value`` quadruples
separated by RS (0x1E) (TIS 3.2.5.3).

Faults a real line produces, each handled and tested: bytes outside a block (rejected as one
run), a block cut short by a new SOH (rejected), a block that never ends (rejected once it exceeds
``MAX_WIRE_BLOCK``), a complete block with a wrong length, checksum, stuffing or structure
(``CorruptBlock``: the host must NAK it), a response whose blocks come from different beds.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntFlag

from drivers.codecs.base import FrameRejected, preview
from drivers.codecs.framebuffer import FrameBuffer
from drivers.errors import DriverUsageError, ProtocolError

SOH = 0x01
STX = 0x02
ETX = 0x03
EOT = 0x04
ACK = 0x06
NAK = 0x15
ETB = 0x17
RS = 0x1E

ACK_BYTE = bytes([ACK])
NAK_BYTE = bytes([NAK])

#: Largest unstuffed block Vigil accepts. Real MEM:GET blocks carry one pump each and are about
#: 1.1 kB (mindleaving's captures); the 5-digit length field would allow 99999.
MAX_BLOCK = 8192
#: Stuffing at most doubles a block.
MAX_WIRE_BLOCK = 2 * MAX_BLOCK
#: A rack holds at most 3 pillars x 24 slots; one block per pump plus margin (TIS 3.2.6).
MAX_PARTS = 80

#: TIS 3.2.4: ``ADMIN:ALIVE`` is sent to the default bed ``1`` (``1/1/1>``).
DEFAULT_BED_ID = "1"
#: TIS 3.2.4: the bedId is always followed by ``/1/1>``.
BED_SUFFIX = "/1/1"
RACK_ADDRESS = "50100"
NO_VALUE = "_NV"

_BED_ID = re.compile(r"[\x2f-\x39\x41-\x7a]{1,15}")  # TIS 3.2.4: ASCII 47-57, 65-122
_DIGITS5 = re.compile(rb"[0-9]{5}")
_STUFFED = re.compile(rb"(?:[^DEde]|E[EX]|e[ex])*")
_STUFF_PAIR = re.compile(rb"E[EX]|e[ex]")
_DESTUFF = {b"EE": b"E", b"EX": b"D", b"ee": b"e", b"ex": b"d"}
_RELTIME = re.compile(r"[0-9]{1,10}")
# TIS 3.2.5.3: 501<pillar><slot>, slot 1-9 then A-O; BCC 3.30 may send two-digit slots (501110).
_ADDRESS = re.compile(r"501([0-9])([0-9A-O]|[0-9]{2})")
_PARAMETER = re.compile(r"[A-Za-z0-9_.#]{1,32}")
_NUMBER = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,4})?")
_INTEGER = re.compile(r"[0-9]{1,10}")
_SLOT_CHARS = "0123456789ABCDEFGHIJKLMNO"


# --- stuffing and checksums ----------------------------------------------------------------


def stuff(data: bytes) -> bytes:
    """Apply TIS 3.2.3.1 stuffing. ``E`` goes first so that the ``E`` of ``EX`` stays single."""
    return data.replace(b"E", b"EE").replace(b"D", b"EX").replace(b"e", b"ee").replace(b"d", b"ex")


def destuff(data: bytes) -> bytes:
    """Undo stuffing, left to right. Raises ``ProtocolError`` on a bare D/d or a broken pair."""
    if _STUFFED.fullmatch(data) is None:
        raise ProtocolError(
            "bare D/E/d/e in a stuffed block (is character stuffing off at the device?)"
        )
    return _STUFF_PAIR.sub(lambda m: _DESTUFF[m.group()], data)


def checksum(data: bytes) -> int:
    """TIS 3.2.3: the sum of all bytes SOH..ETX/ETB inclusive, mod 256."""
    return sum(data) % 256


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BccRecord:
    """One ``reltime,address,PARAMETER,value`` quadruple. ``value`` is None for ``_NV`` and for
    the three-field records the device uses for ``ADMIN:VERSION`` (``t,50100,V3.30``)."""

    reltime: int
    address: str
    parameter: str
    value: str | None


@dataclass(frozen=True, slots=True)
class BccBlock:
    """A block that passed every check. The host must ACK it."""

    bed_id: str
    final: bool
    records: tuple[BccRecord, ...]
    #: Records of this block that were malformed and dropped (the block itself was sound).
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BccResponse:
    """A complete response: every block up to the one ending in ETX, reassembled."""

    bed_id: str
    records: tuple[BccRecord, ...]
    blocks: int


@dataclass(frozen=True, slots=True)
class CorruptBlock:
    """A complete SOH..EOT block that failed a check. The host must NAK it (TIS 3.2.3)."""

    reason: str
    data: bytes = b""


BccEvent = BccBlock | BccResponse | CorruptBlock | FrameRejected


# --- encoders (everything the driver sends) -----------------------------------------------


def encode_block(bed_id: str, message: str, *, final: bool = True, stuffing: bool = True) -> bytes:
    """One block to ``bed_id`` carrying ``message``; length and check over the unstuffed block."""
    if _BED_ID.fullmatch(bed_id) is None:
        raise DriverUsageError(f"bedId {bed_id!r} is not 1-15 characters of ASCII 47-57/65-122")
    try:
        body = f"{bed_id}{BED_SUFFIX}>{message}".encode("ascii")
    except UnicodeEncodeError:
        raise DriverUsageError(f"BCC message {message!r} is not ASCII") from None
    if any(b < 0x20 and b != RS for b in body):
        raise DriverUsageError(f"BCC message {message!r} contains a control character")
    length = 1 + 5 + 1 + len(body) + 1 + 5 + 1
    if length > MAX_BLOCK:
        raise DriverUsageError(f"BCC block of {length} bytes exceeds {MAX_BLOCK}")
    head = bytes([SOH]) + f"{length:05d}".encode() + bytes([STX]) + body
    head += bytes([ETX if final else ETB])
    block = head + f"{checksum(head):05d}".encode() + bytes([EOT])
    return stuff(block) if stuffing else block


def encode_alive(*, stuffing: bool = True) -> bytes:
    """``ADMIN:ALIVE`` to the default bed ``1/1/1>`` (TIS 3.2.4, 3.2.6)."""
    return encode_block(DEFAULT_BED_ID, "ADMIN:ALIVE", stuffing=stuffing)


def encode_version(bed_id: str, *, stuffing: bool = True) -> bytes:
    return encode_block(bed_id, "ADMIN:VERSION", stuffing=stuffing)


def encode_mem_get(bed_id: str, *, stuffing: bool = True) -> bytes:
    """All values of all pumps (TIS 3.2.6). Poll no faster than every 5 s."""
    return encode_block(bed_id, "MEM:GET", stuffing=stuffing)


def encode_mem_getslot(bed_id: str, pillar: int, slot: int, *, stuffing: bool = True) -> bytes:
    """One pump: pillar 1-9, slot 1-24 (sent as 1-9 then A-O)."""
    if not 1 <= pillar <= 9 or not 1 <= slot < len(_SLOT_CHARS):
        raise DriverUsageError(f"no BCC slot at pillar {pillar}, slot {slot}")
    return encode_block(bed_id, f"MEM:GETSLOT#{pillar}{_SLOT_CHARS[slot]}", stuffing=stuffing)


def encode_ack() -> bytes:
    return ACK_BYTE


def encode_nak() -> bytes:
    return NAK_BYTE


# --- strict decoding ----------------------------------------------------------------------


def channel_of(address: str) -> str | None:
    """``"1A"`` for ``5011A`` or ``501110`` (pillar 1, slot 10); None for the rack or junk."""
    match = _ADDRESS.fullmatch(address)
    if match is None:
        return None
    pillar, slot_text = match[1], match[2]
    slot = int(slot_text) if len(slot_text) == 2 else _SLOT_CHARS.index(slot_text)
    if pillar == "0" or not 1 <= slot < len(_SLOT_CHARS):
        return None
    return f"{pillar}{_SLOT_CHARS[slot]}"


def parse_records(message: bytes) -> tuple[tuple[BccRecord, ...], tuple[str, ...]]:
    """Split a response body into quadruples; malformed records are dropped with a note."""
    if not message:
        return (), ()
    records: list[BccRecord] = []
    problems: list[str] = []
    for raw in message.decode("latin-1").split("\x1e"):
        parts = raw.split(",", 3)
        if len(parts) < 3:
            problems.append(f"record {raw[:40]!r} has fewer than 3 fields")
            continue
        reltime, address, parameter = parts[0], parts[1], parts[2]
        if _RELTIME.fullmatch(reltime) is None:
            problems.append(f"record {raw[:40]!r}: time is not a number")
            continue
        if address != RACK_ADDRESS and channel_of(address) is None:
            problems.append(f"record {raw[:40]!r}: {address!r} is not a BCC address")
            continue
        if _PARAMETER.fullmatch(parameter) is None:
            problems.append(f"record {raw[:40]!r}: bad parameter name")
            continue
        value = parts[3] if len(parts) == 4 else None
        if value == NO_VALUE:
            value = None
        records.append(BccRecord(int(reltime), address, parameter, value))
    return tuple(records), tuple(problems)


def decode_block(frame: bytes, *, stuffing: bool = True) -> BccBlock:
    """Decode one SOH..EOT block as it came off the line. Raises ``ProtocolError``."""
    if len(frame) < 2 or frame[0] != SOH or frame[-1] != EOT:
        raise ProtocolError("block does not run from SOH to EOT")
    block = destuff(frame) if stuffing else frame
    if len(block) < 21:
        raise ProtocolError(f"block of {len(block)} bytes is too short")
    if _DIGITS5.fullmatch(block[1:6]) is None:
        raise ProtocolError("length field is not 5 digits")
    declared = int(block[1:6])
    if declared != len(block):
        hint = "" if stuffing else " (character stuffing on at the device?)"
        raise ProtocolError(f"length field says {declared}, block has {len(block)}{hint}")
    if block[6] != STX:
        raise ProtocolError("no STX after the length field")
    if block[-7] not in (ETX, ETB):
        raise ProtocolError("no ETX/ETB before the checksum")
    if _DIGITS5.fullmatch(block[-6:-1]) is None:
        raise ProtocolError("checksum field is not 5 digits")
    expected = checksum(block[:-6])
    if int(block[-6:-1]) != expected:
        raise ProtocolError(f"checksum {int(block[-6:-1])} != computed {expected}")
    body = block[7:-7]
    gt = body.find(b">")
    if gt < 0:
        raise ProtocolError("no '>' after the bedId")
    address = body[:gt].decode("latin-1")
    bed_id = address.removesuffix(BED_SUFFIX)
    if bed_id == address or _BED_ID.fullmatch(bed_id) is None:
        raise ProtocolError(f"bad bed address {address[:20]!r}")
    message = body[gt + 1 :]
    if any(b < 0x20 and b != RS for b in message):
        raise ProtocolError("control character inside the message")
    records, problems = parse_records(message)
    return BccBlock(bed_id, block[-7] == ETX, records, problems)


# --- streaming ------------------------------------------------------------------------------


class BbraunBccCodec:
    """Streaming decoder for device-to-host blocks: feed bytes in any chunking, read events."""

    def __init__(self, *, stuffing: bool = True) -> None:
        self.stuffing = stuffing
        # Past MAX_WIRE_BLOCK unconsumed: rejected and dropped; what follows is parsed afresh.
        self._buffer = FrameBuffer(MAX_WIRE_BLOCK, unit="block", hunt=False)
        self._events: deque[BccEvent] = deque()
        self._parts: list[BccBlock] = []

    def receive(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while buffer.pos < len(buffer):
            start = buffer.find(SOH, buffer.pos)
            if start < 0:
                break  # bytes outside a block wait for the next block to start (up to the cap)
            if start > buffer.pos:
                self._reject("bytes outside a block", buffer.take(start))
            end = buffer.find(EOT, start + 1)
            restart = buffer.find(SOH, start + 1)
            if restart >= 0 and (end < 0 or restart < end):
                self._reject("block cut short by a new SOH", buffer.take(restart))
                continue
            if end < 0:
                break
            self._block(buffer.take(end + 1))
        dropped = buffer.commit()
        if dropped is not None:
            reason = buffer.too_long if dropped[0] == SOH else "bytes outside a block"
            self._reject(reason, dropped)

    def reset_response(self) -> None:
        """Forget blocks of an unfinished response: a new request restarts at the first block."""
        self._parts.clear()

    def events(self) -> Iterator[BccEvent]:
        while self._events:
            yield self._events.popleft()

    def _reject(self, reason: str, data: bytes) -> None:
        self._events.append(FrameRejected(reason, preview(data)))

    def _block(self, frame: bytes) -> None:
        if len(frame) > MAX_WIRE_BLOCK:
            self._events.append(CorruptBlock(f"block longer than {MAX_WIRE_BLOCK}", preview(frame)))
            return
        try:
            block = decode_block(frame, stuffing=self.stuffing)
        except ProtocolError as exc:
            self._events.append(CorruptBlock(str(exc), preview(frame)))
            return
        self._events.append(block)
        if self._parts and self._parts[0].bed_id != block.bed_id:
            self._reject("response blocks from different beds; earlier blocks dropped", b"")
            self._parts.clear()
        self._parts.append(block)
        if len(self._parts) > MAX_PARTS:
            self._reject(f"response of more than {MAX_PARTS} blocks dropped", b"")
            self._parts.clear()
            return
        if block.final:
            records = tuple(r for part in self._parts for r in part.records)
            self._events.append(BccResponse(block.bed_id, records, len(self._parts)))
            self._parts.clear()


# --- response content -------------------------------------------------------------------------


class BccAlarm1(IntFlag):
    """``ALARM1`` bits (mindleaving ``BBraun/Models/PumpAlarm1.cs``)."""

    NO_ALARM = 1 << 0
    CALIBRATION_DATA_CORRUPT = 1 << 1
    BATTERY_ALARM = 1 << 2
    THERAPY_DATA_CORRUPT = 1 << 3
    SETTINGS_CORRUPT = 1 << 4
    BATTERY_VOLTAGE_LOW = 1 << 5
    BATTERY_NOT_IN_PUMP = 1 << 6
    BATTERY_FLAT_AT_POWER_ON = 1 << 7
    BATTERY_COVER_OPEN = 1 << 8
    SYRINGE_EMPTY = 1 << 9
    PRESSURE_TOO_HIGH = 1 << 10
    PRESSURE_TOO_HIGH_DRIVE_BLOCKED = 1 << 11
    STANDBY_TIME_EXPIRED = 1 << 12
    VOLUME_INFUSED = 1 << 13
    INFUSION_TIME_EXPIRED = 1 << 14
    CLAW_MALFUNCTION = 1 << 15
    PRESSURE_SENSOR_DEFECT = 1 << 16
    SYRINGE_HOLDER_OPEN = 1 << 17
    SYRINGE_INCORRECTLY_INSERTED = 1 << 18
    KVO_END = 1 << 19
    PRESSURE_UPSTREAM = 1 << 20
    DROP_ALARM = 1 << 22
    NO_DROPS = 1 << 23
    TOO_FEW_DROPS = 1 << 24
    TOO_MANY_DROPS = 1 << 25
    FREE_FLOW = 1 << 26
    DROP_SENSOR_REQUIRED = 1 << 27
    AIR_ALARM = 1 << 28
    AIR_BUBBLE_TOO_LARGE = 1 << 29
    AIR_RATE_EXCEEDED = 1 << 30
    AIR_SENSOR_FAULT = 1 << 31


class BccAlarm2(IntFlag):
    """``ALARM2`` bits (mindleaving ``PumpAlarm2.cs``)."""

    UNAUTHORIZED_MANIPULATION = 1 << 1
    TIME_LIMIT_REACHED = 1 << 2
    SGC_END_ALARM = 1 << 3
    TAKE_OVER_SYRINGE_END = 1 << 4
    TAKE_OVER_FAILED = 1 << 5
    DANGER_OF_FREE_FLOW = 1 << 7
    OCCLUSION_TEST_ERROR = 1 << 29
    DOOR_OPENED_DURING_INFUSION = 1 << 30
    SYRINGE_NOT_INSERTED_SECURELY = 1 << 31


class BccStatus1(IntFlag):
    """``STATUS1`` bits (mindleaving ``PumpStatus.cs``)."""

    SWITCHED_ON = 1 << 0
    MAINS_POWER = 1 << 1
    STANDBY = 1 << 2
    READY_TO_START = 1 << 6
    INFUSING = 1 << 7
    THERAPY_STARTED = 1 << 8
    KVO_ACTIVE = 1 << 13


class BccPreAlarm(IntFlag):
    """``PREALARM`` bits (mindleaving ``PreAlarmReason.cs``)."""

    SYRINGE_EMPTY = 1 << 1
    VOLUME_ALMOST_DELIVERED = 1 << 2
    TIME_NEAR_END = 1 << 3
    BATTERY_ALMOST_FLAT = 1 << 4
    KVO_OPERATION = 1 << 5


_NO_ALARM1 = BccAlarm1(0)
_NO_ALARM2 = BccAlarm2(0)
_NO_PREALARM = BccPreAlarm(0)

#: Concentration unit codes of ``INDCONU`` (mindleaving ``BBraun/Models/BBraunUnitMap.cs``).
CONCENTRATION_UNITS: dict[int, str] = {
    30: "ng/mL",
    31: "mg/mL",
    32: "µg/mL",
    33: "g/mL",
    34: "mmol/mL",
    35: "mEq/mL",
    36: "IU/mL",
    118: "mIU/mL",
    131: "kIU/mL",
    138: "MIU/mL",
    150: "kcal/mL",
    154: "mL/mL",
}

#: TIS 3.4.2 ranges; values outside are corrupt and dropped.
RANGES: dict[str, tuple[float, float]] = {
    "INRT": (0.0, 1800.0),
    "INVI": (0.0, 9999.9),
    "INVTB": (0.0, 9999.9),
    "INRMT": (0.0, 65535.0),
    "INDCON": (0.0, 99999.0),
}
#: ASSUMPTION (docs/protocols/bbraun-bcc.md): INRMT 65535 means "no end time" (pumps without a
#: VTBI report it in the published captures), not 18 h.
INRMT_NONE = 65535
#: TIS 3.4.2: INSOL at most 25 characters, INSOLSN at most 8.
TEXT_LIMITS = {"INSOL": 25, "INSOLSN": 8}
#: The boolean status (INMn) and alarm (INAn) parameters: "1" active, "0" not, "_NV" unknown.
FLAG = re.compile(r"IN[MA][0-9]{1,2}")
#: ASSUMPTION: the bitfield parameters are unsigned decimal integers, like DSSTATUS.
BITFIELDS = ("ALARM1", "ALARM2", "STATUS1", "STATUS2", "PREALARM")
DSSTATUS_ON = 51  # TIS 3.4.2: 00050 off, 00051 on


@dataclass(frozen=True, slots=True)
class BccPumpStatus:
    """Everything Vigil uses from one pump's quadruples; None means no (valid) value."""

    address: str
    channel: str
    rate_ml_h: float | None = None
    volume_infused_ml: float | None = None
    vtbi_ml: float | None = None
    time_remaining_s: float | None = None
    drug: str | None = None
    drug_short: str | None = None
    concentration: float | None = None
    concentration_unit: str | None = None
    #: INMn/INAn parameters whose value is "1".
    active: frozenset[str] = frozenset()
    alarm1: BccAlarm1 = _NO_ALARM1
    alarm2: BccAlarm2 = _NO_ALARM2
    status1: BccStatus1 | None = None
    prealarm: BccPreAlarm = _NO_PREALARM
    dsstatus: int | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BccPumpError:
    """``t,501xy,GNERR,code``: e.g. 39 pump removed, 811 wrong pump address (TIS 3.2.6)."""

    address: str
    channel: str
    code: str | None


@dataclass(frozen=True, slots=True)
class BccContent:
    """What one response says."""

    pumps: tuple[BccPumpStatus, ...] = ()
    pump_errors: tuple[BccPumpError, ...] = ()
    #: ``t,50100,GNACK,0``: the answer to ADMIN:ALIVE.
    alive: bool = False
    #: ``t,50100,V3.30``: the answer to ADMIN:VERSION.
    version: str | None = None
    #: ``t,50100,GNERR,code``: the request was refused (syntax, checksum, wrong bedId).
    rack_error: str | None = None
    problems: tuple[str, ...] = ()


def _number(name: str, raw: str | None, problems: list[str]) -> float | None:
    if raw is None:
        return None
    if _NUMBER.fullmatch(raw) is None:
        problems.append(f"{name}={raw[:20]!r}: not a number")
        return None
    value = float(raw)
    low, high = RANGES[name]
    if not low <= value <= high:
        problems.append(f"{name}={raw}: outside {low:g}..{high:g}")
        return None
    return value


def _integer(name: str, raw: str | None, problems: list[str]) -> int | None:
    if raw is None:
        return None
    if _INTEGER.fullmatch(raw) is None or int(raw) > 0xFFFFFFFF:
        problems.append(f"{name}={raw[:20]!r}: not an unsigned 32-bit integer")
        return None
    return int(raw)


def _text(name: str, raw: str | None, problems: list[str]) -> str | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not text.isprintable() or len(text) > TEXT_LIMITS[name]:
        problems.append(f"{name}: not at most {TEXT_LIMITS[name]} printable characters")
        return None
    return text


def _pump(address: str, channel: str, values: dict[str, str | None]) -> BccPumpStatus:
    problems: list[str] = []
    remaining = _number("INRMT", values.get("INRMT"), problems)
    concentration = _number("INDCON", values.get("INDCON"), problems)
    unit_code = _integer("INDCONU", values.get("INDCONU"), problems)
    active: set[str] = set()
    for name, raw in values.items():
        if FLAG.fullmatch(name) is None or raw is None:
            continue
        if raw == "1":
            active.add(name)
        elif raw != "0":
            problems.append(f"{name}={raw[:20]!r}: not 0 or 1")
    bits = {name: _integer(name, values.get(name), problems) for name in BITFIELDS}
    status1 = bits["STATUS1"]
    return BccPumpStatus(
        address=address,
        channel=channel,
        rate_ml_h=_number("INRT", values.get("INRT"), problems),
        volume_infused_ml=_number("INVI", values.get("INVI"), problems),
        vtbi_ml=_number("INVTB", values.get("INVTB"), problems),
        time_remaining_s=None if remaining in (None, INRMT_NONE) else remaining,
        drug=_text("INSOL", values.get("INSOL"), problems),
        drug_short=_text("INSOLSN", values.get("INSOLSN"), problems),
        concentration=concentration or None,
        concentration_unit=None if unit_code is None else CONCENTRATION_UNITS.get(unit_code),
        active=frozenset(active),
        alarm1=BccAlarm1(bits["ALARM1"] or 0),
        alarm2=BccAlarm2(bits["ALARM2"] or 0),
        status1=None if status1 is None else BccStatus1(status1),
        prealarm=BccPreAlarm(bits["PREALARM"] or 0),
        dsstatus=_integer("DSSTATUS", values.get("DSSTATUS"), problems),
        problems=tuple(problems),
    )


def decode_content(records: Iterable[BccRecord]) -> BccContent:
    """Group a response's quadruples by pump and decode the values Vigil uses."""
    by_pump: dict[str, dict[str, str | None]] = {}
    errors: list[BccPumpError] = []
    problems: list[str] = []
    alive = False
    version: str | None = None
    rack_error: str | None = None
    for record in records:
        if record.address == RACK_ADDRESS:
            if record.parameter == "GNACK":
                alive = True
            elif record.parameter == "GNERR":
                rack_error = record.value or "?"
            elif record.parameter.startswith("V") and record.value is None:
                version = record.parameter
            continue
        channel = channel_of(record.address)
        if channel is None:  # parse_records already filters these; be defensive
            problems.append(f"record for unknown address {record.address!r}")
            continue
        if record.parameter == "GNERR":
            errors.append(BccPumpError(record.address, channel, record.value))
            continue
        values = by_pump.setdefault(record.address, {})
        if record.parameter in values:
            problems.append(f"{record.address} {record.parameter} appears twice; last kept")
        values[record.parameter] = record.value
    pumps = []
    for address, values in by_pump.items():
        channel = channel_of(address)
        assert channel is not None
        pumps.append(_pump(address, channel, values))
    return BccContent(
        pumps=tuple(pumps),
        pump_errors=tuple(errors),
        alive=alive,
        version=version,
        rack_error=rack_error,
        problems=tuple(problems),
    )
