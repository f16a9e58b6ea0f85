"""Masimo Radical-7 / Rad-8 / Rad-97 serial "ASCII 1" (AS1) output.

Sources (docs/protocols.md §Masimo): the oximeter prints one text line per second at 9600 8N1,
ending in CR LF, e.g. (a real Rad-8 line, yahnatan/pulseox README, 2016)::

    02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% \
DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800

* a device date and time (MM/DD/YY HH:MM:SS), then ``KEY=VALUE`` tokens separated by spaces;
* the set of keys differs by model and firmware, so tokens are parsed by key, never by position;
* a value made only of ``-`` (with ``.``, ``+`` or ``%``) means "no value";
* ``PI`` may lack its ``%``;
* ``EXC`` is a hexadecimal exception bitfield (Rad-8 manual, quoted in
  remkolems/masimo-datacapture);
  ``ALARM`` is a hexadecimal alarm bitfield whose bits are not published.

Faults a real cable produces, each handled and tested: garbage or line noise (rejected line),
a start in the middle of a line (no timestamp: rejected), a line that never ends (rejected once it
exceeds ``MAX_LINE``, then the codec hunts for the next line end), unknown keys (kept, ignored),
impossible values such as ``SPO2=300%`` (that field dropped with a problem noted).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

from drivers.codecs.base import FrameRejected, preview
from drivers.codecs.framebuffer import FrameBuffer
from drivers.errors import ProtocolError

#: Real lines are ~120–180 characters; anything much longer is not a Masimo line.
MAX_LINE = 400

_TIMESTAMP = re.compile(rb"^(\d\d/\d\d/\d\d) (\d\d:\d\d:\d\d)(?= )")
_LINE_END = re.compile(rb"[\r\n]")
_KEY = re.compile(r"^[A-Z][A-Z0-9]*$")
_NO_VALUE = re.compile(r"^[-+.]*-[-+.]*%?$")
_NUMBER = re.compile(r"^[+]?\d+(\.\d+)?%?$")


class MasimoException(IntFlag):
    """The ``EXC`` bitfield (Rad-8 operator's manual, as quoted in masimo-capture.py)."""

    NO_SENSOR = 0x001
    DEFECTIVE_SENSOR = 0x002
    LOW_PERFUSION = 0x004
    PULSE_SEARCH = 0x008
    INTERFERENCE = 0x010
    SENSOR_OFF = 0x020
    AMBIENT_LIGHT = 0x040
    UNRECOGNIZED_SENSOR = 0x080
    LOW_SIGNAL_IQ = 0x400
    #: "SET mode": Masimo SET signal extraction active. Informational, not a fault.
    SET_MODE = 0x800


@dataclass(frozen=True, slots=True)
class MasimoRecord:
    """One decoded AS1 line. ``None`` means the device reported no value (or an impossible one)."""

    device_time: datetime | None
    serial: str | None
    spo2: float | None
    pulse_rate: float | None
    perfusion_index: float | None
    alarm: int | None
    exceptions: MasimoException
    #: Raw bits of EXC that have no published meaning.
    unknown_exception_bits: int
    #: Per-field problems (impossible or malformed values): the line was used, that field dropped.
    problems: tuple[str, ...]
    #: Every ``KEY=VALUE`` token of the line, in order, including keys Vigil does not use.
    fields: tuple[tuple[str, str], ...]


MasimoEvent = MasimoRecord | FrameRejected

# The ranges the device can physically report; outside them the field is corrupt.
_RANGES: dict[str, tuple[float, float]] = {
    "SPO2": (0.0, 100.0),
    "BPM": (0.0, 350.0),
    "PI": (0.0, 100.0),
}


def _number(key: str, raw: str, problems: list[str]) -> float | None:
    if _NO_VALUE.match(raw):
        return None
    if not _NUMBER.match(raw):
        problems.append(f"{key}={raw}: not a number")
        return None
    value = float(raw.rstrip("%"))
    low, high = _RANGES.get(key, (float("-inf"), float("inf")))
    if not low <= value <= high:
        problems.append(f"{key}={raw}: outside {low:g}..{high:g}")
        return None
    return value


def _hex(key: str, raw: str, problems: list[str]) -> int | None:
    if _NO_VALUE.match(raw):
        return None
    try:
        return int(raw, 16)
    except ValueError:
        problems.append(f"{key}={raw}: not hexadecimal")
        return None


def decode_line(line: bytes) -> MasimoRecord:
    """Decode one line without its CR LF. Raises ``ProtocolError`` if it is not an AS1 line."""
    if any(b < 0x20 or b > 0x7E for b in line):
        raise ProtocolError("non-printable byte in line (line noise?)")
    match = _TIMESTAMP.match(line)
    if match is None:
        raise ProtocolError("line does not start with a device date and time (partial line?)")
    try:
        device_time: datetime | None = datetime.strptime(
            f"{match[1].decode()} {match[2].decode()}", "%m/%d/%y %H:%M:%S"
        )
    except ValueError:
        device_time = None  # the device clock is not trusted for anything but display
    tokens = line[match.end() :].decode("ascii").split()
    fields: list[tuple[str, str]] = []
    seen: set[str] = set()
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not _KEY.match(key) or not value:
            raise ProtocolError(f"token {token!r} is not KEY=VALUE")
        if key in seen:
            raise ProtocolError(f"key {key} appears twice")
        seen.add(key)
        fields.append((key, value))
    values = dict(fields)
    if "SPO2" not in values or "BPM" not in values:
        raise ProtocolError("line has no SPO2 or no BPM field")
    problems: list[str] = []
    exc_raw = _hex("EXC", values["EXC"], problems) if "EXC" in values else None
    exc_bits = exc_raw or 0
    known = sum(flag.value for flag in MasimoException)
    serial = values.get("SN")
    return MasimoRecord(
        device_time=device_time,
        serial=None if serial is None or _NO_VALUE.match(serial) else serial,
        spo2=_number("SPO2", values["SPO2"], problems),
        pulse_rate=_number("BPM", values["BPM"], problems),
        perfusion_index=_number("PI", values["PI"], problems) if "PI" in values else None,
        alarm=_hex("ALARM", values["ALARM"], problems) if "ALARM" in values else None,
        exceptions=MasimoException(exc_bits & known),
        unknown_exception_bits=exc_bits & ~known,
        problems=tuple(problems),
        fields=tuple(fields),
    )


class MasimoAsciiCodec:
    """Streaming decoder: feed bytes in any chunking, read ``MasimoEvent`` objects."""

    def __init__(self) -> None:
        # Past MAX_LINE without a line end: rejected once, then dropped up to the next line end.
        self._buffer = FrameBuffer(MAX_LINE, unit="line")
        self._events: deque[MasimoEvent] = deque()

    def receive(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while (found := _LINE_END.search(buffer, buffer.pos)) is not None:
            line = buffer.take(found.start())
            buffer.skip()  # the line end
            if buffer.hunting:
                buffer.hunting = False  # the tail of a line already rejected as too long
                continue
            if not line:
                continue  # the LF of CR LF, or blank lines
            if len(line) > MAX_LINE:
                self._events.append(FrameRejected(buffer.too_long, preview(line)))
                continue
            try:
                self._events.append(decode_line(line))
            except ProtocolError as exc:
                self._events.append(FrameRejected(str(exc), preview(line)))
        dropped = buffer.commit()
        if dropped is not None:
            self._events.append(FrameRejected(buffer.too_long, preview(dropped)))

    def events(self) -> Iterator[MasimoEvent]:
        while self._events:
            yield self._events.popleft()
