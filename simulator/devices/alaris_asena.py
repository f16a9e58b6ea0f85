"""Emulated Alaris Asena GH syringe pump answering ASENA queries (38400 8N1).

Written from the protocol description (/work/shared/reference/protocols.md §4.2 and
docs/protocols/alaris-asena.md), with its own frame builder, CRC and request parser: it shares
no code with ``drivers.codecs`` or ``drivers.sessions``.

* A frame is ``!`` + message + ``|`` + CRC + CR; the CRC is CRC-16/CCITT-FALSE of the message as
  4 upper-case hex digits; fields are separated by ``^`` and a reply starts with the command.
* Replies modelled on those quoted in OpenICE sources: ``INST_SERIALNO^8002-51733``,
  ``COMMS_PROTOCOL^Asena Rev 2.1.5``,
  ``INF^<serial>^<alarm>^<mode>^<rate>^ml/h^<drug>^<vi>^ml^<pressure>^mmHg^<HH:MM:SS|24+>^EVENT^<id>``
  and ``ALARM^<code>^<text>^ ``; ``INF_VTBI^ACTIV^<vtbi>^ml^STOP`` (assumed, see the docs).
* Alarm field ``A`` while an alarm is active, ``-`` otherwise; mode ``INF`` infusing, ``HLD`` on
  hold, ``SET`` set-up/standby, ``KVO``, ``EOI`` end of infusion (assumed tokens, docs).
* Model alarms: occlusion -> AL_OCCLU, end_of_volume -> AL_EOIKV (KVO) or AL_EOIST, battery_low ->
  AL_LWBAT, battery_empty -> AL_EMBAT. "air" and "door_open" are not reported: Asena GH/CC/GS are
  syringe pumps with no air-in-line detector and no door.
* A request with a bad CRC gets no reply (assumed). Any command that is not one of the read
  queries is recorded in ``forbidden`` and not acted on.

Faults: GARBAGE (noise before each reply), BAD_CHECKSUM (every reply's CRC off by one while set),
MID_FRAME (the next reply loses its first half, once), ABSURD_VALUE (rate 99999.99 mL/h).
WRONG_LENGTH has no meaning here (no length field). SILENCE and UNPLUG are the runner's.
"""

from __future__ import annotations

import random
from typing import ClassVar

from simulator.devices.base import Fault
from simulator.model import PumpModelState, Vitals

READ_QUERIES = frozenset(
    {"INF", "INF_VTBI", "ALARM", "INST_SERIALNO", "COMMS_PROTOCOL", "COMMS_RESPONSE_MAX"}
)
MODE_TOKENS = {
    "infusing": "INF",
    "paused": "HLD",
    "standby": "SET",
    "kvo": "KVO",
    "complete": "EOI",
}
ALARM_TEXT = {
    "AL_NOALM": " ",
    "AL_OCCLU": "OCCLUSION",
    "AL_EOIKV": "END OF INFUSION KVO",
    "AL_EOIST": "END OF INFUSION",
    "AL_EMBAT": "BATTERY EMPTY",
    "AL_LWBAT": "LOW BATTERY",
}


def ccitt_false(data: bytes) -> int:
    """Bit-by-bit CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first, no final XOR)."""
    register = 0xFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (register >> 15) & 1
            register = (register << 1) & 0xFFFF
            if top ^ ((byte >> bit) & 1):
                register ^= 0x1021
    return register


def build_frame(message: str, *, bad_crc: bool = False) -> bytes:
    text = message.encode("ascii")
    crc = ccitt_false(text)
    if bad_crc:
        crc = (crc + 1) & 0xFFFF
    return b"!" + text + b"|" + f"{crc:04X}".encode("ascii") + b"\r"


