"""GE DRI: every offset, scale, label bit, code and marker the codec knows, pinned against sources.

Sources (docs/protocols/ge-dri.md, which cites GE *S/5 DRI Specification* 8005313 and *S/5
Computer Interface Specification* M1017617 through reference/protocols.md §2 and §9, with
pycollect ``headers.py``/``measures.py``/``dataconstants.py`` and VSCapture ``Class2.cs``):

* "Record header" table: r_len at 0, r_nbr 2, r_dri_level 3, plug_id 4, r_time 6, r_maintype 14
  (0 PHDB, 1 waveform, 4 alarm, 5 network), sr_desc at 16 (offset u16 from byte 40, type u8,
  0xFF ends the list), at most 8;
* "Physiological database": the 278-byte subrecord, sr_type 1 display / 2 and 3 trends, the class
  in bits 8-11 of ``cl_drilvl_subt``, DRI level in 4-7, subtype in 0-3;
* "Basic class" table: offsets and scales of every value; the markers (any value <= -32001:
  DATA_INVALID -32767, NOT_UPDATED -32766, DISCONT -32765, UNDER_RANGE -32764, OVER_RANGE
  -32763, NOT_CALIBRATED -32762); group status bit 0 exists, bit 1 active; NIBP label bits 0-2
  cuff type, 3 AUTO, 4 STAT, 5 measuring, 6 stasis, 7 calibrating, 8 older than 60 s;
* "Request": class bits 0x1 deny basic, 0x2 ext1, 0x4 ext2, 0x8 ext3; limits: 1450 data bytes.

The blocks and records here are built by hand with ``struct`` from those tables (never with the
codec's encoder); expected values are literals; each table is checked both ways.
"""

from __future__ import annotations

import struct

import pytest

from drivers.codecs.ge_dri import (
    DATA_INVALID_LIMIT,
    MAX_RECORD,
    MAX_WIRE_FRAME,
    AlarmRecord,
    BasicClass,
    ClassRequest,
    GeDriCodec,
    MainType,
    NibpLabel,
    OtherRecord,
    PhdbClass,
    PhdbRecord,
    PhdbSubtype,
    WaveformRecord,
    decode_basic,
    decode_frame,
    decode_record,
    encode_display_request,
)
from drivers.errors import DriverUsageError, ProtocolError

INVALID = -32767

# (offset in the 270-byte class block, attribute, divisor) — the "Basic class" table
VALUES_DOC = [
    (6, "hr", 1),
    (14, "impedance_rr", 1),
    (78, "nibp_sys", 100),
    (80, "nibp_dia", 100),
    (82, "nibp_mean", 100),
    (84, "nibp_pulse", 1),
    (124, "spo2", 100),
    (126, "pulse_rate", 1),
    (138, "etco2_percent", 100),
    (140, "fico2_percent", 100),
    (142, "resp_rate", 1),
    (144, "ambient_mmhg", 10),
]
TEMPERATURES_DOC = [92, 100, 108, 116]  # T1-T4 values, 0.01 °C (headers at 86/94/102/110)
GROUPS_DOC = [(0, "ecg"), (72, "nibp"), (118, "spo2_group"), (132, "co2")]
MARKERS_DOC = {
    -32767: "DATA_INVALID",
    -32766: "NOT_UPDATED",
    -32765: "DISCONT",
    -32764: "UNDER_RANGE",
    -32763: "OVER_RANGE",
    -32762: "NOT_CALIBRATED",
}
NIBP_LABEL_DOC = {
    3: "AUTO",
    4: "STAT",
    5: "MEASURING",
    6: "STASIS",
    7: "CALIBRATING",
    8: "OLDER_THAN_60S",
}


def block(**raw: int) -> bytes:
    """A 270-byte basic class block: every s16 value a marker, groups zero, except ``raw``
    given as ``o<offset>=value`` (s16) or ``g<offset>=status`` / ``l<offset>=label``."""
    data = bytearray(270)
    for offset in range(0, 268, 2):
        struct.pack_into("<h", data, offset, INVALID)
    for start in (0, 72, 86, 94, 102, 110, 118, 132):
        struct.pack_into("<IH", data, start, 0, 0)
    for key, value in raw.items():
        kind, offset = key[0], int(key[1:])
        if kind == "o":
            struct.pack_into("<h", data, offset, value)
        elif kind == "g":
            struct.pack_into("<I", data, offset, value)
        else:
            struct.pack_into("<H", data, offset + 4, value)
    return bytes(data)


