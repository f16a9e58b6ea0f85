"""GE DRI codec: golden vectors, the real B650 captures in every chunking, each fault, fuzz."""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.codecs.base import FrameRejected
from drivers.codecs.ge_dri import (
    MAX_WIRE_FRAME,
    AlarmRecord,
    BasicClass,
    ClassRequest,
    GeDriCodec,
    GeDriEvent,
    GeDriRecord,
    NibpLabel,
    PhdbClass,
    PhdbRecord,
    WaveformRecord,
    decode_frame,
    decode_record,
    encode_display_request,
    encode_stop_display,
    frame,
)
from drivers.errors import DriverUsageError, ProtocolError
from simulator.devices.ge_dri import GeDriEmulator
from simulator.model import PumpModelState, Vitals

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ge-carescape"
SESSION = (CAPTURES / "b650-2018-07-26-session.raw").read_bytes()
FIRST_21 = (CAPTURES / "b650-2018-07-26-first-21-frames.raw").read_bytes()

# --- golden request vectors ---------------------------------------------------------------
ALL = ClassRequest.EXT1 | ClassRequest.EXT2 | ClassRequest.EXT3
# M1017617 Appendix A (reference/protocols.md §9), byte for byte; the last two are computed from
# the same layout to cover an escaped data byte and an escaped checksum.
REQUESTS = [
    # display data every 10 s, all classes: r_len 0x0031, sr_desc[1] = EOL, phdb_req
    # {DRI_PH_DISPL, 10, class_bf 0x0E}, checksum 0x49
    (10, ALL, "7e31" + "00" * 20 + "ff" + "00" * 18 + "010a000e" + "00" * 5 + "497e"),
    # stop display data: interval 0, no classes, checksum 0x31
    (0, ClassRequest(0), "7e31" + "00" * 20 + "ff" + "00" * 18 + "01" + "00" * 8 + "317e"),
    # interval 126 = 0x7E is escaped as 7D 5E; checksum 0x31 + 0x7E = 0xAF
    (126, ClassRequest(0), "7e31" + "00" * 20 + "ff" + "00" * 18 + "017d5e00" + "00" * 6 + "af7e"),
    # interval 77: checksum 0x31 + 0x4D = 0x7E, itself escaped
    (77, ClassRequest(0), "7e31" + "00" * 20 + "ff" + "00" * 18 + "014d00" + "00" * 6 + "7d5e7e"),
]  # fmt: skip


@pytest.mark.parametrize(("interval", "classes", "wire"), REQUESTS)
def test_display_request_golden_vectors(interval: int, classes: ClassRequest, wire: str) -> None:
    assert encode_display_request(interval, classes) == bytes.fromhex(wire)
    record = decode_frame(bytes.fromhex(wire)[1:-1])
    assert isinstance(record, PhdbRecord)
    assert record.header.maintype == 0
    assert record.subrecords == ()  # a transmission request carries no data


def test_spec_examples_lengths_and_default_classes() -> None:
    assert len(encode_display_request(10)) == 52
    assert encode_display_request(10) == bytes.fromhex(REQUESTS[0][2])
    assert encode_stop_display() == bytes.fromhex(REQUESTS[1][2])


@pytest.mark.parametrize("interval", [-1, 65536])
def test_request_interval_out_of_range_is_a_usage_error(interval: int) -> None:
    with pytest.raises(DriverUsageError):
        encode_display_request(interval)


# --- golden PHDB frame, written by hand from the spec layout -------------------------------
# One basic-class display subrecord: HR 72, NIBP 120/80 (93) fresh, SpO2 97.50 %, PR 71,
# EtCO2 5.00 % at Pamb 760.0 mmHg, FiCO2 invalid, RR 14, no temperatures.
NO = "0180"  # DATA_INVALID -32767
ABSENT_P = "000000000000" + NO * 4  # group absent, 4 invalid values


