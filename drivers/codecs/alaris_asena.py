"""Alaris / CareFusion "ASENA" serial protocol (Asena GH, CC, GS syringe pumps; Alaris PK).

Sources (/work/shared/reference/protocols.md §4.2, docs/protocols/alaris-asena.md):
mdpnp/mdpnp ``interop-lab/demo-devices/.../alaris/Asena.java`` (38400 8N1, command constants, the
order of the ``INF`` reply fields), jaj42/infupy ``infupy/backends/alaris.py`` (framing, ESC
aborts a frame), and replies logged from real pumps in OpenICE sources (``SingleSimAlaris.java``,
``AlarisMITM.java``): ``!INST_SERIALNO^8002-51740|050B``, ``!COMMS_PROTOCOL^Asena Rev 2.1.5|661A``,
``!INF^8002-51733^A^HLD^0.00^ml/h^^0.969^ml^530.15^mmHg^00:04:09^EVENT^214725|DB9D``.

A frame, in both directions::

    !  <message>  |  <CRC>  CR

* the CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0) over the
  message text, written as 4 upper-case hexadecimal digits (``binascii.crc_hqx`` from 0xFFFF);
* message fields are separated by ``^``; a reply repeats the command as its first field;
* ESC (0x1B) abandons the frame in progress (infupy).

Faults a real cable produces, each handled and tested: bytes between frames (rejected as one run;
stray CR/LF ignored), a frame cut short by a new ``!`` or by ESC, a frame that never ends (rejected
once it exceeds ``MAX_FRAME``), a bad CRC, non-printable bytes, an ``INF`` reply with the wrong
number of fields, impossible values (that field dropped with a problem noted).

Every meaning Vigil gives to the ``mode`` and ``alarm`` fields and to ``ALARM`` codes is an
ASSUMPTION kept in one place (``MODES``, ``ALARM_NONE``, ``ALARM_CODES`` in
``drivers/sessions/alaris_asena.py`` and the tables here), documented in
docs/protocols/alaris-asena.md.
"""

from __future__ import annotations

import binascii
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from drivers.codecs.base import FrameRejected, preview
from drivers.codecs.framebuffer import FrameBuffer
from drivers.errors import DriverUsageError, ProtocolError

START = 0x21  # "!"
END = 0x0D  # CR
ESC = 0x1B
SEPARATOR = "^"
CRC_SEPARATOR = 0x7C  # "|"

#: Real replies are under 100 bytes; mdpnp reads at most 15000. Anything longer is line noise.
MAX_FRAME = 1024

_CRC = re.compile(rb"[0-9A-F]{4}")
_COMMAND = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_NUMBER = re.compile(r"-?[0-9]{1,6}(?:\.[0-9]{1,4})?")
_HMS = re.compile(r"([0-9]{2}):([0-5][0-9]):([0-5][0-9])")

# --- commands Vigil sends (every one a read-only query) -----------------------------------

INF = "INF"
INF_VTBI = "INF_VTBI"
ALARM = "ALARM"
INST_SERIALNO = "INST_SERIALNO"
COMMS_PROTOCOL = "COMMS_PROTOCOL"

#: ``INF`` reply: the command echo plus 13 fields (Asena.java ~line 597, real reply above).
INF_FIELDS = 14
#: Plausible ranges; outside them the field is corrupt. Alaris GH: rate 0.1-1200 mL/h
#: (Asena.java's limits), a syringe holds at most 50-60 mL; volume infused can pass that over
#: several syringes, so the ceiling is loose.
RATE_RANGE = (0.0, 1200.0)
VOLUME_RANGE = (0.0, 9999.999)
PRESSURE_RANGE = (-1000.0, 2000.0)
#: The pump writes time remaining as HH:MM:SS below 24 h and ``24+`` above (OpenICE note).
TIME_OVER_24H = "24+"


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0.

    That is exactly ``binascii.crc_hqx`` (the XMODEM/BinHex CRC: poly 0x1021, MSB first, no
    final XOR) started at 0xFFFF; it gives the check value 0x29B1 and every golden frame above.
    """
    return binascii.crc_hqx(data, 0xFFFF)


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AsenaReply:
    """Any well-formed frame: the command and its fields (the echo not repeated)."""

    command: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InfStatus:
    """The reply to ``INF``. None means no valid value."""

    serial: str
    alarm: str
    mode: str
    rate: float | None
    rate_unit: str
    drug: str | None
    volume_infused: float | None
    volume_unit: str
    pressure: float | None
    pressure_unit: str
    #: Seconds; None for ``24+`` (24 h or more), an empty field or a malformed one.
    time_remaining_s: float | None
    log_type: str
    log_id: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VtbiStatus:
    """The reply to ``INF_VTBI``: ``INF_VTBI^ACTIV^11.000^ml^STOP`` (format of the set command in
    Asena.java; the query reply is ASSUMED to mirror it). ``vtbi`` None when none is set."""

    state: str
    vtbi: float | None
    unit: str
    end_action: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlarmStatus:
    """The reply to ``ALARM``: ``ALARM^AL_NOALM^ ^`` (the highest-priority active alarm)."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class SerialNumber:
    serial: str


