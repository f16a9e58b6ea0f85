"""GE Datex-Ohmeda S/5 / CARESCAPE "DRI" computer interface (docs/protocols/ge-dri.md).

Sources: GE *S/5 Computer Interface Specification* M1017617 and *S/5 DRI Specification* 8005313
(PDFs in KaiWU17TUM/icu_devices), as summarised in the team's reference/protocols.md §2 and §9,
and checked against real CARESCAPE B650 captures (UN-GCPDS/python-pycollect, BSD-2-Clause).

Wire format (19200 8E1, RTS/CTS)::

    7E  escaped( record  checksum )  7E

* inside a frame 7E is sent as 7D 5E and 7D as 7D 5D (XOR 0x20); nothing else is escaped;
* the checksum is the sum of the *unescaped* record bytes mod 256 (it may itself be escaped);
* a record is a 40-byte little-endian header (``r_len`` at 0 counts header + data, without
  flags and checksum; ``r_time`` at 6; ``r_maintype`` at 14; eight subrecord descriptors
  {offset u16 from byte 40, type u8} at 16, type 0xFF ending the list) followed by subrecords.

Every 7E is a delimiter: frames are the non-empty stretches between two of them, so the codec
resynchronises by itself. Faults a real cable produces, each handled and tested: garbage between
frames, a start in the middle of a frame, bit errors (checksum), a truncated or merged frame
(``r_len`` check), invalid escapes, a frame that never ends (rejected past ``MAX_WIRE_FRAME``, the
rest is dropped up to the next flag). None of them raises: each becomes a ``FrameRejected``.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from drivers.codecs.base import FrameRejected, preview
from drivers.codecs.framebuffer import FrameBuffer
from drivers.errors import DriverUsageError, ProtocolError

FLAG = 0x7E
ESCAPE = 0x7D
_ESCAPED_FLAG = b"\x7d\x5e"
_ESCAPED_ESCAPE = b"\x7d\x5d"

HEADER_LEN = 40
MAX_RECORD = HEADER_LEN + 1450  # datex.h ``datex_record``: header + at most 1450 data bytes
#: The longest a frame can be on the wire between its flags: every byte escaped.
MAX_WIRE_FRAME = 2 * (MAX_RECORD + 1)
MAX_SUBRECORDS = 8
END_OF_SUBRECORDS = 0xFF  # DRI_EOL_SUBR_LIST

#: Values at or below this are markers, never measurements (pycollect dataconstants.py,
#: VSCapture Class2.cs): DATA_INVALID -32767, NOT_UPDATED -32766, DISCONT -32765,
#: UNDER_RANGE -32764, OVER_RANGE -32763, NOT_CALIBRATED -32762.
DATA_INVALID_LIMIT = -32001


class MainType(IntEnum):
    """``r_maintype`` (header offset 14)."""

    PHDB = 0  # physiological database (and its transmission requests)
    WAVE = 1
    ALARM = 4
    NETWORK = 5


class PhdbSubtype(IntEnum):
    """PHDB subrecord types (``sr_type``; also bits 0-3 of ``cl_drilvl_subt``)."""

    XMIT_REQUEST = 0  # DRI_PH_XMIT_REQ, sent by the host
    DISPLAY = 1  # DRI_PH_DISPL, current values
    TREND_10S = 2
    TREND_60S = 3
    AUX_INFO = 4


class PhdbClass(IntEnum):
    """Bits 8-11 of ``cl_drilvl_subt``: which of the four 270-byte class layouts follows."""

    BASIC = 0
    EXT1 = 1
    EXT2 = 2
    EXT3 = 3


class ClassRequest(IntFlag):
    """``phdb_class_bf`` of a request. Basic is always sent unless denied."""

    DENY_BASIC = 0x1
    EXT1 = 0x2
    EXT2 = 0x4
    EXT3 = 0x8


ALL_CLASSES = ClassRequest.EXT1 | ClassRequest.EXT2 | ClassRequest.EXT3


class NibpLabel(IntFlag):
    """NIBP ``group_hdr.label`` bits (pycollect measures.py); bits 0-2 are the cuff type."""

    AUTO = 1 << 3
    STAT = 1 << 4
    MEASURING = 1 << 5
    STASIS = 1 << 6
    CALIBRATING = 1 << 7
    #: The values are from a measurement more than 60 s ago.
    OLDER_THAN_60S = 1 << 8


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordHeader:
    number: int  # r_nbr, wraps at 256
    dri_level: int
    plug_id: int
    time: int  # r_time: Unix seconds by the monitor's clock
    maintype: int


@dataclass(frozen=True, slots=True)
class Group:
    """A ``group_hdr``: status bit 0 = module exists, bit 1 = measurement active."""

    status: int
    label: int

    @property
    def exists(self) -> bool:
        return bool(self.status & 0x1)

    @property
    def active(self) -> bool:
        return bool(self.status & 0x2)


@dataclass(frozen=True, slots=True)
class BasicClass:
    """The basic class values Vigil uses, scaled to units; ``None`` = a marker (no value)."""

    ecg: Group
    hr: float | None  # /min, the monitor's selected HR source
    impedance_rr: float | None  # /min, from ECG impedance
    nibp: Group
    nibp_sys: float | None  # mmHg
    nibp_dia: float | None
    nibp_mean: float | None
    nibp_pulse: float | None  # /min
    temperatures: tuple[tuple[Group, float | None], ...]  # T1-T4, °C
    spo2_group: Group
    spo2: float | None  # %
    pulse_rate: float | None  # /min, from SpO2
    co2: Group
    etco2_percent: float | None
    fico2_percent: float | None
    resp_rate: float | None  # /min, the monitor's RR source (label bits 0-2)
    ambient_mmhg: float | None

    @property
    def etco2_mmhg(self) -> float | None:
        return _partial_pressure(self.etco2_percent, self.ambient_mmhg)

    @property
    def fico2_mmhg(self) -> float | None:
        return _partial_pressure(self.fico2_percent, self.ambient_mmhg)

    @property
    def nibp_flags(self) -> NibpLabel:
        return NibpLabel(self.nibp.label & 0x1F8)  # without the cuff type


def _partial_pressure(percent: float | None, ambient: float | None) -> float | None:
    # protocols.md §2: etCO2 mmHg = et% × Pamb / 100.
    if percent is None or ambient is None:
        return None
    return percent * ambient / 100


@dataclass(frozen=True, slots=True)
class PhdbSubrecord:
    time: int
    phdb_class: PhdbClass
    subtype: int
    dri_level: int
    #: Decoded only for the basic class; the extended classes are recognised and skipped.
    basic: BasicClass | None


@dataclass(frozen=True, slots=True)
class PhdbRecord:
    header: RecordHeader
    subrecords: tuple[PhdbSubrecord, ...]

    @property
    def basic(self) -> BasicClass | None:
        """The basic class of the display (current values) subrecord, if the record has one."""
        for sub in self.subrecords:
            if sub.basic is not None and sub.subtype == PhdbSubtype.DISPLAY:
                return sub.basic
        return None


@dataclass(frozen=True, slots=True)
class Waveform:
    wave_type: int  # DRI_WF_* (8 = PLETH, 9 = CO2, ...)
    status: int
    label: int
    samples: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WaveformRecord:
    header: RecordHeader
    waves: tuple[Waveform, ...]


@dataclass(frozen=True, slots=True)
class AlarmMessage:
    text: str
    priority: int  # dri_alarm_color: 0 none .. 3 high


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """The monitor's own alarm display (not used by Vigil's alarm engine)."""

    header: RecordHeader
    sound_on: bool
    silence_info: int
    messages: tuple[AlarmMessage, ...]


@dataclass(frozen=True, slots=True)
class OtherRecord:
    """A valid frame of a main type Vigil does not decode (network management, ...)."""

    header: RecordHeader
    subrecord_types: tuple[int, ...]


GeDriRecord = PhdbRecord | WaveformRecord | AlarmRecord | OtherRecord
GeDriEvent = GeDriRecord | FrameRejected


# --- decoding -------------------------------------------------------------------------------

_HEADER = struct.Struct("<HBBHI4xH")
_DESCRIPTOR = struct.Struct("<HB")
_PHDB_SUBRECORD_LEN = 4 + 270 + 4  # time, class block, marker, reserved, cl_drilvl_subt
_PHDB_TAIL = struct.Struct("<BBH")
_WAVE_HEADER = struct.Struct("<hHH")  # act_len (samples), status, label
_ALARM_MESSAGE_LEN = 80 + 2 + 2 + 2 + 12  # text, text_changed, color, color_changed, reserved
_ALARM_SUBRECORD_LEN = 10 + 5 * _ALARM_MESSAGE_LEN + 10
_ALARM_STATUS = 1  # DRI_AL_STATUS

# Offsets inside the basic class block (protocols.md §2 table; VSCapture Class2.cs and pycollect
# headers.py layout: ecg(16) p1-p4(4×14) nibp(14) t1-t4(4×8) SpO2(14) co2(14) ...).
_GROUP = struct.Struct("<IH")
_S16 = struct.Struct("<h")
_ECG, _NIBP, _SPO2, _CO2 = 0, 72, 118, 132
_TEMPS = (86, 94, 102, 110)


def _value(block: bytes, offset: int, divisor: float) -> float | None:
    raw: int = _S16.unpack_from(block, offset)[0]
    if raw <= DATA_INVALID_LIMIT:
        return None
    return raw / divisor


def _group(block: bytes, offset: int) -> Group:
    status, label = _GROUP.unpack_from(block, offset)
    return Group(status, label)


def decode_basic(block: bytes) -> BasicClass:
    """Decode a 270-byte basic class block (scales from pycollect measures.py)."""
    if len(block) < 270:
        raise ProtocolError(f"basic class block is {len(block)} bytes, not 270")
    return BasicClass(
        ecg=_group(block, _ECG),
        hr=_value(block, _ECG + 6, 1),
        impedance_rr=_value(block, _ECG + 14, 1),
        nibp=_group(block, _NIBP),
        nibp_sys=_value(block, _NIBP + 6, 100),
        nibp_dia=_value(block, _NIBP + 8, 100),
        nibp_mean=_value(block, _NIBP + 10, 100),
        nibp_pulse=_value(block, _NIBP + 12, 1),
        temperatures=tuple((_group(block, o), _value(block, o + 6, 100)) for o in _TEMPS),
        spo2_group=_group(block, _SPO2),
        spo2=_value(block, _SPO2 + 6, 100),
        pulse_rate=_value(block, _SPO2 + 8, 1),
        co2=_group(block, _CO2),
        etco2_percent=_value(block, _CO2 + 6, 100),
        fico2_percent=_value(block, _CO2 + 8, 100),
        resp_rate=_value(block, _CO2 + 10, 1),
        ambient_mmhg=_value(block, _CO2 + 12, 10),
    )


def _subrecords(record: bytes) -> list[tuple[int, int, int]]:
    """(type, start, end) of each subrecord; ``end`` is the next subrecord's start or the end."""
    found: list[tuple[int, int]] = []
    for index in range(MAX_SUBRECORDS):
        offset, sr_type = _DESCRIPTOR.unpack_from(record, 16 + 3 * index)
        if sr_type == END_OF_SUBRECORDS:
            break
        start = HEADER_LEN + offset
        if start >= len(record):
            raise ProtocolError(f"subrecord {index} starts at {start}, past the record end")
        found.append((sr_type, start))
    starts = [*sorted({start for _, start in found}), len(record)]
    return [(t, s, min(e for e in starts if e > s)) for t, s in found]