def _golden(time: str, checksum: str = "") -> str:
    return (
        # header: r_len 318, r_nbr 0, dri level 0x0A, plug 0, r_time, reserved, maintype PHDB,
        # sr_desc[0] = {0, DRI_PH_DISPL}, sr_desc[1] = end of list, sr_desc[2..7] zero
        "3e01" "00" "0a" "0000" + time + "00000000" "0000" "000001" "0000ff" + "00" * 18
        + time  # subrecord time
        + "03000000" "0000" "4800" + NO * 4  # ECG: exists+active, HR 72, ST1-3, imp RR
        + ABSENT_P * 4  # P1-P4
        + "03000000" "0300" "e02e" "401f" "5424" + NO  # NIBP: adult cuff, 120/80/93
        + "00000000" "0b00" + NO + "00000000" "0c00" + NO  # T1, T2 absent
        + "00000000" "0d00" + NO + "00000000" "0e00" + NO  # T3, T4 absent
        + "03000000" "0000" "1626" "4700" + NO * 2  # SpO2 97.50 %, PR 71
        + "03000000" "0100" "f401" + NO + "0e00" "b01d"  # CO2 5.00 %, FI -, RR 14, 760.0
        + "00000000" "0000" + NO * 2  # O2
        + "00000000" "0000" + NO * 2  # N2O
        + "00000000" "0000" + NO * 3  # AA
        + "00000000" "0000" + NO * 8  # flow/volume
        + "00000000" "0000" + NO * 4  # CO/wedge
        + "00000000" "0000" + NO * 3  # NMT
        + NO * 3  # ECG extra (no group header)
        + "00000000" "0000" + NO  # SvO2
        + ABSENT_P * 2  # P5, P6
        + "0000"  # reserved
        + "00" "00" "a100"  # marker, reserved, cl_drilvl_subt: basic, level 0xA, DISPL
        + checksum
    )  # fmt: skip


# r_time 1532624765 = 0x5B59FF7D holds a 0x7D, escaped on the wire as 7D 5D.
GOLDEN_RECORD = bytes.fromhex(_golden("7dff595b"))
GOLDEN_WIRE = bytes.fromhex("7e" + _golden("7d5dff595b", checksum="4a") + "7e")
GOLDEN_VITALS = Vitals(
    hr=72, pulse_rate=71, spo2=97.5, resp_rate=14, etco2_mmhg=38.0, fico2_mmhg=None,
    ambient_mmhg=760.0, temp_c=None, nibp=(120, 80, 93), nibp_at=-5.0,
)  # fmt: skip


def test_golden_phdb_frame_is_self_consistent() -> None:
    assert len(GOLDEN_RECORD) == 318
    assert sum(GOLDEN_RECORD) & 0xFF == 0x4A
    assert frame(GOLDEN_RECORD) == GOLDEN_WIRE


def test_golden_phdb_frame_decodes() -> None:
    codec = GeDriCodec()
    codec.receive(GOLDEN_WIRE)
    [record] = list(codec.events())
    assert isinstance(record, PhdbRecord)
    assert record.header.time == 1532624765
    assert record.header.dri_level == 0x0A
    [sub] = record.subrecords
    assert (sub.phdb_class, sub.subtype, sub.dri_level, sub.time) == (0, 1, 0xA, 1532624765)
    basic = record.basic
    assert basic is not None
    assert (basic.hr, basic.spo2, basic.pulse_rate, basic.resp_rate) == (72, 97.5, 71, 14)
    assert (basic.nibp_sys, basic.nibp_dia, basic.nibp_mean) == (120, 80, 93)
    assert basic.nibp_pulse is None
    assert basic.impedance_rr is None
    assert basic.nibp_flags == NibpLabel(0)
    assert (basic.etco2_percent, basic.ambient_mmhg, basic.etco2_mmhg) == (5.0, 760.0, 38.0)
    assert basic.fico2_percent is None
    assert basic.fico2_mmhg is None
    assert all(not group.exists and value is None for group, value in basic.temperatures)
    assert basic.ecg.exists
    assert basic.ecg.active
    assert basic.co2.active


def test_golden_phdb_frame_is_what_the_emulator_sends() -> None:
    """The emulator has its own encoder: both sides are held to the same hand-written bytes."""
    emulator = GeDriEmulator(epoch=1532624765)
    idle = (Vitals(), PumpModelState())
    emulator.receive(encode_display_request(10, ClassRequest(0)), 0.0, *idle)
    assert emulator.transmit(0.0, GOLDEN_VITALS, PumpModelState()) == GOLDEN_WIRE