@dataclass(frozen=True, slots=True)
class ProtocolVersion:
    version: str


#: A well-formed frame, decoded.
AsenaMessage = InfStatus | VtbiStatus | AlarmStatus | SerialNumber | ProtocolVersion | AsenaReply
AsenaEvent = AsenaMessage | FrameRejected


# --- encoders -------------------------------------------------------------------------------


def encode_frame(message: str) -> bytes:
    """``!message|CRC\\r``."""
    try:
        text = message.encode("ascii")
    except UnicodeEncodeError:
        raise DriverUsageError(f"ASENA message {message!r} is not ASCII") from None
    if any(b < 0x20 or b > 0x7E or b in (START, CRC_SEPARATOR) for b in text):
        raise DriverUsageError(f"ASENA message {message!r} has a byte the framing forbids")
    return b"!" + text + b"|" + f"{crc16(text):04X}".encode() + b"\r"


def encode_inf() -> bytes:
    """Infusion status: ``!INF|4961\\r``."""
    return encode_frame(INF)


def encode_inf_vtbi() -> bytes:
    """VTBI query: ``!INF_VTBI|8456\\r``."""
    return encode_frame(INF_VTBI)


def encode_alarm() -> bytes:
    """Highest-priority alarm query: ``!ALARM|50B2\\r``."""
    return encode_frame(ALARM)


def encode_inst_serialno() -> bytes:
    """Serial number: ``!INST_SERIALNO|457D\\r``."""
    return encode_frame(INST_SERIALNO)


def encode_comms_protocol() -> bytes:
    """Protocol version: ``!COMMS_PROTOCOL|E8DA\\r``."""
    return encode_frame(COMMS_PROTOCOL)


# --- strict decoding ----------------------------------------------------------------------


def _number(name: str, raw: str, bounds: tuple[float, float], problems: list[str]) -> float | None:
    if raw.strip() in ("", "-", "--"):
        return None
    if _NUMBER.fullmatch(raw.strip()) is None:
        problems.append(f"{name}={raw[:20]!r}: not a number")
        return None
    value = float(raw)
    if not bounds[0] <= value <= bounds[1]:
        problems.append(f"{name}={raw}: outside {bounds[0]:g}..{bounds[1]:g}")
        return None
    return value


def parse_time_remaining(raw: str, problems: list[str]) -> float | None:
    """``HH:MM:SS`` → seconds; ``24+`` (24 h or more) and empty → None."""
    text = raw.strip()
    if text in ("", TIME_OVER_24H):
        return None
    match = _HMS.fullmatch(text)
    if match is None or int(match[1]) >= 24:
        problems.append(f"time remaining {raw[:20]!r} is not HH:MM:SS below 24 h")
        return None
    return float(int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3]))


def _inf(fields: list[str]) -> InfStatus:
    if len(fields) != INF_FIELDS:
        raise ProtocolError(f"INF reply has {len(fields)} fields, expected {INF_FIELDS}")
    problems: list[str] = []
    rate = _number("rate", fields[4], RATE_RANGE, problems)
    if rate is not None and fields[5] != "ml/h":
        problems.append(f"rate unit {fields[5]!r} is not ml/h")
        rate = None
    volume = _number("volume infused", fields[7], VOLUME_RANGE, problems)
    if volume is not None and fields[8] != "ml":
        problems.append(f"volume unit {fields[8]!r} is not ml")
        volume = None
    drug = fields[6].strip() or None
    return InfStatus(
        serial=fields[1],
        alarm=fields[2],
        mode=fields[3],
        rate=rate,
        rate_unit=fields[5],
        drug=drug,
        volume_infused=volume,
        volume_unit=fields[8],
        pressure=_number("pressure", fields[9], PRESSURE_RANGE, problems),
        pressure_unit=fields[10],
        time_remaining_s=parse_time_remaining(fields[11], problems),
        log_type=fields[12],
        log_id=fields[13],
        problems=tuple(problems),
    )