def values(basic: BasicClass) -> dict[str, float | None]:
    out: dict[str, float | None] = {name: getattr(basic, name) for _, name, _ in VALUES_DOC}
    for n, (_, value) in enumerate(basic.temperatures):
        out[f"t{n + 1}"] = value
    return out


@pytest.mark.parametrize(("offset", "name", "divisor"), VALUES_DOC)
def test_every_basic_value_sits_at_its_offset_with_its_scale(
    offset: int, name: str, divisor: int
) -> None:
    decoded = values(decode_basic(block(**{f"o{offset}": 12345})))
    assert decoded[name] == 12345 / divisor
    assert [k for k, v in decoded.items() if v is not None] == [name]


@pytest.mark.parametrize(("channel", "offset"), list(enumerate(TEMPERATURES_DOC)))
def test_every_temperature_sits_at_its_offset(channel: int, offset: int) -> None:
    decoded = decode_basic(block(**{f"o{offset}": 3655, f"g{offset - 6}": 3, f"l{offset - 6}": 9}))
    for n, (group, value) in enumerate(decoded.temperatures):
        if n == channel:
            assert value == 36.55 and (group.status, group.label) == (3, 9)
            assert group.exists and group.active
        else:
            assert value is None and (group.status, group.label) == (0, 0)


@pytest.mark.parametrize(("offset", "name"), GROUPS_DOC)
def test_every_group_header_and_its_status_bits(offset: int, name: str) -> None:
    for status, exists, active in [
        (0, False, False),
        (1, True, False),
        (2, False, True),
        (3, True, True),
        (0xFFFFFFFC, False, False),
    ]:
        group = getattr(decode_basic(block(**{f"g{offset}": status, f"l{offset}": 0x1234})), name)
        assert (group.status, group.label, group.exists, group.active) == (
            status,
            0x1234,
            exists,
            active,
        )


def test_the_basic_layout_has_nothing_else() -> None:
    fields = set(BasicClass.__dataclass_fields__)
    documented = {name for _, name, _ in VALUES_DOC} | {name for _, name in GROUPS_DOC}
    assert fields == documented | {"temperatures"}


@pytest.mark.parametrize("raw", [*MARKERS_DOC, -32001, -32768, -32100])
def test_markers_are_no_value(raw: int) -> None:
    decoded = decode_basic(block(o6=raw, o124=raw, o144=raw))
    assert (decoded.hr, decoded.spo2, decoded.ambient_mmhg) == (None, None, None)


@pytest.mark.parametrize(
    ("raw", "hr", "spo2"), [(-32000, -32000.0, -320.0), (0, 0.0, 0.0), (32767, 32767.0, 327.67)]
)
def test_values_above_the_marker_limit_are_numbers(raw: int, hr: float, spo2: float) -> None:
    decoded = decode_basic(block(o6=raw, o124=raw))
    assert (decoded.hr, decoded.spo2) == (hr, spo2)


def test_marker_limit() -> None:
    assert DATA_INVALID_LIMIT == -32001


def test_etco2_in_mmhg_is_percent_times_ambient() -> None:
    decoded = decode_basic(block(o138=487, o140=12, o144=7598))
    assert decoded.etco2_mmhg == pytest.approx(4.87 * 759.8 / 100)
    assert decoded.fico2_mmhg == pytest.approx(0.12 * 759.8 / 100)
    no_pamb = decode_basic(block(o138=487))
    assert no_pamb.etco2_mmhg is None and no_pamb.fico2_mmhg is None
    assert decode_basic(block(o144=7600)).etco2_mmhg is None


@pytest.mark.parametrize(("bit", "member"), NIBP_LABEL_DOC.items())
def test_every_nibp_label_bit(bit: int, member: str) -> None:
    decoded = decode_basic(block(l72=(1 << bit) | 0b101))  # with cuff type 5
    assert decoded.nibp_flags == NibpLabel[member] and int(decoded.nibp_flags) == 1 << bit
    assert decoded.nibp.label == (1 << bit) | 0b101


def test_nibp_label_without_cuff_type_and_undocumented_bits() -> None:
    assert decode_basic(block(l72=0x0007)).nibp_flags == NibpLabel(0)
    assert decode_basic(block(l72=0xFE00)).nibp_flags == NibpLabel(0)
    assert {m.name: int(m) for m in NibpLabel} == {v: 1 << k for k, v in NIBP_LABEL_DOC.items()}