def _phdb(header: RecordHeader, record: bytes) -> PhdbRecord:
    subs: list[PhdbSubrecord] = []
    for sr_type, start, _ in _subrecords(record):
        if sr_type not in (PhdbSubtype.DISPLAY, PhdbSubtype.TREND_10S, PhdbSubtype.TREND_60S):
            continue  # requests and auxiliary info have other layouts
        end = start + _PHDB_SUBRECORD_LEN
        if end > len(record):
            raise ProtocolError(f"PHDB subrecord at {start} runs past the record end")
        (time,) = struct.unpack_from("<I", record, start)
        _marker, _reserved, cl_drilvl_subt = _PHDB_TAIL.unpack_from(record, end - 4)
        # protocols.md §2: the class is bits 8-11 of cl_drilvl_subt, never the position.
        class_bits = (cl_drilvl_subt >> 8) & 0xF
        if class_bits > PhdbClass.EXT3:
            continue  # a class of a later DRI level: recognised by its bits, skipped
        phdb_class = PhdbClass(class_bits)
        block = record[start + 4 : end - 4]
        basic = decode_basic(block) if phdb_class is PhdbClass.BASIC else None
        subs.append(
            PhdbSubrecord(
                time=time,
                phdb_class=phdb_class,
                subtype=cl_drilvl_subt & 0xF,
                dri_level=(cl_drilvl_subt >> 4) & 0xF,
                basic=basic,
            )
        )
    return PhdbRecord(header, tuple(subs))


