"""Emulated B. Braun Space rack (SpaceCom) answering BCC requests, over a pty or TCP.

Written from the protocol description (B. Braun *Technical Interface Specification BCC*
I0022_000030 v4.0 as summarised in /work/shared/reference/protocols.md §4.1 and §9, and
docs/protocols/bbraun-bcc.md), with its own block builder and request parser: it shares no code
with ``drivers.codecs`` or ``drivers.sessions`` so that each checks the other.

Behaviour (TIS section in brackets):

* a block is ``SOH len5 STX bedId/1/1> message ETX|ETB check5 EOT``, length and check over the
  unstuffed block, then D/E/d/e stuffing when ``stuffing`` is on (3.2.3, 3.2.3.1);
* ``ADMIN:ALIVE`` (sent to bed ``1``) -> ``t,50100,GNACK,0`` in a block carrying the real bedId;
  ``ADMIN:VERSION`` -> ``t,50100,V3.30``; ``MEM:GET`` -> one block per pump, the rack's quadruples
  in the first, ETB between, ETX on the last; ``MEM:GETSLOT#xy`` -> that pump or
  ``t,501xy,GNERR,811`` (3.2.6); a request with a bad check, bad syntax or another bedId ->
  ``t,50100,GNERR,68`` (3.2.3, 3.2.4);
* the host's ACK brings the next block, NAK the same block again; a new request restarts (3.2.3).

The first pump slot follows the ``PumpModelState`` handed to ``receive``; further slots follow
the states given at construction. Faults: GARBAGE (noise before each block), BAD_CHECKSUM and
WRONG_LENGTH (every block while set, re-sent blocks too), MID_FRAME (the next block arrives
without its first half, once), ABSURD_VALUE (a rate of 99999 mL/h). SILENCE and UNPLUG are the
runner's (``serve_tcp`` honours SILENCE by dropping replies).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from typing import ClassVar

from simulator.devices.base import Fault
from simulator.model import PumpModelState, Vitals

SOH, STX, ETX, EOT, ACK, NAK, ETB, RS = 0x01, 0x02, 0x03, 0x04, 0x06, 0x15, 0x17, 0x1E
RACK = "50100"
SLOT_CHARS = "0123456789ABCDEFGHIJKLMNO"
READ_ONLY_REQUESTS = ("ADMIN:ALIVE", "ADMIN:VERSION", "MEM:GET", "MEM:GETSLOT#")

# GNERR codes (mindleaving BccErrorCodes.cs).
ERR_NO_DATA, ERR_PUMP_REMOVED, ERR_SYNTAX, ERR_WRONG_ADDRESS = 11, 39, 68, 811

# ALARM1 / STATUS1 / PREALARM bits the emulator sets (docs/protocols/bbraun-bcc.md tables).
A1_NO_ALARM, A1_SYRINGE_EMPTY, A1_PRESSURE = 1 << 0, 1 << 9, 1 << 10
A1_VOLUME_INFUSED, A1_AIR, A1_BATTERY = 1 << 13, 1 << 28, 1 << 2
A2_DOOR_OPENED = 1 << 30
S1_ON, S1_STANDBY, S1_READY, S1_INFUSING, S1_KVO = 1 << 0, 1 << 2, 1 << 6, 1 << 7, 1 << 13
PRE_BATTERY = 1 << 4

CONCENTRATION_CODES = {"ng/ml": 30, "mg/ml": 31, "µg/ml": 32, "ug/ml": 32, "g/ml": 33}


def stuff_bytes(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in (0x44, 0x64):  # D d -> EX ex
            out += b"EX" if byte == 0x44 else b"ex"
        elif byte in (0x45, 0x65):  # E e -> EE ee
            out += b"EE" if byte == 0x45 else b"ee"
        else:
            out.append(byte)
    return bytes(out)


def unstuff_bytes(data: bytes) -> bytes | None:
    """Left to right; None if the data is not validly stuffed."""
    out = bytearray()
    escape: int | None = None
    for byte in data:
        if escape is not None:
            pair = bytes([escape, byte])
            mapped = {b"EX": 0x44, b"EE": 0x45, b"ex": 0x64, b"ee": 0x65}.get(pair)
            if mapped is None:
                return None
            out.append(mapped)
            escape = None
        elif byte in (0x45, 0x65):
            escape = byte
        elif byte in (0x44, 0x64):
            return None
        else:
            out.append(byte)
    return None if escape is not None else bytes(out)


def build_block(
    bed_id: str,
    message: bytes,
    *,
    final: bool = True,
    stuffing: bool = True,
    bad_checksum: bool = False,
    wrong_length: bool = False,
) -> bytes:
    """One device block. ``message`` is the raw body (quadruples joined by RS)."""
    body = bed_id.encode("ascii") + b"/1/1>" + message
    size = len(body) + 14  # SOH + 5 + STX + body + ETX/ETB + 5 + EOT
    if wrong_length:
        size += 1
    head = b"\x01" + b"%05d" % size + b"\x02" + body + (b"\x03" if final else b"\x17")
    check = 0
    for byte in head:
        check = (check + byte) & 0xFF
    if bad_checksum:
        check = (check + 1) & 0xFF
    block = head + b"%05d" % check + b"\x04"
    return stuff_bytes(block) if stuffing else block


def quadruples(records: Sequence[tuple[int, str, str, str | None]]) -> bytes:
    """``reltime,address,PARAM,value`` joined by RS; value None -> three fields (VERSION)."""
    texts = []
    for reltime, address, parameter, value in records:
        text = f"{reltime},{address},{parameter}"
        texts.append(text if value is None else f"{text},{value}")
    return "\x1e".join(texts).encode("latin-1")


def parse_request(frame: bytes, *, stuffing: bool = True) -> tuple[str, str] | None:
    """``(bedId, message)`` of one host request SOH..EOT, or None if it fails any check."""
    raw = unstuff_bytes(frame) if stuffing else frame
    if raw is None or len(raw) < 21 or raw[0] != SOH or raw[6] != STX or raw[-7] != ETX:
        return None
    if not raw[1:6].isdigit() or int(raw[1:6]) != len(raw) or not raw[-6:-1].isdigit():
        return None
    if int(raw[-6:-1]) != sum(raw[:-6]) % 256:
        return None
    text = raw[7:-7].decode("latin-1")
    address, sep, message = text.partition(">")
    if not sep or not address.endswith("/1/1") or len(address) == len("/1/1"):
        return None
    return address[: -len("/1/1")], message


def _concentration(text: str) -> tuple[str, str]:
    value, _, unit = text.strip().partition(" ")
    code = CONCENTRATION_CODES.get(unit.strip().lower())
    try:
        number = float(value)
    except ValueError:
        return "_NV", "_NV"
    return f"{number:g}", "_NV" if code is None else str(code)


#: One response block still to send: (bedId, message, final).
Block = tuple[str, bytes, bool]


class BbraunSpaceEmulator:
    driver: ClassVar[str] = "bbraun-bcc"
    period: ClassVar[float] = 1.0  # request-driven: transmit() never sends anything

    def __init__(
        self,
        *,
        bed_id: str = "ComSystem",
        stuffing: bool = True,
        slots: tuple[str, ...] = ("11",),
        extra_pumps: dict[str, PumpModelState] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.bed_id = bed_id
        self.stuffing = stuffing
        self.slots = slots
        self.extra_pumps = dict(extra_pumps or {})
        self.removed: set[str] = set()
        self.faults: set[Fault] = set()
        self._rng = rng or random.Random(0)
        self._inbox = bytearray()
        self._blocks: list[Block] = []
        self._index = 0
        #: Every request text received, for tests; ``forbidden`` holds any non-read request.
        self.requests: list[str] = []
        self.forbidden: list[str] = []
        self.acks = 0
        self.naks = 0

    # -- Emulator protocol -------------------------------------------------------------------

    def transmit(self, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        return b""

    def receive(self, data: bytes, t: float, vitals: Vitals, pump: PumpModelState) -> bytes:
        self._inbox += data
        out = bytearray()
        while self._inbox:
            first = self._inbox[0]
            if first == ACK:
                del self._inbox[0]
                self.acks += 1
                if self._blocks and self._index + 1 < len(self._blocks):
                    self._index += 1
                    out += self._send_current()
                else:
                    self._blocks = []
                continue
            if first == NAK:
                del self._inbox[0]
                self.naks += 1
                if self._blocks:
                    out += self._send_current()
                continue
            if first != SOH:
                del self._inbox[0]  # line noise from the host side: ignore
                continue
            end = self._inbox.find(bytes([EOT]))
            again = self._inbox.find(bytes([SOH]), 1)
            if again != -1 and (end == -1 or again < end):
                del self._inbox[:again]
                continue
            if end == -1:
                break
            frame = bytes(self._inbox[: end + 1])
            del self._inbox[: end + 1]
            self._blocks = self._answer(frame, t, pump)
            self._index = 0
            out += self._send_current()
        return bytes(out)

    def reset_link(self) -> None:
        """A new connection: forget partial input and any response in progress."""
        self._inbox.clear()
        self._blocks = []

    # -- requests ----------------------------------------------------------------------------

    def _answer(
        self, frame: bytes, t: float, pump: PumpModelState
    ) -> list[tuple[str, bytes, bool]]:
        now = int(t)
        parsed = parse_request(frame, stuffing=self.stuffing)
        if parsed is None:
            return [(self.bed_id, quadruples([(now, RACK, "GNERR", str(ERR_SYNTAX))]), True)]
        bed, message = parsed
        self.requests.append(message)
        if not message.startswith(READ_ONLY_REQUESTS):
            self.forbidden.append(message)
        if message == "ADMIN:ALIVE" and bed in ("1", self.bed_id):
            return [(self.bed_id, quadruples([(now, RACK, "GNACK", "0")]), True)]
        if bed != self.bed_id:
            return [(self.bed_id, quadruples([(now, RACK, "GNERR", str(ERR_SYNTAX))]), True)]
        if message == "ADMIN:VERSION":
            return [(self.bed_id, quadruples([(now, RACK, "V3.30", None)]), True)]
        if message == "MEM:GET":
            return self._mem_get(now, pump)
        if message.startswith("MEM:GETSLOT#") and len(message) == 14:
            slot = message[12:]
            if slot in self.slots:
                return [(self.bed_id, quadruples(self._pump_records(now, slot, pump)), True)]
            error = (now, f"501{slot}", "GNERR", str(ERR_WRONG_ADDRESS))
            return [(self.bed_id, quadruples([error]), True)]
        return [(self.bed_id, quadruples([(now, RACK, "GNERR", str(ERR_SYNTAX))]), True)]

    def _mem_get(self, now: int, pump: PumpModelState) -> list[Block]:
        rack = [
            (now, RACK, "FMNOR", "1"),
            (now, RACK, "FMSTAT", "00051"),
            (now, RACK, "FMRSTAT", "00051"),
        ]
        if not self.slots:
            rack.append((now, RACK, "GNERR", str(ERR_NO_DATA)))
            return [(self.bed_id, quadruples(rack), True)]
        blocks = []
        for index, slot in enumerate(self.slots):
            records = self._pump_records(now, slot, pump)
            if index == 0:
                records = rack + records
            blocks.append((self.bed_id, quadruples(records), index == len(self.slots) - 1))
        return blocks

    def _pump_records(
        self, now: int, slot: str, pump: PumpModelState
    ) -> list[tuple[int, str, str, str | None]]:
        address = f"501{slot}"
        if slot in self.removed:
            return [(now, address, "GNERR", str(ERR_PUMP_REMOVED))]
        state = pump if slot == self.slots[0] else self.extra_pumps.get(slot, PumpModelState())
        alarms = state.alarms
        paused = state.state == "paused" or "paused" in alarms
        infusing = state.state in ("infusing", "kvo") and not paused
        kvo = state.state == "kvo"
        inm = dict.fromkeys(range(1, 14), 0)
        ina = dict.fromkeys(range(1, 17), 0)
        inm[8] = 1  # mains power
        alarm1, alarm2, status1, prealarm = 0, 0, S1_ON, 0
        if infusing:
            inm[3] = 1
            status1 |= S1_INFUSING
        if kvo:
            inm[10] = 1
            status1 |= S1_KVO
        if paused or state.state == "complete":
            inm[1] = 1
            status1 |= S1_READY
        if state.state == "standby" and not paused:
            inm[6] = 1
            status1 |= S1_STANDBY
        if "occlusion" in alarms:
            ina[3], alarm1 = 1, alarm1 | A1_PRESSURE
        if "air" in alarms:
            ina[15], alarm1 = 1, alarm1 | A1_AIR
        if "end_of_volume" in alarms or state.state == "complete":
            ina[7], alarm1 = 1, alarm1 | A1_VOLUME_INFUSED
        if "container_empty" in alarms:
            ina[2], alarm1 = 1, alarm1 | A1_SYRINGE_EMPTY
        if "battery_empty" in alarms:
            ina[1], alarm1 = 1, alarm1 | A1_BATTERY
        if "battery_low" in alarms or state.battery_low:
            ina[11], prealarm = 1, prealarm | PRE_BATTERY
        if "door_open" in alarms:
            ina[13], alarm2 = 1, alarm2 | A2_DOOR_OPENED
        remaining = state.time_remaining_s
        rmt = "65535" if remaining is None else str(min(65535, int(remaining)))
        rate = 99999.0 if Fault.ABSURD_VALUE in self.faults else state.rate_ml_h
        concentration, unit = _concentration(state.concentration)
        records: list[tuple[int, str, str, str | None]] = [
            (now, address, "INRT", f"{rate:.2f}"),
            (now, address, "INVTB", f"{state.vtbi_ml:.1f}" if state.vtbi_ml > 0 else "_NV"),
            (now, address, "INVI", f"{state.volume_infused_ml:.1f}"),
            (now, address, "INRMT", rmt),
            (now, address, "INSOL", state.drug[:25] or "_NV"),
            (now, address, "INSOLSN", state.drug[:8] or "_NV"),
            (now, address, "INDCON", concentration),
            (now, address, "INDCONU", unit),
            (now, address, "DSSTATUS", "00051"),
        ]
        records += [(now, address, f"INM{n}", str(v)) for n, v in inm.items()]
        records += [(now, address, f"INA{n}", str(v)) for n, v in ina.items()]
        records += [
            (now, address, "ALARM1", str(alarm1 or A1_NO_ALARM)),
            (now, address, "ALARM2", str(alarm2)),
            (now, address, "STATUS1", str(status1)),
            (now, address, "PREALARM", str(prealarm)),
        ]
        return records

    # -- sending -----------------------------------------------------------------------------

    def _send_current(self) -> bytes:
        bed, message, final = self._blocks[self._index]
        block = build_block(
            bed,
            message,
            final=final,
            stuffing=self.stuffing,
            bad_checksum=Fault.BAD_CHECKSUM in self.faults,
            wrong_length=Fault.WRONG_LENGTH in self.faults,
        )
        if Fault.MID_FRAME in self.faults:
            self.faults.discard(Fault.MID_FRAME)
            block = block[len(block) // 2 :]
        if Fault.GARBAGE in self.faults:
            noise = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(1, 40)))
            block = noise + block
        return block


# --- TCP (SpaceStation / SpaceCom LAN port) ------------------------------------------------

StateProvider = Callable[[], tuple[float, Vitals, PumpModelState]]


class BccTcpServer:
    """A running ``serve_tcp`` server: the driver connects to ``socket://127.0.0.1:<port>``."""

    def __init__(self, emulator: BbraunSpaceEmulator, state_provider: StateProvider) -> None:
        self.emulator = emulator
        self.state_provider = state_provider
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.emulator.reset_link()
        try:
            while data := await reader.read(4096):
                t, vitals, pump = self.state_provider()
                reply = self.emulator.receive(data, t, vitals, pump)
                if reply and Fault.SILENCE not in self.emulator.faults:
                    writer.write(reply)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def drop_connections(self) -> None:
        """Pull the network cable: every open connection is closed by the rack."""
        for writer in list(self._writers):
            writer.close()

    async def close(self) -> None:
        self.drop_connections()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()


async def serve_tcp(
    emulator: BbraunSpaceEmulator, host: str, port: int, state_provider: StateProvider
) -> BccTcpServer:
    """Serve ``emulator`` on ``host:port`` (0 picks a free port; see ``BccTcpServer.port``).

    ``state_provider()`` returns ``(t, vitals, pump)`` at the moment a request arrives.
    """
    tcp = BccTcpServer(emulator, state_provider)
    tcp.server = await asyncio.start_server(tcp._handle, host, port)
    return tcp
