"""Emulated GE CARESCAPE B650 on the Datex-Ohmeda S/5 "DRI" computer interface.

Written from the specification (GE S/5 Computer Interface Specification M1017617 and S/5 DRI
Specification 8005313, as summarised in reference/protocols.md §2 and §9) with its own encoder
and its own request parser: it shares no code with ``drivers.codecs.ge_dri``, so a mistake made
twice cannot hide (both are checked against the same golden bytes in the tests).

Behaviour:

* silent until a display request arrives (maintype PHDB, subrecord DRI_PH_XMIT_REQ with
  phdb_rcrd_type DRI_PH_DISPL); then one PHDB record every ``tx_interval`` seconds, the first
  at once, with the basic class (unless denied) and each requested extended class;
  ``tx_interval`` 0 stops the transmission;
* values come from ``Vitals``; a missing value is sent as DATA_INVALID (-32767). The extended
  class blocks are sent all zero (every group absent);
* optionally a waveform record (maintype WAVE, one PLETH subrecord) after each PHDB record, as
  a real monitor interleaves them when waveforms are requested.

Faults (``simulator.devices.base.Fault``): GARBAGE (random bytes before each frame),
BAD_CHECKSUM, WRONG_LENGTH (an ``r_len`` two bytes too long, with a checksum that matches it),
MID_FRAME (the next frame loses its first half), ABSURD_VALUE (SpO2 300 %), SILENCE (nothing).
"""

from __future__ import annotations

import math
import random
import struct
import time
from dataclasses import dataclass
from typing import ClassVar

from simulator.devices.base import Fault
from simulator.model import PumpModelState, Vitals

# Framing (protocols.md §2).
FLAG = 0x7E
CTRL = 0x7D
BIT5 = 0x20

# Record layout (protocols.md §2, M1017617).
HEADER_SIZE = 40
DESCRIPTORS_AT = 16
MAINTYPE_PHDB = 0
MAINTYPE_WAVE = 1
SR_XMIT_REQ = 0
SR_DISPLAY = 1
SR_END = 0xFF
CLASS_SIZE = 270
DRI_LEVEL = 0x0A  # what the real B650 in the public captures reports
WAVE_PLETH = 8

# Values and group headers.
NO_VALUE = -32767  # DATA_INVALID
PRESENT = 0b01  # group_hdr.status bit 0: module exists
PRESENT_ACTIVE = 0b11  # bit 1: measurement active
NIBP_ADULT_CUFF = 3  # label bits 0-2
NIBP_MEASURING = 1 << 5
NIBP_OLDER_THAN_60S = 1 << 8
CO2_RR_SOURCE_CO2 = 1  # label bits 0-2: the RR comes from the CO2 measurement
TEMP_LABELS = (11, 12, 13, 14)  # T1..T4, as the captured monitor labels its channels

# phdb_class_bf of a request.
DENY_BASIC = 0x1
EXT_CLASSES = ((0x2, 1), (0x4, 2), (0x8, 3))  # (request bit, class number)


def _raw(value: float | None, scale: float) -> int:
    if value is None:
        return NO_VALUE
    return max(-32000, min(32767, round(value * scale)))


def _group(status: int, label: int, *values: int) -> bytes:
    return struct.pack(f"<IH{len(values)}h", status, label, *values)