def hms(seconds: float | None) -> str:
    """HH:MM:SS below 24 h, ``24+`` above, empty when there is no end time."""
    if seconds is None:
        return ""
    whole = int(seconds)
    if whole >= 24 * 3600:
        return "24+"
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class AlarisAsenaEmulator:
    driver: ClassVar[str] = "alaris-asena"
    period: ClassVar[float] = 1.0  # request-driven: transmit() never sends anything

    def __init__(
        self,
        *,
        serial: str = "8002-51733",
        protocol: str = "Asena Rev 2.1.5",
        rng: random.Random | None = None,
    ) -> None:
        self.serial = serial
        self.protocol = protocol
        self.faults: set[Fault] = set()
        self._rng = rng or random.Random(0)
        self._inbox = bytearray()
        self._log_id = 127904
        self.requests: list[str] = []
        self.forbidden: list[str] = []

    def transmit(self, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        return b""

    def receive(self, data: bytes, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        self._inbox += data
        out = bytearray()
        while True:
            start = self._inbox.find(b"!")
            if start < 0:
                self._inbox.clear()
                break
            del self._inbox[:start]
            end = self._inbox.find(b"\r")
            if end < 0:
                break
            frame = bytes(self._inbox[: end + 1])
            del self._inbox[: end + 1]
            message = self._parse(frame)
            if message is not None:
                out += self._reply(message, pump)
        return bytes(out)

    def reset_link(self) -> None:
        self._inbox.clear()

    def _parse(self, frame: bytes) -> str | None:
        body = frame[1:-1]
        if b"!" in body or body.count(b"|") < 1:
            return None
        text, _, crc = body.rpartition(b"|")
        try:
            if int(crc, 16) != ccitt_false(text) or len(crc) != 4:
                return None
            return text.decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return None

    def alarm_code(self, pump: PumpModelState) -> str:
        """The highest-priority active alarm, as the pump's ALARM query reports it."""
        if "occlusion" in pump.alarms:
            return "AL_OCCLU"
        if "end_of_volume" in pump.alarms or pump.state == "complete":
            return "AL_EOIKV" if pump.state == "kvo" else "AL_EOIST"
        if "battery_empty" in pump.alarms:
            return "AL_EMBAT"
        if "battery_low" in pump.alarms or pump.battery_low:
            return "AL_LWBAT"
        return "AL_NOALM"

    def _reply(self, message: str, pump: PumpModelState) -> bytes:
        self.requests.append(message)
        command = message.split("^", 1)[0]
        if command not in READ_QUERIES or "^" in message:
            self.forbidden.append(message)  # never acted on: this pump is only ever read
            return b""
        if command == "INST_SERIALNO":
            text = f"INST_SERIALNO^{self.serial}"
        elif command == "COMMS_PROTOCOL":
            text = f"COMMS_PROTOCOL^{self.protocol}"
        elif command == "COMMS_RESPONSE_MAX":
            text = "COMMS_RESPONSE_MAX^4000^ms"
        elif command == "ALARM":
            code = self.alarm_code(pump)
            text = f"ALARM^{code}^{ALARM_TEXT[code]}^ "  # as OpenICE's !ALARM^AL_NOALM^ ^ |C73B
        elif command == "INF_VTBI":
            if pump.vtbi_ml > 0:
                text = f"INF_VTBI^ACTIV^{pump.vtbi_ml:.3f}^ml^STOP"
            else:
                text = "INF_VTBI^DEACT^^^"
        else:
            text = self._inf(pump)
        frame = build_frame(text, bad_crc=Fault.BAD_CHECKSUM in self.faults)
        if Fault.MID_FRAME in self.faults:
            self.faults.discard(Fault.MID_FRAME)
            frame = frame[len(frame) // 2 :]
        if Fault.GARBAGE in self.faults:
            noise = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(1, 40)))
            frame = noise + frame
        return frame

    def _inf(self, pump: PumpModelState) -> str:
        paused = pump.state == "paused" or "paused" in pump.alarms
        mode = "HLD" if paused else MODE_TOKENS.get(pump.state, "SET")
        running = mode in ("INF", "KVO")
        rate = pump.rate_ml_h if running else 0.0
        if Fault.ABSURD_VALUE in self.faults:
            rate = 99999.99
        code = self.alarm_code(pump)
        flag = "-" if code == "AL_NOALM" else "A"
        pressure = 530.15 if "occlusion" in pump.alarms else 17.91
        self._log_id += 1
        return (
            f"INF^{self.serial}^{flag}^{mode}^{rate:.2f}^ml/h^^{pump.volume_infused_ml:.3f}^ml^"
            f"{pressure:.2f}^mmHg^{hms(pump.time_remaining_s)}^EVENT^{self._log_id}"
        )