def _waves(header: RecordHeader, record: bytes) -> WaveformRecord:
    waves: list[Waveform] = []
    for sr_type, start, end in _subrecords(record):
        if start + _WAVE_HEADER.size > end:
            raise ProtocolError(f"waveform subrecord at {start} is shorter than its header")
        count, status, label = _WAVE_HEADER.unpack_from(record, start)
        first = start + _WAVE_HEADER.size
        if count < 0 or first + 2 * count > end:
            raise ProtocolError(f"waveform subrecord at {start} claims {count} samples")
        samples = struct.unpack_from(f"<{count}h", record, first)
        waves.append(Waveform(sr_type, status, label, samples))
    return WaveformRecord(header, tuple(waves))


def _alarms(header: RecordHeader, record: bytes) -> AlarmRecord:
    # dri_al_msg layout from datex.h (icu_devices); not yet checked against a real capture.
    for sr_type, start, end in _subrecords(record):
        if sr_type != _ALARM_STATUS or end - start < _ALARM_SUBRECORD_LEN:
            continue
        _, sound, _, _, silence = struct.unpack_from("<5h", record, start)
        messages = []
        for n in range(5):
            at = start + 10 + n * _ALARM_MESSAGE_LEN
            text = record[at : at + 80].split(b"\0", 1)[0].decode("latin-1").strip()
            (color,) = _S16.unpack_from(record, at + 82)
            if text:
                messages.append(AlarmMessage(text, color))
        return AlarmRecord(header, bool(sound), silence, tuple(messages))
    return AlarmRecord(header, False, 0, ())