def basic_class(vitals: Vitals, t: float, absurd: bool = False) -> bytes:
    """The 270-byte basic class block for ``vitals`` at simulator time ``t``."""
    no4 = (NO_VALUE,) * 4
    spo2_status = PRESENT if vitals.no_sensor or vitals.sensor_off else PRESENT_ACTIVE
    spo2, pulse = (None, None) if spo2_status == PRESENT else (vitals.spo2, vitals.pulse_rate)
    if absurd:
        spo2 = 300.0
    nibp_label = NIBP_ADULT_CUFF
    if vitals.nibp_measuring:
        nibp_label |= NIBP_MEASURING
    if vitals.nibp_at is not None and t - vitals.nibp_at > 60:
        nibp_label |= NIBP_OLDER_THAN_60S
    nibp = None if vitals.nibp_failed else vitals.nibp
    sys_, dia, mean = nibp if nibp is not None else (None, None, None)
    ambient = vitals.ambient_mmhg

    def co2_percent(mmhg: float | None) -> int:
        return _raw(None if mmhg is None else mmhg / ambient * 100, 100)

    parts = [
        _group(PRESENT_ACTIVE, 0, _raw(vitals.hr, 1), NO_VALUE, NO_VALUE, NO_VALUE, NO_VALUE),
        *(_group(0, 0, *no4) for _ in range(4)),  # invasive pressures P1-P4
        _group(
            PRESENT_ACTIVE,
            nibp_label,
            _raw(sys_, 100),
            _raw(dia, 100),
            _raw(mean, 100),
            NO_VALUE,
        ),
        _group(
            PRESENT_ACTIVE if vitals.temp_c is not None else 0,
            TEMP_LABELS[0],
            _raw(vitals.temp_c, 100),
        ),
        *(_group(0, label, NO_VALUE) for label in TEMP_LABELS[1:]),
        _group(spo2_status, 0, _raw(spo2, 100), _raw(pulse, 1), NO_VALUE, NO_VALUE),
        _group(
            PRESENT_ACTIVE,
            CO2_RR_SOURCE_CO2,
            co2_percent(vitals.etco2_mmhg),
            co2_percent(vitals.fico2_mmhg),
            _raw(vitals.resp_rate, 1),
            _raw(ambient, 10),
        ),
        _group(0, 0, NO_VALUE, NO_VALUE),  # O2
        _group(0, 0, NO_VALUE, NO_VALUE),  # N2O
        _group(0, 0, NO_VALUE, NO_VALUE, NO_VALUE),  # anaesthetic agents
        _group(0, 0, *(NO_VALUE,) * 8),  # flow and volume
        _group(0, 0, *no4),  # cardiac output and wedge pressure
        _group(0, 0, NO_VALUE, NO_VALUE, NO_VALUE),  # NMT
        struct.pack("<3h", NO_VALUE, NO_VALUE, NO_VALUE),  # ECG extra (no group header)
        _group(0, 0, NO_VALUE),  # SvO2
        _group(0, 0, *no4),  # P5
        _group(0, 0, *no4),  # P6
        b"\0\0",  # reserved
    ]
    block = b"".join(parts)
    assert len(block) == CLASS_SIZE, len(block)
    return block


def build_record(
    maintype: int, subrecords: list[tuple[int, bytes]], number: int, when: int
) -> bytes:
    """Header + subrecords; descriptor offsets count from the end of the header."""
    header = bytearray(HEADER_SIZE)
    body = bytearray()
    for index, (sr_type, payload) in enumerate(subrecords):
        struct.pack_into("<HB", header, DESCRIPTORS_AT + 3 * index, len(body), sr_type)
        body += payload
    if len(subrecords) < 8:
        header[DESCRIPTORS_AT + 3 * len(subrecords) + 2] = SR_END
    struct.pack_into("<H", header, 0, HEADER_SIZE + len(body))
    header[2] = number & 0xFF
    header[3] = DRI_LEVEL
    struct.pack_into("<I", header, 6, when & 0xFFFFFFFF)
    struct.pack_into("<H", header, 14, maintype)
    return bytes(header + body)


def checksum(record: bytes) -> int:
    total = 0
    for byte in record:
        total = (total + byte) & 0xFF
    return total


def wire(record: bytes, check: int | None = None) -> bytes:
    """Frame a record: flag, record and checksum with 7E/7D escaped, flag."""
    out = bytearray([FLAG])
    for byte in [*record, checksum(record) if check is None else check]:
        if byte in (FLAG, CTRL):
            out += bytes([CTRL, byte ^ BIT5])
        else:
            out.append(byte)
    out.append(FLAG)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class DisplayRequest:
    interval_s: int
    class_bf: int