def test_a_short_block_is_refused() -> None:
    with pytest.raises(ProtocolError, match="270"):
        decode_basic(bytes(269))


# --- codes ---------------------------------------------------------------------------------------


def test_main_types_subtypes_classes_and_request_bits() -> None:
    assert {m.name: int(m) for m in MainType} == {"PHDB": 0, "WAVE": 1, "ALARM": 4, "NETWORK": 5}
    assert {m.name: int(m) for m in PhdbSubtype} == {
        "XMIT_REQUEST": 0,
        "DISPLAY": 1,
        "TREND_10S": 2,
        "TREND_60S": 3,
        "AUX_INFO": 4,
    }
    assert {m.name: int(m) for m in PhdbClass} == {"BASIC": 0, "EXT1": 1, "EXT2": 2, "EXT3": 3}
    assert {m.name: int(m) for m in ClassRequest} == {
        "DENY_BASIC": 1,
        "EXT1": 2,
        "EXT2": 4,
        "EXT3": 8,
    }


def test_limits() -> None:
    assert MAX_RECORD == 40 + 1450
    assert MAX_WIRE_FRAME == 2 * (40 + 1450 + 1)


@pytest.mark.parametrize(
    ("classes", "bits"),
    [
        (ClassRequest(0), 0x0),
        (ClassRequest.DENY_BASIC, 0x1),
        (ClassRequest.EXT1, 0x2),
        (ClassRequest.EXT2, 0x4),
        (ClassRequest.EXT3, 0x8),
    ],
)
def test_request_class_bits_on_the_wire(classes: ClassRequest, bits: int) -> None:
    wire = encode_display_request(60, classes)
    record = wire[1:-2].replace(b"\x7d\x5e", b"\x7e").replace(b"\x7d\x5d", b"\x7d")
    assert len(record) == 49
    assert struct.unpack_from("<BHIH", record, 40) == (1, 60, bits, 0)
    assert struct.unpack_from("<HB", record, 16) == (0, 0)  # sr_desc[0]: XMIT_REQ
    assert struct.unpack_from("<HB", record, 19) == (0, 0xFF)  # end of the list
    assert struct.unpack_from("<H", record, 14) == (0,)  # PHDB


# --- record header and subrecords, built here ----------------------------------------------------


def record(
    maintype: int,
    subrecords: list[tuple[int, bytes]],
    *,
    number: int = 7,
    level: int = 10,
    plug: int = 0x1234,
    time: int = 1532624765,
) -> bytes:
    data = b"".join(body for _, body in subrecords)
    descriptors = b""
    at = 0
    for sr_type, body in subrecords:
        descriptors += struct.pack("<HB", at, sr_type)
        at += len(body)
    if len(subrecords) < 8:
        descriptors += struct.pack("<HB", 0, 0xFF)
    header = struct.pack("<HBBHI4xH", 40 + len(data), number, level, plug, time, maintype)
    return (header + descriptors).ljust(40, b"\0") + data


def phdb_subrecord(cl_drilvl_subt: int, time: int = 99, **raw: int) -> bytes:
    return struct.pack("<I", time) + block(**raw) + struct.pack("<BBH", 0, 0, cl_drilvl_subt)


def test_header_fields_at_their_offsets() -> None:
    decoded = decode_record(
        record(5, [(3, b"abcd")], number=201, level=0x0B, plug=0xBEEF, time=0x01020304)
    )
    assert isinstance(decoded, OtherRecord)
    header = decoded.header
    assert (header.number, header.dri_level, header.plug_id, header.time, header.maintype) == (
        201,
        0x0B,
        0xBEEF,
        0x01020304,
        5,
    )
    assert decoded.subrecord_types == (3,)