def _vtbi(fields: list[str]) -> VtbiStatus:
    padded = fields + [""] * (5 - len(fields))
    if len(fields) > 5:
        raise ProtocolError(f"INF_VTBI reply has {len(fields)} fields, expected at most 5")
    problems: list[str] = []
    vtbi = _number("VTBI", padded[2], VOLUME_RANGE, problems)
    if vtbi is not None and padded[3] not in ("ml", ""):
        problems.append(f"VTBI unit {padded[3]!r} is not ml")
        vtbi = None
    return VtbiStatus(padded[1], vtbi, padded[3], padded[4], tuple(problems))


def decode_message(message: str) -> AsenaEvent:
    """Decode a checked message text (no ``!``, CRC or CR). Raises ``ProtocolError``."""
    fields = message.split(SEPARATOR)
    command = fields[0]
    if _COMMAND.fullmatch(command) is None:
        raise ProtocolError(f"{command[:20]!r} is not an ASENA command")
    if command == INF:
        return _inf(fields)
    if command == INF_VTBI:
        return _vtbi(fields)
    if command == ALARM:
        if len(fields) < 2 or not fields[1].strip():
            raise ProtocolError("ALARM reply has no alarm code")
        return AlarmStatus(fields[1].strip(), fields[2].strip() if len(fields) > 2 else "")
    if command == INST_SERIALNO and len(fields) == 2 and fields[1].strip():
        return SerialNumber(fields[1].strip())
    if command == COMMS_PROTOCOL and len(fields) == 2 and fields[1].strip():
        return ProtocolVersion(fields[1].strip())
    return AsenaReply(command, tuple(fields[1:]))


def decode_frame(frame: bytes) -> AsenaEvent:
    """Decode one ``!...|CRC\\r`` frame. Raises ``ProtocolError``."""
    if len(frame) < 7 or frame[0] != START or frame[-1] != END:
        raise ProtocolError("frame does not run from '!' to CR")
    body = frame[1:-1]
    cut = body.rfind(bytes([CRC_SEPARATOR]))
    if cut < 0:
        raise ProtocolError("no '|' before the CRC")
    text, crc_text = body[:cut], body[cut + 1 :]
    if _CRC.fullmatch(crc_text) is None:
        raise ProtocolError(f"CRC field {crc_text[:8]!r} is not 4 upper-case hex digits")
    if any(b < 0x20 or b > 0x7E for b in text):
        raise ProtocolError("non-printable byte in the message (line noise?)")
    if int(crc_text, 16) != crc16(text):
        raise ProtocolError(f"CRC {crc_text.decode()} != computed {crc16(text):04X}")
    return decode_message(text.decode("ascii"))


# --- streaming ------------------------------------------------------------------------------


class AlarisAsenaCodec:
    """Streaming decoder: feed bytes in any chunking, read ``AsenaEvent`` objects."""

    def __init__(self) -> None:
        # Past MAX_FRAME unconsumed: rejected and dropped; what follows is parsed afresh.
        self._buffer = FrameBuffer(MAX_FRAME, hunt=False)
        self._events: deque[AsenaEvent] = deque()

    def receive(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while buffer.pos < len(buffer):
            start = buffer.find(START, buffer.pos)
            if start < 0:
                break  # bytes outside a frame wait for the next frame to start (up to the cap)
            if start > buffer.pos:
                self._garbage(buffer.take(start))
            end = buffer.find(END, start + 1)
            limit = len(buffer) if end < 0 else end
            restart = buffer.find(START, start + 1, limit)
            escape = buffer.find(ESC, start + 1, limit)
            cuts = [i for i in (restart, escape) if i >= 0]
            if cuts:
                cut = min(cuts)
                why = "frame abandoned by ESC" if cut == escape else "frame cut short by '!'"
                self._reject(why, buffer.take(cut))
                if cut == escape:
                    buffer.skip()
                continue
            if end < 0:
                break
            frame = buffer.take(end + 1)
            if len(frame) > MAX_FRAME:
                self._reject(buffer.too_long, frame)
                continue
            try:
                self._events.append(decode_frame(frame))
            except ProtocolError as exc:
                self._reject(str(exc), frame)
        dropped = buffer.commit()
        if dropped is not None:
            if dropped[0] == START:
                self._reject(buffer.too_long, dropped)
            else:
                self._garbage(dropped)

    def events(self) -> Iterator[AsenaEvent]:
        while self._events:
            yield self._events.popleft()

    def _garbage(self, junk: bytes) -> None:
        if junk.strip(b"\r\n"):  # line ends between frames are harmless
            self._reject("bytes outside a frame", junk)

    def _reject(self, reason: str, data: bytes) -> None:
        self._events.append(FrameRejected(reason, preview(data)))