class RequestReader:
    """The monitor's side of the link: collects the host's frames, keeps the valid requests."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[DisplayRequest]:
        self._pending += data
        *frames, self._pending = self._pending.split(bytes([FLAG]))
        requests = []
        for raw in frames:
            if not raw:
                continue
            request = self._request(bytes(raw))
            if request is None:
                self.bad_frames += 1
            else:
                requests.append(request)
        return requests

    @staticmethod
    def _request(raw: bytes) -> DisplayRequest | None:
        data = bytearray()
        escaped = False
        for byte in raw:
            if escaped:
                data.append(byte ^ BIT5)
                escaped = False
            elif byte == CTRL:
                escaped = True
            else:
                data.append(byte)
        if escaped or len(data) < HEADER_SIZE + 1 + 9:
            return None
        record, check = bytes(data[:-1]), data[-1]
        r_len, maintype = (
            struct.unpack_from("<H", record)[0],
            struct.unpack_from("<H", record, 14)[0],
        )
        offset, sr_type = struct.unpack_from("<HB", record, DESCRIPTORS_AT)
        if checksum(record) != check or r_len != len(record) or maintype != MAINTYPE_PHDB:
            return None
        start = HEADER_SIZE + offset
        if sr_type != SR_XMIT_REQ or start + 9 > len(record):
            return None
        rcrd_type, interval, class_bf = struct.unpack_from("<BHI", record, start)
        if rcrd_type != SR_DISPLAY:
            return None  # trend and auxiliary requests are not emulated
        return DisplayRequest(interval, class_bf)


class GeDriEmulator:
    driver: ClassVar[str] = "ge-dri"
    #: How often the runner should call ``transmit``; records go out at the requested interval.
    period: ClassVar[float] = 0.05

    def __init__(
        self,
        *,
        epoch: float | None = None,
        waveforms: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        #: Unix time at simulator time 0 (the monitor's clock).
        self.epoch = time.time() if epoch is None else epoch
        self.waveforms = waveforms
        self.faults: set[Fault] = set()
        self.reader = RequestReader()
        self.requests: list[DisplayRequest] = []
        self.interval: int | None = None
        self.class_bf = 0
        self.number = 0
        self._next_at: float | None = None
        self._rng = rng or random.Random(0)

    def receive(self, data: bytes, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        for request in self.reader.feed(data):
            self.requests.append(request)
            if request.interval_s == 0:
                self.interval, self._next_at = None, None
            else:
                self.interval, self.class_bf = request.interval_s, request.class_bf
                self._next_at = t  # the first record goes out at once
        return b""  # the monitor never acknowledges; its records are the answer

    def transmit(self, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        if self.interval is None or self._next_at is None or t < self._next_at:
            return b""
        self._next_at += self.interval
        if self._next_at <= t:
            self._next_at = t + self.interval  # after a pause: no burst of old records
        if Fault.SILENCE in self.faults:
            return b""
        out = self._frame(self.phdb_record(t, vitals))
        if self.waveforms:
            out += self._frame(self.wave_record(t))
        return out

    def phdb_record(self, t: float, vitals: Vitals) -> bytes:
        when = int(self.epoch + t)
        blocks: list[tuple[int, bytes]] = []
        if not self.class_bf & DENY_BASIC:
            blocks.append((0, basic_class(vitals, t, Fault.ABSURD_VALUE in self.faults)))
        blocks += [(cls, bytes(CLASS_SIZE)) for bit, cls in EXT_CLASSES if self.class_bf & bit]
        subrecords = []
        for cls, block in blocks:
            cl_drilvl_subt = (cls << 8) | (DRI_LEVEL << 4) | SR_DISPLAY
            tail = struct.pack("<BBH", 0, 0, cl_drilvl_subt)
            subrecords.append((SR_DISPLAY, struct.pack("<I", when) + block + tail))
        return self._numbered(MAINTYPE_PHDB, subrecords, when)

    def wave_record(self, t: float) -> bytes:
        samples = [round(1000 * math.sin(2 * math.pi * (t + n / 100))) for n in range(100)]
        payload = struct.pack("<hHH100h", len(samples), 0, 0, *samples)
        return self._numbered(MAINTYPE_WAVE, [(WAVE_PLETH, payload)], int(self.epoch + t))

    def _numbered(self, maintype: int, subrecords: list[tuple[int, bytes]], when: int) -> bytes:
        record = build_record(maintype, subrecords, self.number, when)
        self.number = (self.number + 1) & 0xFF
        return record

    def _frame(self, record: bytes) -> bytes:
        check = None
        if Fault.WRONG_LENGTH in self.faults:
            (r_len,) = struct.unpack_from("<H", record)
            record = struct.pack("<H", r_len + 2) + record[2:]
        if Fault.BAD_CHECKSUM in self.faults:
            check = checksum(record) ^ 0x55
        out = wire(record, check)
        if Fault.MID_FRAME in self.faults:
            self.faults.discard(Fault.MID_FRAME)
            out = out[len(out) // 2 :]
        if Fault.GARBAGE in self.faults:
            out = self._rng.randbytes(self._rng.randrange(1, 40)) + out
        return out