# --- the real B650 captures ---------------------------------------------------------------


def decode_all(chunks: Iterable[bytes]) -> list[GeDriEvent]:
    codec = GeDriCodec()
    events: list[GeDriEvent] = []
    for chunk in chunks:
        codec.receive(chunk)
        events += codec.events()
    return events


def basics(events: list[GeDriEvent]) -> list[BasicClass]:
    out = []
    for event in events:
        if isinstance(event, PhdbRecord):
            assert event.basic is not None
            out.append(event.basic)
    return out


def span(values: Iterable[float | None]) -> tuple[float, float]:
    present = [v for v in values if v is not None]
    return min(present), max(present)


SESSION_EVENTS = decode_all([SESSION])
FIRST_21_EVENTS = decode_all([FIRST_21])


@pytest.mark.parametrize(
    ("events", "phdb", "wave", "hr", "spo2", "etco2", "rr"),
    [
        (SESSION_EVENTS, 107, 106, (76, 80), (95.71, 96.65), (3.55, 4.87), (15, 17)),
        (FIRST_21_EVENTS, 11, 10, (79, 80), (95.71, 96.65), (3.82, 4.87), (15, 16)),
    ],
    ids=["session", "first-21-frames"],
)
def test_capture_decodes_to_the_published_values(
    events: list[GeDriEvent],
    phdb: int,
    wave: int,
    hr: tuple[float, float],
    spo2: tuple[float, float],
    etco2: tuple[float, float],
    rr: tuple[float, float],
) -> None:
    assert not [e for e in events if isinstance(e, FrameRejected)]
    assert len(events) == phdb + wave
    assert sum(isinstance(e, PhdbRecord) for e in events) == phdb
    assert sum(isinstance(e, WaveformRecord) for e in events) == wave
    values = basics(events)
    assert span(b.hr for b in values) == hr
    assert span(b.spo2 for b in values) == spo2
    assert span(b.etco2_percent for b in values) == etco2
    assert span(b.resp_rate for b in values) == rr
    assert {b.ambient_mmhg for b in values} == {759.8}
    assert {(b.nibp_sys, b.nibp_dia, b.nibp_mean) for b in values} == {(93, 48, 69)}
    assert span(b.etco2_mmhg for b in values)[1] == pytest.approx(37.0, abs=0.01)
    # every PHDB record carries the four classes, identified by cl_drilvl_subt
    for event in events:
        if isinstance(event, PhdbRecord):
            assert [s.phdb_class for s in event.subrecords] == list(PhdbClass)


def test_capture_nibp_becomes_older_than_60s() -> None:
    flags = [b.nibp_flags for b in basics(SESSION_EVENTS)]
    assert flags[:6] == [NibpLabel.AUTO] * 6
    assert set(flags[6:]) == {NibpLabel.AUTO | NibpLabel.OLDER_THAN_60S}


def test_capture_waveforms_are_their_own_records() -> None:
    waves = [e for e in SESSION_EVENTS if isinstance(e, WaveformRecord)]
    assert {tuple(w.wave_type for w in r.waves) for r in waves} == {(8, 32)}  # PLETH, ENT_100
    assert all(len(w.samples) == 100 for r in waves for w in r.waves)


# --- every chunking gives the same events ------------------------------------------------


def test_first_21_frames_every_offset_is_a_chunk_boundary() -> None:
    # Run r cuts at r, r + 61, r + 122, ...: over all r every offset of the file is a boundary.
    stride = 61
    for first in range(stride):
        cuts = [0, *range(first, len(FIRST_21), stride), len(FIRST_21)]
        chunks = [FIRST_21[a:b] for a, b in itertools.pairwise(cuts)]
        assert decode_all(chunks) == FIRST_21_EVENTS, first


def test_first_frames_split_in_two_at_every_offset() -> None:
    flags = [i for i, byte in enumerate(FIRST_21) if byte == 0x7E]
    head = FIRST_21[: flags[3] + 1]  # the first two frames exactly (each has its own flags)
    expected = decode_all([head])
    assert len(expected) == 2
    for cut in range(len(head) + 1):
        assert decode_all([head[:cut], head[cut:]]) == expected, cut