@pytest.mark.parametrize(
    ("cl_drilvl_subt", "phdb_class", "level", "subtype"),
    [
        (0x0A1, 0, 0xA, 1),
        (0x1A1, 1, 0xA, 1),
        (0x2A1, 2, 0xA, 1),
        (0x3A1, 3, 0xA, 1),
        (0x0B2, 0, 0xB, 2),
        (0x053, 0, 0x5, 3),
        (0xF0A1, 0, 0xA, 1),
    ],
)
def test_class_level_and_subtype_bits(
    cl_drilvl_subt: int, phdb_class: int, level: int, subtype: int
) -> None:
    decoded = decode_record(record(0, [(1, phdb_subrecord(cl_drilvl_subt, o6=70))]))
    assert isinstance(decoded, PhdbRecord)
    (sub,) = decoded.subrecords
    assert (sub.phdb_class, sub.dri_level, sub.subtype, sub.time) == (
        phdb_class,
        level,
        subtype,
        99,
    )
    assert (sub.basic is not None) == (phdb_class == 0)
    assert decoded.basic is (sub.basic if subtype == 1 else None)


@pytest.mark.parametrize("later_class", [0x4A1, 0xFA1])
def test_classes_of_later_dri_levels_are_skipped(later_class: int) -> None:
    decoded = decode_record(
        record(0, [(1, phdb_subrecord(later_class)), (1, phdb_subrecord(0x0A1, o6=70))])
    )
    assert isinstance(decoded, PhdbRecord)
    assert [s.phdb_class for s in decoded.subrecords] == [PhdbClass.BASIC]
    assert decoded.basic is not None and decoded.basic.hr == 70


@pytest.mark.parametrize(
    ("sr_type", "kept"), [(0, False), (1, True), (2, True), (3, True), (4, False), (5, False)]
)
def test_which_phdb_subrecord_types_carry_values(sr_type: int, kept: bool) -> None:
    decoded = decode_record(record(0, [(sr_type, phdb_subrecord(0x0A0 | sr_type, o6=70))]))
    assert isinstance(decoded, PhdbRecord)
    assert len(decoded.subrecords) == int(kept)


def test_eight_subrecords_without_an_end_marker() -> None:
    # At most 8 descriptors (16 + 8 x 3 = 40): the first data bytes are never read as a ninth.
    # Here they would look like one ({offset 0, type 1}: the first subrecord's time 0x10000).
    times = [0x10000 + n for n in range(8)]
    decoded = decode_record(record(0, [(1, phdb_subrecord(0x0A1, time=t)) for t in times]))
    assert isinstance(decoded, PhdbRecord) and [s.time for s in decoded.subrecords] == times


def test_a_subrecord_starting_past_the_record_end_is_a_protocol_error() -> None:
    good = record(1, [(8, struct.pack("<hHH", 1, 0, 0) + struct.pack("<h", 5))])
    assert isinstance(decode_record(good), WaveformRecord)
    bad = bytearray(good)
    struct.pack_into("<H", bad, 16, len(good) - 40)  # starts exactly at the end
    with pytest.raises(ProtocolError, match="past the record end"):
        decode_record(bytes(bad))
    codec = GeDriCodec()
    body = bytes(bad) + bytes([sum(bad) & 0xFF])
    codec.receive(
        b"\x7e" + body.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e") + b"\x7e"
    )
    (event,) = list(codec.events())
    assert "past the record end" in getattr(event, "reason", "")


# --- alarm records (docs/protocols/ge-dri.md: the dri_al_msg layout of datex.h) -----------------
# {reserved s16, sound_on_off s16, reserved s16, reserved s16, silence_info s16,
#  5 x {text char[80], text_changed s16, color s16, color_changed s16, reserved 12 bytes},
#  reserved 10 bytes} = 10 + 5 x 98 + 10 = 510 bytes


def alarm_subrecord(sound: int, silence: int, messages: list[tuple[bytes, int]]) -> bytes:
    data = struct.pack("<5h", 9, sound, 9, 9, silence)
    for text, color in messages:
        data += text.ljust(80, b"\0") + struct.pack("<hhh", 1, color, 1) + b"\x55" * 12
    data += bytes(98 * (5 - len(messages)))
    return data + b"\x66" * 10


def test_alarm_record_layout() -> None:
    messages = [(b"ASYSTOLE", 3), (b"SpO2 LOW", 2), (b"  NIBP CUFF  ", 1), (b"", 2), (b"APNEA", 0)]
    sub = alarm_subrecord(1, 0x0102, messages)
    assert len(sub) == 510
    decoded = decode_record(record(4, [(1, sub)]))
    assert isinstance(decoded, AlarmRecord)
    assert decoded.sound_on and decoded.silence_info == 0x0102
    assert [(m.text, m.priority) for m in decoded.messages] == [
        ("ASYSTOLE", 3),
        ("SpO2 LOW", 2),
        ("NIBP CUFF", 1),
        ("APNEA", 0),
    ]
    quiet = decode_record(record(4, [(1, alarm_subrecord(0, 0, [(b"X" * 80, 1)]))]))
    assert isinstance(quiet, AlarmRecord)
    assert not quiet.sound_on and [m.text for m in quiet.messages] == ["X" * 80]