def decode_record(record: bytes) -> GeDriRecord:
    """Decode one unescaped record (header + data, no checksum). Raises ``ProtocolError``."""
    if len(record) < HEADER_LEN:
        raise ProtocolError(f"record of {len(record)} bytes is shorter than its header")
    r_len, number, dri_level, plug_id, time, maintype = _HEADER.unpack_from(record)
    if r_len != len(record):
        raise ProtocolError(f"r_len {r_len} does not match the record length {len(record)}")
    header = RecordHeader(number, dri_level, plug_id, time, maintype)
    try:
        if maintype == MainType.PHDB:
            return _phdb(header, record)
        if maintype == MainType.WAVE:
            return _waves(header, record)
        if maintype == MainType.ALARM:
            return _alarms(header, record)
        return OtherRecord(header, tuple(t for t, _, _ in _subrecords(record)))
    except struct.error as exc:  # a bound this module failed to check: still the peer's bytes
        raise ProtocolError(f"malformed record: {exc}") from exc


def unframe(body: bytes) -> bytes:
    """The record inside one frame's bytes (between the flags); checks escapes and checksum."""
    if len(body) > MAX_WIRE_FRAME:
        raise ProtocolError(f"frame longer than {MAX_WIRE_FRAME} bytes")
    escapes = body.count(ESCAPE)
    if escapes:
        flags, escs = body.count(_ESCAPED_FLAG), body.count(_ESCAPED_ESCAPE)
        # Every 7D must start a 7D 5E or 7D 5D pair (5E and 5D are never 7D, so the pairs
        # found by count() cannot overlap).
        if flags + escs != escapes:
            raise ProtocolError("invalid escape sequence")
        body = body.replace(_ESCAPED_FLAG, b"\x7e").replace(_ESCAPED_ESCAPE, b"\x7d")
    if len(body) < HEADER_LEN + 1:
        raise ProtocolError(f"frame of {len(body)} bytes is shorter than a header and checksum")
    record, checksum = body[:-1], body[-1]
    computed = sum(record) & 0xFF
    if computed != checksum:
        raise ProtocolError(f"checksum {checksum:#04x}, computed {computed:#04x}")
    return record