def test_session_split_in_two_at_sampled_offsets() -> None:
    rng = random.Random(7)
    flags_and_escapes = [i for i, b in enumerate(SESSION) if b in (0x7D, 0x7E)]
    cuts = rng.sample(range(len(SESSION)), 25) + rng.sample(flags_and_escapes, 25)
    for cut in cuts:
        for edge in (cut, cut + 1):
            assert decode_all([SESSION[:edge], SESSION[edge:]]) == SESSION_EVENTS, edge


@pytest.mark.parametrize(
    ("data", "expected"),
    [(FIRST_21, FIRST_21_EVENTS), (SESSION, SESSION_EVENTS)],
    ids=["first-21-frames", "session"],
)
def test_capture_one_byte_at_a_time(data: bytes, expected: list[GeDriEvent]) -> None:
    assert decode_all(data[i : i + 1] for i in range(len(data))) == expected


def test_session_in_seeded_random_chunks() -> None:
    for seed in range(5):
        rng = random.Random(seed)
        chunks, at = [], 0
        while at < len(SESSION):
            size = rng.choice([1, 2, 3, rng.randrange(1, 64), rng.randrange(1, 5000)])
            chunks.append(SESSION[at : at + size])
            at += size
        assert decode_all(chunks) == SESSION_EVENTS, seed


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=60))
def test_first_21_frames_in_random_chunks(sizes: list[int]) -> None:
    chunks, at = [], 0
    for size in sizes:
        chunks.append(FIRST_21[at : at + size])
        at += size
    chunks.append(FIRST_21[at:])
    assert decode_all(chunks) == FIRST_21_EVENTS


# --- faults a real cable produces ----------------------------------------------------------

FRAME_1 = FIRST_21[: FIRST_21.index(b"\x7e", 1) + 1]  # the first PHDB frame, flags included
RECORD_1 = decode_frame(FRAME_1[1:-1])


def kinds(events: list[GeDriEvent]) -> list[str]:
    return ["rejected" if isinstance(e, FrameRejected) else "record" for e in events]


def test_garbage_before_between_and_after_frames() -> None:
    garbage = bytes([0x00, 0x13, 0x7D, 0x7E, 0x55, 0xFF, 0x7E])
    events = decode_all([garbage + FRAME_1 + garbage + FRAME_1 + b"\x01\x02"])
    # each garbage burst holds a flag, so it makes two rejected spans; the tail waits for more
    assert kinds(events) == ["rejected", "rejected", "record", "rejected", "rejected", "record"]
    assert events[2] == events[5] == RECORD_1


def test_start_in_the_middle_of_a_frame() -> None:
    events = decode_all([FRAME_1[600:] + FRAME_1])
    assert kinds(events) == ["rejected", "record"]
    assert "first flag" in events[0].reason  # type: ignore[union-attr]


def test_bad_checksum_is_rejected_then_the_next_frame_decodes() -> None:
    corrupt = bytearray(FRAME_1)
    corrupt[300] ^= 0x01
    events = decode_all([bytes(corrupt) + FRAME_1])
    assert kinds(events) == ["rejected", "record"]
    assert "checksum" in events[0].reason  # type: ignore[union-attr]


def test_frame_with_valid_checksum_but_wrong_r_len_is_rejected() -> None:
    record = bytearray(decode_record_bytes(FRAME_1))
    struct.pack_into("<H", record, 0, len(record) + 2)
    events = decode_all([frame(bytes(record)) + FRAME_1])
    assert kinds(events) == ["rejected", "record"]
    assert "r_len" in events[0].reason  # type: ignore[union-attr]


def test_truncated_frame_is_rejected() -> None:
    events = decode_all([FRAME_1[:700] + b"\x7e" + FRAME_1])
    assert kinds(events) == ["rejected", "record"]


@pytest.mark.parametrize("bad", [b"\x7d\x00", b"\x7d\x7d\x5d", b"\x7d"])
def test_invalid_escape_is_rejected(bad: bytes) -> None:
    body = FRAME_1[1:-1]
    events = decode_all([b"\x7e" + body[:100] + bad + body[100:] + b"\x7e" + FRAME_1])
    assert kinds(events) == ["rejected", "record"]


