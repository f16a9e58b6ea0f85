"""The pump emulators against the same golden bytes as the drivers (they share no code), their
link-layer behaviour, faults, the read-only record, the TCP server and the import rule."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from simulator.devices import alaris_asena as asena_module
from simulator.devices import bbraun_bcc as bcc_module
from simulator.devices.alaris_asena import AlarisAsenaEmulator, build_frame, ccitt_false, hms
from simulator.devices.base import Fault
from simulator.devices.bbraun_bcc import (
    BbraunSpaceEmulator,
    build_block,
    parse_request,
    quadruples,
    serve_tcp,
    stuff_bytes,
    unstuff_bytes,
)
from simulator.model import PumpModelState, Vitals

ROOT = Path(__file__).resolve().parents[2]

# --- golden bytes (the same as in tests/drivers/codecs/test_*.py) -----------------------------

ALIVE = b"\x0100031\x021/1/1>ADMIN:ALIVE\x0300061\x04"
ALIVE_STUFFED = b"\x0100031\x021/1/1>AEXMIN:ALIVEE\x0300061\x04"
VERSION = b"\x0100041\x02ComSystem/1/1>ADMIN:VERSION\x0300102\x04"
MEM_GET_STUFFED = b"\x0100035\x02ComSysteem/1/1>MEEM:GEET\x0300153\x04"
GETSLOT_1A = b"\x0100042\x02ComSystem/1/1>MEM:GETSLOT#1A\x0300110\x04"
GNACK = b"\x0100046\x02ComSystem/1/1>1199,50100,GNACK,0\x0300132\x04"
GNACK_STUFFED = b"\x0100046\x02ComSysteem/1/1>1199,50100,GNACK,0\x0300132\x04"
VERSION_REPLY = b"\x0100044\x02ComSystem/1/1>1199,50100,V3.30\x0300220\x04"
PART2_RECORDS: list[tuple[int, str, str, str | None]] = [
    (1201, "501110", "INRT", "2.00"),
    (1201, "501110", "INVTB", "_NV"),
    (1201, "501110", "INVI", "0.4"),
    (1201, "501110", "INRMT", "65535"),
    (1201, "501110", "INSOL", "Propofol 1%"),
    (1201, "501110", "INM1", "0"),
    (1201, "501110", "INM3", "0"),
    (1201, "501110", "INA3", "1"),
    (1201, "501110", "ALARM1", "1024"),
]
MEM_GET_PART2 = (
    b"\x0100227\x02ComSystem/1/1>1201,501110,INRT,2.00\x1e1201,501110,INVTB,_NV\x1e"
    b"1201,501110,INVI,0.4\x1e1201,501110,INRMT,65535\x1e1201,501110,INSOL,Propofol 1%\x1e"
    b"1201,501110,INM1,0\x1e1201,501110,INM3,0\x1e1201,501110,INA3,1\x1e"
    b"1201,501110,ALARM1,1024\x0300217\x04"
)

INF = b"!INF|4961\r"
INST_SERIALNO = b"!INST_SERIALNO|457D\r"
COMMS_PROTOCOL = b"!COMMS_PROTOCOL|E8DA\r"
INF_VTBI = b"!INF_VTBI|8456\r"
ALARM = b"!ALARM|50B2\r"
SERIAL_REPLY = b"!INST_SERIALNO^8002-51733|ACFF\r"  # as OpenICE AlarisToNeurowave fakes it
PROTOCOL_REPLY = b"!COMMS_PROTOCOL^Asena Rev 2.1.5|661A\r"  # logged from a pump (OpenICE)
ALARM_NONE_REPLY = b"!ALARM^AL_NOALM^ ^ |C73B\r"  # as OpenICE SingleSimAlaris answers
ALARM_OCCLUSION = b"!ALARM^AL_OCCLU^OCCLUSION^ |6502\r"
INF_INFUSING = b"!INF^8002-51740^-^INF^2.50^ml/h^^12.345^ml^17.91^mmHg^01:23:45^EVENT^127905|B4A2\r"
VTBI_REPLY = b"!INF_VTBI^ACTIV^11.000^ml^STOP|4433\r"
VTBI_NONE = b"!INF_VTBI^DEACT^^^|F6D0\r"

V = Vitals()


def infusing(**changes: object) -> PumpModelState:
    pump = PumpModelState(rate_ml_h=12.5, volume_infused_ml=3.2, vtbi_ml=50.0, state="infusing")
    for name, value in changes.items():
        setattr(pump, name, value)
    return pump


# --- the import rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("module", [bcc_module, asena_module])
def test_emulators_never_import_the_driver(module: object) -> None:
    path = Path(str(getattr(module, "__file__", "")))
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    drivers = [n for n in names if n == "drivers" or n.startswith("drivers.")]
    assert all(n == "drivers.readings" for n in drivers), drivers


# --- B. Braun: golden bytes ⇄ emulator ----------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "stuffing", "parsed"),
    [
        (ALIVE, False, ("1", "ADMIN:ALIVE")),
        (ALIVE_STUFFED, True, ("1", "ADMIN:ALIVE")),
        (VERSION, False, ("ComSystem", "ADMIN:VERSION")),
        (MEM_GET_STUFFED, True, ("ComSystem", "MEM:GET")),
        (GETSLOT_1A, False, ("ComSystem", "MEM:GETSLOT#1A")),
        (ALIVE, True, None),  # a bare D on a stuffed line
        (ALIVE[:-6] + b"00062\x04", False, None),
    ],
)
def test_bcc_parser_reads_the_golden_requests(
    frame: bytes, stuffing: bool, parsed: tuple[str, str] | None
) -> None:
    assert parse_request(frame, stuffing=stuffing) == parsed


def test_bcc_block_builder_reproduces_the_golden_responses() -> None:
    gnack = quadruples([(1199, "50100", "GNACK", "0")])
    assert build_block("ComSystem", gnack, stuffing=False) == GNACK
    assert build_block("ComSystem", gnack) == GNACK_STUFFED
    version = quadruples([(1199, "50100", "V3.30", None)])
    assert build_block("ComSystem", version, stuffing=False) == VERSION_REPLY
    assert build_block("ComSystem", quadruples(PART2_RECORDS), stuffing=False) == MEM_GET_PART2


def test_bcc_stuffing_helpers() -> None:
    assert stuff_bytes(ALIVE) == ALIVE_STUFFED
    assert unstuff_bytes(ALIVE_STUFFED) == ALIVE
    assert unstuff_bytes(b"AEXE") is None and unstuff_bytes(b"Ex") is None


def test_bcc_emulator_answers_alive_and_version_with_the_golden_blocks() -> None:
    emulator = BbraunSpaceEmulator()
    assert emulator.receive(ALIVE_STUFFED, 1199.0, V, infusing()) == GNACK_STUFFED
    version = stuff_bytes(VERSION)
    assert emulator.receive(version, 1199.5, V, infusing()) == stuff_bytes(VERSION_REPLY)
    assert emulator.requests == ["ADMIN:ALIVE", "ADMIN:VERSION"]


def test_bcc_request_split_across_reads() -> None:
    emulator = BbraunSpaceEmulator()
    assert emulator.receive(ALIVE_STUFFED[:10], 1199.0, V, infusing()) == b""
    assert emulator.receive(ALIVE_STUFFED[10:], 1199.0, V, infusing()) == GNACK_STUFFED


def blocks_of(emulator: BbraunSpaceEmulator, first: bytes) -> list[bytes]:
    """Request, then ACK until the final block; every block unstuffed."""
    out = [first]
    while out[-1][-7] != 0x03:
        out.append(emulator.receive(b"\x06", 10.0, V, infusing()))
    return [unstuff_bytes(block) or b"" for block in out]


def test_bcc_mem_get_is_one_block_per_pump_acked_one_by_one() -> None:
    emulator = BbraunSpaceEmulator(slots=("11", "12", "1A"))
    first = emulator.receive(MEM_GET_STUFFED, 10.0, V, infusing())
    blocks = blocks_of(emulator, first)
    assert [b[-7] for b in blocks] == [0x17, 0x17, 0x03]  # ETB, ETB, ETX
    assert b"10,50100,FMNOR,1" in blocks[0] and b"50100" not in blocks[1]
    for block, slot in zip(blocks, (b"11", b"12", b"1A"), strict=True):
        assert b",501" + slot + b",INRT," in block
    assert emulator.receive(b"\x06", 10.0, V, infusing()) == b""  # the response is over
    assert emulator.acks == 3


def test_bcc_nak_repeats_the_block_and_a_new_request_restarts() -> None:
    emulator = BbraunSpaceEmulator(slots=("11", "12"))
    first = emulator.receive(MEM_GET_STUFFED, 10.0, V, infusing())
    assert emulator.receive(b"\x15", 10.0, V, infusing()) == first
    assert emulator.receive(MEM_GET_STUFFED, 10.0, V, infusing()) == first
    assert emulator.naks == 1


def test_bcc_pump_values_follow_the_model() -> None:
    emulator = BbraunSpaceEmulator()
    pump = infusing(alarms={"occlusion", "air"})
    block = unstuff_bytes(emulator.receive(MEM_GET_STUFFED, 10.0, V, pump)) or b""
    text = block.decode("latin-1")
    for record in [
        "10,50111,INRT,12.50",
        "10,50111,INVTB,50.0",
        "10,50111,INVI,3.2",
        "10,50111,INRMT,13478",
        "10,50111,INSOL,Ketamine",
        "10,50111,INDCONU,31",
        "10,50111,INM3,1",
        "10,50111,INA3,1",
        "10,50111,INA15,1",
        "10,50111,ALARM1,268436480",
    ]:
        assert record + "\x1e" in text or record + "\x03" in text, record


# ALIVE to bed "X": the check rises by ord("X") - ord("1") = 39, so 00061 -> 00100.
ALIVE_TO_X = b"\x0100031\x02X/1/1>ADMIN:ALIVE\x0300100\x04"


@pytest.mark.parametrize(
    ("request_frame", "reply_record"),
    [
        (stuff_bytes(ALIVE_TO_X), b",50100,GNERR,68"),  # not the real bedId
        (ALIVE_STUFFED[:-6] + b"00000\x04", b",50100,GNERR,68"),  # bad check on a request
        (stuff_bytes(VERSION.replace(b"ComSystem", b"ComSystex")), b",50100,GNERR,68"),
        (stuff_bytes(GETSLOT_1A), b"1,5011A,GNERR,811"),  # no pump in slot 1A
    ],
)
def test_bcc_error_answers(request_frame: bytes, reply_record: bytes) -> None:
    emulator = BbraunSpaceEmulator(slots=("11",))
    reply = unstuff_bytes(emulator.receive(request_frame, 1.0, V, infusing())) or b""
    assert reply_record in reply and reply[-7] == 0x03


def test_bcc_getslot_for_an_existing_pump() -> None:
    emulator = BbraunSpaceEmulator(slots=("1A",))
    reply = unstuff_bytes(emulator.receive(stuff_bytes(GETSLOT_1A), 1.0, V, infusing())) or b""
    assert b"1,5011A,INRT,12.50" in reply and reply[-7] == 0x03


def test_bcc_records_any_request_that_is_not_a_read() -> None:
    emulator = BbraunSpaceEmulator()
    frame = build_block("ComSystem", b"MEM:SET#11INRT=99")  # a host-side block, same format
    emulator.receive(frame, 1.0, V, infusing())
    assert emulator.forbidden == ["MEM:SET#11INRT=99"]


def test_bcc_faults() -> None:
    emulator = BbraunSpaceEmulator()
    clean = unstuff_bytes(emulator.receive(MEM_GET_STUFFED, 10.0, V, infusing())) or b""
    emulator.faults = {Fault.BAD_CHECKSUM}
    bad = unstuff_bytes(emulator.receive(MEM_GET_STUFFED, 10.0, V, infusing())) or b""
    assert bad[:-6] == clean[:-6] and bad[-6:-1] != clean[-6:-1]
    emulator.faults = {Fault.WRONG_LENGTH}
    wrong = unstuff_bytes(emulator.receive(MEM_GET_STUFFED, 10.0, V, infusing())) or b""
    assert int(wrong[1:6]) == int(clean[1:6]) + 1
    emulator.faults = {Fault.MID_FRAME}
    half = emulator.receive(MEM_GET_STUFFED, 10.0, V, infusing())
    assert not half.startswith(b"\x01") and Fault.MID_FRAME not in emulator.faults
    emulator.faults = {Fault.GARBAGE}
    noisy = emulator.receive(MEM_GET_STUFFED, 10.0, V, infusing())
    assert noisy.endswith(stuff_bytes(clean)) and len(noisy) > len(stuff_bytes(clean))
    emulator.faults = {Fault.ABSURD_VALUE}
    absurd = unstuff_bytes(emulator.receive(MEM_GET_STUFFED, 10.0, V, infusing())) or b""
    assert b"50111,INRT,99999.00" in absurd


def test_bcc_removed_pump_answers_gnerr_39() -> None:
    emulator = BbraunSpaceEmulator(slots=("11",))
    emulator.removed.add("11")
    reply = unstuff_bytes(emulator.receive(MEM_GET_STUFFED, 3.0, V, infusing())) or b""
    assert b"3,50111,GNERR,39" in reply


def test_bcc_emulator_sends_nothing_by_itself() -> None:
    assert BbraunSpaceEmulator().transmit(1.0, V, infusing()) == b""


async def test_bcc_tcp_server_answers_and_can_drop_the_line() -> None:
    emulator = BbraunSpaceEmulator()
    server = await serve_tcp(emulator, "127.0.0.1", 0, lambda: (1199.0, V, infusing()))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(ALIVE_STUFFED)
        await writer.drain()
        reply = await asyncio.wait_for(reader.readexactly(len(GNACK_STUFFED)), 5)
        assert reply == GNACK_STUFFED
        server.drop_connections()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        await server.close()


# --- Alaris: golden bytes ⇄ emulator ------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "crc"),
    [
        (b"INF", 0x4961),
        (b"INST_SERIALNO", 0x457D),
        (b"COMMS_PROTOCOL", 0xE8DA),
        (b"INF_VTBI", 0x8456),
        (b"123456789", 0x29B1),
    ],
)
def test_asena_crc(message: bytes, crc: int) -> None:
    assert ccitt_false(message) == crc


def test_asena_frame_builder_matches_golden_frames() -> None:
    assert build_frame("INF") == INF and build_frame("ALARM") == ALARM
    assert build_frame("INST_SERIALNO^8002-51733") == SERIAL_REPLY


@pytest.mark.parametrize(
    ("request_frame", "pump", "reply"),
    [
        (INST_SERIALNO, infusing(), SERIAL_REPLY),
        (COMMS_PROTOCOL, infusing(), PROTOCOL_REPLY),
        (ALARM, infusing(), ALARM_NONE_REPLY),
        (ALARM, infusing(alarms={"occlusion"}), ALARM_OCCLUSION),
        (INF_VTBI, infusing(vtbi_ml=11.0), VTBI_REPLY),
        (INF_VTBI, infusing(vtbi_ml=0.0), VTBI_NONE),
    ],
)
def test_asena_emulator_answers_golden_requests_with_golden_replies(
    request_frame: bytes, pump: PumpModelState, reply: bytes
) -> None:
    assert AlarisAsenaEmulator().receive(request_frame, 0.0, V, pump) == reply


def test_asena_inf_reply_matches_the_hand_written_golden() -> None:
    emulator = AlarisAsenaEmulator(serial="8002-51740")
    pump = infusing(rate_ml_h=2.5, volume_infused_ml=12.345, vtbi_ml=12.345 + 2.5 * 5025 / 3600)
    assert emulator.receive(INF, 0.0, V, pump) == INF_INFUSING


@pytest.mark.parametrize(
    ("pump", "fields"),
    [
        (infusing(state="paused"), "-^HLD^0.00"),
        (infusing(alarms={"paused"}), "-^HLD^0.00"),
        (infusing(state="standby"), "-^SET^0.00"),
        (infusing(state="kvo", alarms={"end_of_volume"}), "A^KVO^12.50"),
        (infusing(state="complete"), "A^EOI^0.00"),
        (infusing(alarms={"battery_low"}), "A^INF^12.50"),
        (infusing(alarms={"air"}), "-^INF^12.50"),  # no air detector on a syringe pump
    ],
)
def test_asena_inf_mode_and_alarm_flag(pump: PumpModelState, fields: str) -> None:
    reply = AlarisAsenaEmulator().receive(INF, 0.0, V, pump)
    assert reply.startswith(b"!INF^8002-51733^" + fields.encode())


def test_asena_alarm_codes_follow_the_model() -> None:
    emulator = AlarisAsenaEmulator()
    assert emulator.alarm_code(infusing(state="kvo", alarms={"end_of_volume"})) == "AL_EOIKV"
    assert emulator.alarm_code(infusing(state="complete")) == "AL_EOIST"
    assert emulator.alarm_code(infusing(alarms={"battery_low", "occlusion"})) == "AL_OCCLU"
    assert emulator.alarm_code(infusing(battery_low=True)) == "AL_LWBAT"


def test_asena_ignores_bad_crc_and_records_control_commands() -> None:
    emulator = AlarisAsenaEmulator()
    assert emulator.receive(b"!INF|4962\r", 0.0, V, infusing()) == b""
    assert emulator.receive(b"!INF_RATE^5.00^ml/h|0000\r", 0.0, V, infusing()) == b""  # bad CRC
    control = build_frame("INF_RATE^5.00^ml/h") + build_frame("REMOTE_CTRL^ENABLED^3CC1")
    assert emulator.receive(control + build_frame("INF_START"), 0.0, V, infusing()) == b""
    assert emulator.forbidden == ["INF_RATE^5.00^ml/h", "REMOTE_CTRL^ENABLED^3CC1", "INF_START"]


def test_asena_faults() -> None:
    emulator = AlarisAsenaEmulator()
    emulator.faults = {Fault.BAD_CHECKSUM}
    assert emulator.receive(ALARM, 0.0, V, infusing()) == ALARM_NONE_REPLY.replace(b"C73B", b"C73C")
    emulator.faults = {Fault.MID_FRAME}
    half = emulator.receive(ALARM, 0.0, V, infusing())
    assert half == ALARM_NONE_REPLY[len(ALARM_NONE_REPLY) // 2 :]
    emulator.faults = {Fault.GARBAGE}
    assert emulator.receive(ALARM, 0.0, V, infusing()).endswith(ALARM_NONE_REPLY)
    emulator.faults = {Fault.ABSURD_VALUE}
    assert b"^99999.99^ml/h^" in emulator.receive(INF, 0.0, V, infusing())


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (0, "00:00:00"), (249, "00:04:09"), (86399, "23:59:59"), (86400, "24+")],
)
def test_asena_time_remaining_format(seconds: float | None, text: str) -> None:
    assert hms(seconds) == text


def test_catalogue_builds_both_pump_emulators() -> None:
    from simulator.devices import catalogue

    assert isinstance(catalogue.create("bbraun-bcc"), BbraunSpaceEmulator)
    assert isinstance(catalogue.create("alaris-asena"), AlarisAsenaEmulator)