def test_alarm_records_of_another_type_or_too_short_carry_nothing() -> None:
    sub = alarm_subrecord(1, 5, [(b"ASYSTOLE", 3)])
    for subrecords in ([(2, sub)], [(1, sub[:509])], []):
        decoded = decode_record(record(4, subrecords))
        assert isinstance(decoded, AlarmRecord)
        assert (decoded.sound_on, decoded.silence_info, decoded.messages) == (False, 0, ())
    second = decode_record(record(4, [(2, sub), (1, alarm_subrecord(1, 7, [(b"B", 1)]))]))
    assert isinstance(second, AlarmRecord) and second.silence_info == 7


def test_waveform_subrecord_bounds() -> None:
    # wf_hdr {act_len s16 = samples, status u16, label u16}, then act_len s16 samples
    header = struct.pack("<hHH", 0, 0, 0)
    short = record(1, [(8, header[:4]), (9, header)])  # 4 bytes: less than its own header
    with pytest.raises(ProtocolError, match="shorter than its header"):
        decode_record(short)
    exact = decode_record(record(1, [(8, header), (9, struct.pack("<hHH2h", 2, 1, 2, -5, 5))]))
    assert isinstance(exact, WaveformRecord)
    assert [(w.wave_type, w.samples) for w in exact.waves] == [(8, ()), (9, (-5, 5))]
    for count in (3, -1):
        too_many = record(1, [(8, struct.pack("<hHH2h", count, 0, 0, 1, 2))])
        with pytest.raises(ProtocolError, match=f"claims {count} samples"):
            decode_record(too_many)


def test_frame_limits_and_reasons() -> None:
    # the most a frame can be between its flags: 2 x (1490 + 1) bytes
    big = struct.pack("<HBBHI4xH", 2981, 0, 10, 0, 0, 5).ljust(2981, b"\x01")
    body = big + bytes([sum(big) & 0xFF])
    assert len(body) == MAX_WIRE_FRAME
    assert isinstance(decode_frame(body), OtherRecord)
    longer = big + b"\x01"
    longer = struct.pack("<H", 2982) + longer[2:]
    with pytest.raises(ProtocolError, match="longer than 2982"):
        decode_frame(longer + bytes([sum(longer) & 0xFF]))
    with pytest.raises(ProtocolError, match="shorter than a header and checksum"):
        decode_frame(bytes(40))
    with pytest.raises(ProtocolError, match="checksum"):
        decode_frame(bytes(40) + b"\x01")
    for bad in (b"\x7d\x00", b"\x7d\x7d", b"\x7d"):
        with pytest.raises(ProtocolError, match="invalid escape"):
            decode_frame(bytes(50) + bad)


def test_request_interval_edges() -> None:
    assert len(encode_display_request(65535)) == 52
    assert len(encode_display_request(0)) == 52
    for bad in (-1, 65536):
        with pytest.raises(DriverUsageError):
            encode_display_request(bad)


def test_streaming_limit_is_the_longest_frame() -> None:
    codec = GeDriCodec()
    codec.receive(b"\x7e" + b"\x01" * MAX_WIRE_FRAME)
    assert list(codec.events()) == []  # a frame of exactly the limit may still end here
    codec.receive(b"\x01")
    (event,) = list(codec.events())
    assert "longer than 2982" in getattr(event, "reason", "")
    for _ in range(5):
        codec.receive(b"\x01" * 2000)
        assert list(codec.events()) == []  # rejected once, the rest dropped ...
        assert len(codec._buffer) <= MAX_WIRE_FRAME  # ... and not kept


def test_a_phdb_subrecord_cut_short_is_a_protocol_error() -> None:
    full = phdb_subrecord(0x0A1, o6=70)
    assert isinstance(decode_record(record(0, [(1, full)])), PhdbRecord)
    with pytest.raises(ProtocolError, match="runs past the record end"):
        decode_record(record(0, [(1, full[:277])]))