def test_too_short_frame_is_rejected() -> None:
    assert kinds(decode_all([b"\x7e\x01\x02\x03\x7e" + FRAME_1])) == ["rejected", "record"]


def test_frame_that_never_ends_is_rejected_once_then_the_codec_resyncs() -> None:
    endless = b"\x7e" + bytes(range(1, 125)) * (MAX_WIRE_FRAME // 100)
    events = decode_all([endless[i : i + 777] for i in range(0, len(endless), 777)] + [FRAME_1])
    assert kinds(events) == ["rejected", "record"]
    assert "longer" in events[0].reason  # type: ignore[union-attr]


def test_class_comes_from_cl_drilvl_subt_not_position() -> None:
    record = bytearray(decode_record_bytes(FRAME_1))
    # Point sr_desc[0] at the ext1 subrecord and sr_desc[1] at the basic one.
    struct.pack_into("<HBHB", record, 16, 278, 1, 0, 1)
    decoded = decode_record(bytes(record))
    assert isinstance(decoded, PhdbRecord)
    assert [s.phdb_class for s in decoded.subrecords][:2] == [PhdbClass.EXT1, PhdbClass.BASIC]
    assert decoded.basic == RECORD_1.basic  # type: ignore[union-attr]
    # A basic-looking block labelled ext1 is not read as basic values.
    struct.pack_into("<H", record, 40 + 278 - 2, 0x1A1)
    relabelled = decode_record(bytes(record))
    assert isinstance(relabelled, PhdbRecord)
    assert relabelled.basic is None


def test_alarm_record_is_its_own_event_with_no_physiological_data() -> None:
    message = b"SpO2 PROBE OFF".ljust(80, b"\0") + struct.pack("<hhh12x", 1, 2, 1)
    subrecord = struct.pack("<5h", 0, 1, 0, 0, 0) + message + bytes(98 * 4) + bytes(10)
    header = struct.pack("<HBBHI4xH", 40 + len(subrecord), 1, 10, 0, 1532624765, 4)
    header += struct.pack("<HBHB", 0, 1, 0, 0xFF).ljust(24, b"\0")
    events = decode_all([frame(header + subrecord)])
    assert len(events) == 1
    assert isinstance(events[0], AlarmRecord)
    assert events[0].sound_on
    assert [(m.text, m.priority) for m in events[0].messages] == [("SpO2 PROBE OFF", 2)]


def decode_record_bytes(wire: bytes) -> bytes:
    """Unescape one whole frame and drop its checksum (a test-side helper)."""
    body = wire[1:-1].replace(b"\x7d\x5e", b"\x7e").replace(b"\x7d\x5d", b"\x7d")
    return body[:-1]


# --- fuzz: nothing escapes -----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(data: bytes) -> None:
    events = decode_all([data, FRAME_1])
    assert events[-1] == RECORD_1  # whatever came before, the codec resynchronises
    assert all(isinstance(e, FrameRejected | PhdbRecord | WaveformRecord) for e in events)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=0, max_value=len(FIRST_21)),
    st.lists(st.tuples(st.integers(0, len(FIRST_21) - 1), st.integers(0, 255)), max_size=20),
    st.lists(st.tuples(st.integers(0, len(FIRST_21)), st.binary(max_size=30)), max_size=5),
)
def test_corrupted_capture_never_raises(
    cut: int, flips: list[tuple[int, int]], inserts: list[tuple[int, bytes]]
) -> None:
    data = bytearray(FIRST_21)
    for at, value in flips:
        data[at] = value
    for at, extra in sorted(inserts, reverse=True):
        data[at:at] = extra
    events = decode_all([bytes(data[:cut]), bytes(data[cut:])])
    assert all(isinstance(e, FrameRejected | GeDriRecord) for e in events)


def test_strict_decoders_raise_only_protocol_error() -> None:
    for bad in (b"", b"\x00" * 39, GOLDEN_RECORD[:-5]):
        with pytest.raises(ProtocolError):
            decode_record(bad)
    with pytest.raises(ProtocolError):
        decode_frame(b"\x7d\x01")
