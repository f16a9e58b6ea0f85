"""B. Braun BCC codec: golden blocks ⇄ encoders and events, every chunking, faults, fuzz.

Golden vectors are written in ``<SOH>``/``<RS>`` notation (as in mindleaving's tests) and turned
into bytes by ``ctl``. Their length and check fields were worked out by hand from TIS 3.2.3 and
are pinned here; nothing below computes them with the code under test.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs.base import FrameRejected
from drivers.codecs.bbraun_bcc import (
    ACK_BYTE,
    MAX_WIRE_BLOCK,
    NAK_BYTE,
    BbraunBccCodec,
    BccAlarm1,
    BccBlock,
    BccRecord,
    BccResponse,
    CorruptBlock,
    channel_of,
    checksum,
    decode_block,
    decode_content,
    destuff,
    encode_ack,
    encode_alive,
    encode_block,
    encode_mem_get,
    encode_mem_getslot,
    encode_nak,
    encode_version,
    stuff,
)
from drivers.errors import DriverUsageError, ProtocolError

CONTROL = {"<SOH>": "\x01", "<STX>": "\x02", "<ETX>": "\x03", "<EOT>": "\x04"}
CONTROL |= {"<ETB>": "\x17", "<RS>": "\x1e"}


def ctl(text: str) -> bytes:
    for name, char in CONTROL.items():
        text = text.replace(name, char)
    return text.encode("latin-1")


# TIS 3.2.6 / mindleaving BBraunBccFrameReaderTest.cs: the only published vector. Unstuffed.
ALIVE = ctl("<SOH>00031<STX>1/1/1>ADMIN:ALIVE<ETX>00061<EOT>")
# The same request with stuffing on (TIS 3.2.3.1): D->EX, E->EE; length and check unchanged.
ALIVE_STUFFED = ctl("<SOH>00031<STX>1/1/1>AEXMIN:ALIVEE<ETX>00061<EOT>")
VERSION = ctl("<SOH>00041<STX>ComSystem/1/1>ADMIN:VERSION<ETX>00102<EOT>")
MEM_GET = ctl("<SOH>00035<STX>ComSystem/1/1>MEM:GET<ETX>00153<EOT>")
MEM_GET_STUFFED = ctl("<SOH>00035<STX>ComSysteem/1/1>MEEM:GEET<ETX>00153<EOT>")
GETSLOT_1A = ctl("<SOH>00042<STX>ComSystem/1/1>MEM:GETSLOT#1A<ETX>00110<EOT>")

# Hand-written responses from TIS 3.2.6 (bedId "ComSystem" as in the TIS examples).
GNACK = ctl("<SOH>00046<STX>ComSystem/1/1>1199,50100,GNACK,0<ETX>00132<EOT>")
GNACK_STUFFED = ctl("<SOH>00046<STX>ComSysteem/1/1>1199,50100,GNACK,0<ETX>00132<EOT>")
VERSION_REPLY = ctl("<SOH>00044<STX>ComSystem/1/1>1199,50100,V3.30<ETX>00220<EOT>")
MEM_GET_PART1 = ctl(
    "<SOH>00406<STX>ComSystem/1/1>1200,50100,FMNOR,1<RS>1200,50100,FMSTAT,00051<RS>"
    "1200,50111,INRT,12.50<RS>1200,50111,INVTB,50.0<RS>1200,50111,INVI,3.2<RS>"
    "1200,50111,INRMT,13478<RS>1200,50111,INSOL,Ketamine<RS>1200,50111,INSOLSN,Ketamin<RS>"
    "1200,50111,INDCON,1<RS>1200,50111,INDCONU,31<RS>1200,50111,DSSTATUS,00051<RS>"
    "1200,50111,INM1,0<RS>1200,50111,INM3,1<RS>1200,50111,INM6,0<RS>1200,50111,INM10,0<RS>"
    "1200,50111,INA3,0<RS>1200,50111,INA7,0<RS>1200,50111,INA15,0<ETB>00016<EOT>"
)
MEM_GET_PART2 = ctl(
    "<SOH>00227<STX>ComSystem/1/1>1201,501110,INRT,2.00<RS>1201,501110,INVTB,_NV<RS>"
    "1201,501110,INVI,0.4<RS>1201,501110,INRMT,65535<RS>1201,501110,INSOL,Propofol 1%<RS>"
    "1201,501110,INM1,0<RS>1201,501110,INM3,0<RS>1201,501110,INA3,1<RS>"
    "1201,501110,ALARM1,1024<ETX>00217<EOT>"
)

# Real-looking block from mindleaving BBraunBccCommunicatorTest.cs (MIT), part 1: 1152 bytes,
# ETB, check 00002, consistent (verified by hand). Sent with stuffing off.
REAL_PART1 = ctl(
    "<SOH>01152<STX>ComSystem/1/1>214,50100,FMNOR,1<RS>214,50100,FMSTAT,00051<RS>"
    "214,50100,FMDONGLE,T<RS>214,50100,FMBANY,_NV<RS>214,50100,FMRT,FMS1NSNS<RS>"
    "214,50100,FMRSTAT,00051<RS>214,50111,GNNEW,688F030006<RS>214,50111,INRT,0<RS>"
    "214,50111,INSOL,_NV<RS>214,50111,INSOLSN,_NV<RS>214,50111,INSOLID,_NV<RS>"
    "214,50111,INVOLACT,0<RS>214,50111,INRMT,0<RS>214,50111,INDOCAL,0<RS>214,50111,INDCON,0<RS>"
    "214,50111,INDCONU,23<RS>214,50111,INDORT,0<RS>214,50111,INDORTU,23<RS>214,50111,INVI,0<RS>"
    "214,50111,INTIME,0<RS>214,50111,INBORT,800.00<RS>214,50111,INNR,60008D98<RS>"
    "214,50111,INP1,4<RS>214,50111,INP2,0<RS>214,50111,INSYR,0<RS>214,50111,INSTBY,0<RS>"
    "214,50111,INSERNUM,36248<RS>214,50111,INDTNR,6144<RS>214,50111,DSSTATUS,00050<RS>"
    "214,50111,INBOVAL,0.0<RS>214,50111,INBOCNT,0<RS>214,50111,INM1,1<RS>214,50111,INM2,0<RS>"
    "214,50111,INM3,0<RS>214,50111,INM4,_NV<RS>214,50111,INM5,0<RS>214,50111,INM6,0<RS>"
    "214,50111,INM7,0<RS>214,50111,INM8,1<RS>214,50111,INM9,_NV<RS>214,50111,INM10,0<RS>"
    "214,50111,INM11,0<RS>214,50111,INM12,0<RS>214,50111,INA1,0<RS>214,50111,INA2,0<RS>"
    "214,50111,INA3,0<RS>214,50111,INA4,0<RS>214,50111,INA5,0<RS>214,50111,INA6,_NV<RS>"
    "214,50111,INA7,0<RS>214,50111,INA8,0<RS>214,50111,INA9,0<RS>214,50111,INA10,_NV<RS>"
    "214,50111,INA11,0<RS>214,50111,INA12,0<RS>214,50111,INA13,_NV<RS>214,50111,INA14,0<RS>"
    "214,50111,INA15,0<ETB>00002<EOT>"
)
# Part 3 of the same test: its declared length (1067) does not match the stored text
# (reference/protocols.md §4.1), so it is a bad-block vector.
REAL_PART3_HEAD = ctl("<SOH>01067<STX>ComSystem/1/1>215,50114,GNNEW,688F030006<RS>")
REAL_PART3_TAIL = ctl("215,50114,INRT,0.10<RS>215,50114,INA15,0<ETX>00127<EOT>")


def events(data: bytes, *, stuffing: bool = True, chunk: int | None = None) -> list[object]:
    codec = BbraunBccCodec(stuffing=stuffing)
    if chunk is None:
        codec.receive(data)
    else:
        for i in range(0, len(data), chunk):
            codec.receive(data[i : i + chunk])
    return list(codec.events())


# --- golden vectors ⇄ encoders -------------------------------------------------------------


def test_published_alive_vector_is_the_unstuffed_block() -> None:
    assert encode_alive(stuffing=False) == ALIVE
    assert len(ALIVE) == 31 and checksum(ALIVE[:-6]) == 61


def test_alive_with_stuffing_keeps_length_and_check_of_the_unstuffed_block() -> None:
    assert encode_alive() == ALIVE_STUFFED  # stuffing is the default
    assert len(ALIVE_STUFFED) == 33 and ALIVE_STUFFED[1:6] == b"00031"
    assert destuff(ALIVE_STUFFED) == ALIVE and stuff(ALIVE) == ALIVE_STUFFED


@pytest.mark.parametrize(
    ("encoded", "golden"),
    [
        (encode_version("ComSystem", stuffing=False), VERSION),
        (encode_mem_get("ComSystem", stuffing=False), MEM_GET),
        (encode_mem_get("ComSystem"), MEM_GET_STUFFED),
        (encode_mem_getslot("ComSystem", 1, 10, stuffing=False), GETSLOT_1A),
        (encode_block("ComSystem", "1199,50100,GNACK,0"), GNACK_STUFFED),
        (encode_ack(), ACK_BYTE),
        (encode_nak(), NAK_BYTE),
    ],
)
def test_encoders_match_golden_bytes(encoded: bytes, golden: bytes) -> None:
    assert encoded == golden


def test_acknowledgements_are_single_bytes() -> None:
    assert (ACK_BYTE, NAK_BYTE) == (b"\x06", b"\x15")


@pytest.mark.parametrize("bed", ["", "x" * 16, "bed id", "a>b", "Bett-1"])
def test_encoder_refuses_an_impossible_bed_id(bed: str) -> None:
    with pytest.raises(DriverUsageError):
        encode_block(bed, "MEM:GET")


def test_encoder_refuses_slots_outside_the_rack() -> None:
    with pytest.raises(DriverUsageError):
        encode_mem_getslot("ComSystem", 1, 25)


# --- golden responses ⇄ events ------------------------------------------------------------


def test_gnack_block_carries_the_real_bed_id() -> None:
    block = decode_block(GNACK, stuffing=False)
    assert block == BccBlock("ComSystem", True, (BccRecord(1199, "50100", "GNACK", "0"),))
    assert decode_block(GNACK_STUFFED, stuffing=True) == block
    assert decode_content(block.records).alive


def test_version_reply_is_a_three_field_record() -> None:
    block = decode_block(VERSION_REPLY, stuffing=False)
    assert block.records == (BccRecord(1199, "50100", "V3.30", None),)
    assert decode_content(block.records).version == "V3.30"


def test_two_part_mem_get_is_reassembled_and_decoded() -> None:
    out = events(MEM_GET_PART1 + MEM_GET_PART2, stuffing=False)
    assert [type(e) for e in out] == [BccBlock, BccBlock, BccResponse]
    first, second, response = out
    assert isinstance(first, BccBlock) and not first.final and len(first.records) == 18
    assert isinstance(second, BccBlock) and second.final
    assert isinstance(response, BccResponse) and response.blocks == 2
    assert len(response.records) == 27 and response.bed_id == "ComSystem"
    content = decode_content(response.records)
    one, ten = content.pumps
    assert (one.channel, one.rate_ml_h, one.vtbi_ml, one.volume_infused_ml) == (
        "11",
        12.5,
        50.0,
        3.2,
    )
    assert (one.time_remaining_s, one.drug, one.drug_short) == (13478.0, "Ketamine", "Ketamin")
    assert (one.concentration, one.concentration_unit) == (1.0, "mg/mL")
    assert one.active == frozenset({"INM3"}) and one.dsstatus == 51 and not one.problems
    # 501110: BCC 3.30 two-digit slot 10 = "A"; INRMT 65535 = no end time; INVTB _NV.
    assert (ten.channel, ten.rate_ml_h, ten.vtbi_ml, ten.time_remaining_s) == (
        "1A",
        2.0,
        None,
        None,
    )
    assert ten.drug == "Propofol 1%" and ten.active == frozenset({"INA3"})
    assert ten.alarm1 == BccAlarm1.PRESSURE_TOO_HIGH


def test_real_capture_part1_decodes() -> None:
    (block,) = events(REAL_PART1, stuffing=False)
    assert isinstance(block, BccBlock) and block.bed_id == "ComSystem" and not block.final
    assert len(block.records) == 58 and not block.problems
    assert block.records[0] == BccRecord(214, "50100", "FMNOR", "1")
    (pump,) = decode_content(block.records).pumps
    assert (pump.channel, pump.rate_ml_h, pump.drug, pump.dsstatus) == ("11", 0.0, None, 50)
    assert pump.active == frozenset({"INM1", "INM8"})
    assert pump.time_remaining_s == 0.0 and pump.concentration is None


def test_real_capture_part3_is_a_corrupt_block() -> None:
    (event,) = events(REAL_PART3_HEAD + REAL_PART3_TAIL, stuffing=False)
    assert isinstance(event, CorruptBlock) and "length field says 1067" in event.reason


GOLDEN_STREAMS = [
    (ALIVE, False),
    (ALIVE_STUFFED, True),
    (GNACK_STUFFED, True),
    (MEM_GET_PART1 + MEM_GET_PART2, False),
    (stuff(MEM_GET_PART1) + stuff(MEM_GET_PART2), True),
    (REAL_PART1, False),
    (b"\x00noise" + GNACK + b"\x01\x02half" + VERSION_REPLY, False),
]


@pytest.mark.parametrize(("data", "stuffing"), GOLDEN_STREAMS)
def test_split_at_every_offset_and_byte_by_byte(data: bytes, stuffing: bool) -> None:
    whole = events(data, stuffing=stuffing)
    assert events(data, stuffing=stuffing, chunk=1) == whole
    for cut in range(1, len(data)):
        codec = BbraunBccCodec(stuffing=stuffing)
        codec.receive(data[:cut])
        codec.receive(data[cut:])
        assert list(codec.events()) == whole, cut


# --- faults ---------------------------------------------------------------------------------


def test_garbage_before_a_block_is_one_rejection() -> None:
    out = events(b"\xff\x00junk" + GNACK, stuffing=False)
    assert isinstance(out[0], FrameRejected) and out[0].data == b"\xff\x00junk"
    assert isinstance(out[1], BccBlock)


def test_block_cut_short_by_a_new_soh_is_rejected_then_the_next_block_decodes() -> None:
    out = events(MEM_GET_PART1[:100] + GNACK, stuffing=False)
    assert isinstance(out[0], FrameRejected) and "cut short" in out[0].reason
    assert isinstance(out[1], BccBlock) and decode_content(out[1].records).alive


def test_start_in_the_middle_of_a_block() -> None:
    out = events(MEM_GET_PART2[50:] + GNACK, stuffing=False)
    assert isinstance(out[0], FrameRejected)
    assert [type(e) for e in out[1:]] == [BccBlock, BccResponse]


def test_bad_checksum_is_a_corrupt_block_to_nak() -> None:
    bad = GNACK[:-6] + b"00133" + GNACK[-1:]
    (event,) = events(bad, stuffing=False)
    assert isinstance(event, CorruptBlock) and "checksum" in event.reason


def test_wrong_length_is_a_corrupt_block() -> None:
    bad = GNACK[:1] + b"00047" + GNACK[6:]
    (event,) = events(bad, stuffing=False)
    assert isinstance(event, CorruptBlock) and "length" in event.reason


def test_unstuffed_block_on_a_stuffed_line_is_explained() -> None:
    (event,) = events(ALIVE, stuffing=True)
    assert isinstance(event, CorruptBlock) and "stuffing" in event.reason


def test_stuffed_block_on_an_unstuffed_line_is_explained() -> None:
    (event,) = events(ALIVE_STUFFED, stuffing=False)
    assert isinstance(event, CorruptBlock) and "stuffing on at the device" in event.reason


def test_block_that_never_ends_is_rejected_and_the_codec_recovers() -> None:
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(b"\x01" + b"9" * (MAX_WIRE_BLOCK + 10))
    (event,) = list(codec.events())
    assert isinstance(event, FrameRejected) and "longer" in event.reason
    codec.receive(GNACK)
    assert [type(e) for e in codec.events()] == [BccBlock, BccResponse]


def test_a_new_request_drops_an_unfinished_response() -> None:
    codec = BbraunBccCodec(stuffing=False)
    codec.receive(MEM_GET_PART1)
    codec.reset_response()
    codec.receive(MEM_GET_PART2)
    response = list(codec.events())[-1]
    assert isinstance(response, BccResponse) and response.blocks == 1


def test_malformed_records_are_dropped_from_a_sound_block() -> None:
    block = encode_block("ComSystem", "1,50111,INRT,1.0\x1ejunk\x1e1,50199X,INRT,2", stuffing=False)
    decoded = decode_block(block, stuffing=False)
    assert decoded.records == (BccRecord(1, "50111", "INRT", "1.0"),)
    assert len(decoded.problems) == 2


def test_out_of_range_values_are_dropped_with_a_problem() -> None:
    records = [
        BccRecord(1, "50111", "INRT", "1800.01"),
        BccRecord(1, "50111", "INVI", "-1"),
        BccRecord(1, "50111", "INSOL", "x" * 26),
        BccRecord(1, "50111", "INA3", "2"),
        BccRecord(1, "50111", "ALARM1", "99999999999"),
    ]
    (pump,) = decode_content(records).pumps
    assert (pump.rate_ml_h, pump.volume_infused_ml, pump.drug) == (None, None, None)
    assert pump.active == frozenset() and pump.alarm1 == 0
    assert len(pump.problems) == 5


def test_gnerr_on_the_rack_and_on_a_slot() -> None:
    content = decode_content(
        [BccRecord(5, "50100", "GNERR", "68"), BccRecord(5, "50112", "GNERR", "39")]
    )
    assert content.rack_error == "68"
    assert [(e.channel, e.code) for e in content.pump_errors] == [("12", "39")]


@pytest.mark.parametrize(
    ("address", "channel"),
    [("50111", "11"), ("5011A", "1A"), ("5012O", "2O"), ("501110", "1A"), ("501124", "1O")],
)
def test_addresses_map_to_channels(address: str, channel: str) -> None:
    assert channel_of(address) == channel


@pytest.mark.parametrize("address", ["50100", "5011P", "501125", "50110", "601111", "5011"])
def test_addresses_outside_a_rack(address: str) -> None:
    assert channel_of(address) is None


def test_strict_decode_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_block(b"\x01garbage\x04", stuffing=False)


# --- properties -----------------------------------------------------------------------------


@given(st.binary(max_size=300))
def test_stuffing_round_trips(data: bytes) -> None:
    assert destuff(stuff(data)) == data


@settings(max_examples=300)
@given(st.binary(max_size=600), st.booleans())
def test_fuzz_only_events_come_out(data: bytes, stuffing: bool) -> None:
    codec = BbraunBccCodec(stuffing=stuffing)
    codec.receive(data)
    for event in codec.events():
        assert isinstance(event, BccBlock | BccResponse | CorruptBlock | FrameRejected)


@settings(max_examples=300)
@given(st.sampled_from([GNACK, MEM_GET_PART1, MEM_GET_PART2]), st.data())
def test_fuzz_mutated_golden_blocks(block: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(block) - 1))
    value = data.draw(st.integers(0, 255))
    mutated = block[:index] + bytes([value]) + block[index + 1 :]
    try:
        decoded = decode_block(mutated, stuffing=False)
    except ProtocolError:
        return
    for pump in decode_content(decoded.records).pumps:
        assert pump.rate_ml_h is None or 0 <= pump.rate_ml_h <= 1800
        assert pump.volume_infused_ml is None or 0 <= pump.volume_infused_ml <= 9999.9
        assert pump.time_remaining_s is None or 0 <= pump.time_remaining_s < 65535