def decode_frame(body: bytes) -> GeDriRecord:
    """Strict one-shot decode of the bytes between two flags. Raises ``ProtocolError``."""
    return decode_record(unframe(body))


# --- encoding -------------------------------------------------------------------------------


def frame(record: bytes) -> bytes:
    """Flag, escaped record and checksum, flag."""
    body = record + bytes([sum(record) & 0xFF])
    body = body.replace(b"\x7d", _ESCAPED_ESCAPE).replace(b"\x7e", _ESCAPED_FLAG)
    return b"\x7e" + body + b"\x7e"


def encode_display_request(interval_s: int, classes: ClassRequest = ALL_CLASSES) -> bytes:
    """Ask for current values (DRI_PH_DISPL) every ``interval_s`` seconds; 0 stops them.

    M1017617 Appendix A: header with r_len 49 and maintype PHDB, sr_desc[0] = {0, XMIT_REQ},
    sr_desc[1] = end of list, then phdb_req {rcrd_type u8, tx_interval u16, class_bf u32,
    reserved u16}.
    """
    if not 0 <= interval_s <= 0xFFFF:
        raise DriverUsageError(f"interval {interval_s} s does not fit the request (0..65535)")
    descriptors = _DESCRIPTOR.pack(0, PhdbSubtype.XMIT_REQUEST) + _DESCRIPTOR.pack(
        0, END_OF_SUBRECORDS
    )
    request = struct.pack("<BHIH", PhdbSubtype.DISPLAY, interval_s, int(classes), 0)
    length = HEADER_LEN + len(request)
    header = _HEADER.pack(length, 0, 0, 0, 0, MainType.PHDB) + descriptors
    header += bytes(HEADER_LEN - len(header))
    return frame(header + request)


def encode_stop_display() -> bytes:
    return encode_display_request(0, ClassRequest(0))


# --- streaming ------------------------------------------------------------------------------


class GeDriCodec:
    """Streaming decoder: feed bytes in any chunking, read ``GeDriEvent`` objects."""

    def __init__(self) -> None:
        # Past MAX_WIRE_FRAME without a flag: rejected once, then dropped up to the next flag.
        self._buffer = FrameBuffer(MAX_WIRE_FRAME)
        self._synced = False  # a flag has been seen: the buffer starts at a frame boundary
        self._events: deque[GeDriEvent] = deque()

    def receive(self, data: bytes) -> None:
        buffer = self._buffer
        scan = len(buffer)  # what is already buffered holds no flag: search only the new bytes
        buffer += data
        end = buffer.find(FLAG, scan)
        if end < 0 and len(buffer) <= buffer.limit:
            return  # most reads end inside a frame: nothing to consume or to cap yet
        while end >= 0:
            body = buffer.take(end)
            buffer.skip()  # the flag
            if body:
                self._span(body)
            self._synced = True
            buffer.hunting = False
            end = buffer.find(FLAG, buffer.pos)
        dropped = buffer.commit()
        if dropped is not None:
            self._reject(buffer.too_long, dropped)

    def _span(self, body: bytes) -> None:
        if self._buffer.hunting:
            return  # the tail of a frame already rejected as too long
        if not self._synced:
            self._reject("bytes before the first flag (started mid-frame?)", body)
            return
        try:
            self._events.append(decode_frame(body))
        except ProtocolError as exc:
            self._reject(str(exc), body)

    def _reject(self, reason: str, data: bytes) -> None:
        self._events.append(FrameRejected(reason, preview(data)))

    def events(self) -> Iterator[GeDriEvent]:
        while self._events:
            yield self._events.popleft()
