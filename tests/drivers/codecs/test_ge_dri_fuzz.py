"""GE DRI: plausible records with random values, random subrecord layouts, and every value of the
real B650 captures (waveform samples included).

Records are built here from the layout tables of docs/protocols/ge-dri.md (helpers of
``test_ge_dri_tables``) and framed by a test-side ``frame`` (7E, escapes 7D 5E / 7D 5D, checksum
over the unescaped record) — never by the codec's encoder.
"""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs.base import FrameRejected
from drivers.codecs.ge_dri import GeDriCodec, GeDriEvent, PhdbRecord, WaveformRecord
from tests.drivers.codecs.test_ge_dri_tables import (
    GROUPS_DOC,
    TEMPERATURES_DOC,
    VALUES_DOC,
    phdb_subrecord,
    record,
)

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ge-carescape"


def frame(data: bytes) -> bytes:
    body = data + bytes([sum(data) & 0xFF])
    return b"\x7e" + body.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e") + b"\x7e"


def decode(wire: bytes, sizes: list[int]) -> list[GeDriEvent]:
    codec = GeDriCodec()
    events: list[GeDriEvent] = []
    at = 0
    for size in sizes:
        codec.receive(wire[at : at + size])
        events += codec.events()
        at += size
    codec.receive(wire[at:])
    return events + list(codec.events())


S16 = st.one_of(
    st.integers(-32768, 32767),
    st.sampled_from([-32767, -32766, -32765, -32764, -32763, -32762, -32001, -32000, 0, 125]),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(S16, min_size=len(VALUES_DOC) + 4, max_size=len(VALUES_DOC) + 4),
    st.lists(st.integers(0, 0xFFFFFFFF), min_size=4, max_size=4),
    st.integers(0, 0xFFFF),
    st.permutations([0x0A1, 0x1A1, 0x2A1, 0x3A1]),
    st.integers(0, 255),
    st.integers(0, 0xFFFFFFFF),
    st.lists(st.integers(1, 300), max_size=8),
)
def test_plausible_display_records_decode_to_their_values(
    raws: list[int],
    statuses: list[int],
    nibp_label: int,
    classes: list[int],
    number: int,
    time: int,
    sizes: list[int],
) -> None:
    fields = {f"o{offset}": raw for (offset, _, _), raw in zip(VALUES_DOC, raws, strict=False)}
    fields |= {f"o{offset}": raw for offset, raw in zip(TEMPERATURES_DOC, raws[-4:], strict=True)}
    fields |= {
        f"g{offset}": status for (offset, _), status in zip(GROUPS_DOC, statuses, strict=True)
    }
    fields["l72"] = nibp_label
    subs = [(1, phdb_subrecord(c, time=time, **(fields if c == 0x0A1 else {}))) for c in classes]
    wire = frame(record(0, subs, number=number, time=time))
    events = decode(b"\x00\x7e" + wire, sizes)
    assert isinstance(events[0], FrameRejected)  # the lone 00 before the first flag
    (decoded,) = events[1:]
    assert isinstance(decoded, PhdbRecord)
    assert (decoded.header.number, decoded.header.time, decoded.header.maintype) == (
        number,
        time,
        0,
    )
    assert sorted(s.phdb_class for s in decoded.subrecords) == [0, 1, 2, 3]
    basic = decoded.basic
    assert basic is not None
    for (_, name, divisor), raw in zip(VALUES_DOC, raws, strict=False):
        assert getattr(basic, name) == (None if raw <= -32001 else raw / divisor), name
    for (_, value), raw in zip(basic.temperatures, raws[-4:], strict=True):
        assert value == (None if raw <= -32001 else raw / 100)
    for (_, name), status in zip(GROUPS_DOC, statuses, strict=True):
        group = getattr(basic, name)
        assert (group.exists, group.active) == (bool(status & 1), bool(status & 2))
    assert int(basic.nibp_flags) == nibp_label & 0x1F8


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 254), st.lists(st.integers(-32768, 32767), max_size=60)),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 0xFFFF),
    st.lists(st.integers(1, 200), max_size=6),
)
def test_plausible_waveform_records_decode_every_sample(
    waves: list[tuple[int, list[int]]], status: int, sizes: list[int]
) -> None:
    subs = [
        (
            wave_type,
            struct.pack("<hHH", len(samples), status, 7)
            + struct.pack(f"<{len(samples)}h", *samples),
        )
        for wave_type, samples in waves
    ]
    (decoded,) = decode(frame(record(1, subs)), sizes)
    assert isinstance(decoded, WaveformRecord)
    assert [(w.wave_type, w.status, w.label, list(w.samples)) for w in decoded.waves] == [
        (wave_type, status, 7, samples) for wave_type, samples in waves
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([0, 1, 4, 5]),
    st.lists(st.tuples(st.integers(0, 700), st.integers(0, 255)), min_size=1, max_size=8),
    st.binary(min_size=0, max_size=600),
)
def test_any_subrecord_layout_is_decoded_or_rejected_never_raised(
    maintype: int, descriptors: list[tuple[int, int]], data: bytes
) -> None:
    """Random descriptor offsets (inside, at and past the end) and types over random data: the
    codec yields a record or a rejection, never an exception (the "past the record end" and
    "shorter than its header" guards)."""
    table = b"".join(struct.pack("<HB", offset, sr_type) for offset, sr_type in descriptors)
    header = struct.pack("<HBBHI4xH", 40 + len(data), 1, 10, 0, 0, maintype) + table
    raw = header.ljust(40, b"\0")[:40] + data
    (event,) = decode(frame(raw), [])
    assert isinstance(event, FrameRejected) or event.header.maintype == maintype
    listed = []
    for offset, sr_type in descriptors:
        if sr_type == 0xFF:
            break
        listed.append(offset)
    if any(40 + offset >= len(raw) for offset in listed):
        assert isinstance(event, FrameRejected) and "past the record end" in event.reason


# --- every value of the real captures -------------------------------------------------------------


def independent_records(data: bytes) -> list[bytes]:
    """Every checksummed record of a capture, unframed by hand (test-side)."""
    out = []
    for chunk in data.split(b"\x7e"):
        body = chunk.replace(b"\x7d\x5e", b"\x7e").replace(b"\x7d\x5d", b"\x7d")
        if len(body) > 40 and sum(body[:-1]) & 0xFF == body[-1]:
            out.append(body[:-1])
    return out


def test_every_header_subrecord_and_sample_of_the_session_capture() -> None:
    data = (CAPTURES / "b650-2018-07-26-session.raw").read_bytes()
    expected = independent_records(data)
    events = decode(data, [])
    assert len(events) == len(expected) == 213
    for event, raw in zip(events, expected, strict=True):
        r_len, number, level, plug, time, maintype = struct.unpack_from("<HBBHI4xH", raw)
        assert isinstance(event, PhdbRecord | WaveformRecord)
        header = event.header
        assert (header.number, header.dri_level, header.plug_id, header.time) == (
            number,
            level,
            plug,
            time,
        )
        assert header.maintype == maintype and r_len == len(raw)
        descriptors = [struct.unpack_from("<HB", raw, 16 + 3 * i) for i in range(8)]
        descriptors = descriptors[: [t for _, t in descriptors].index(0xFF)]
        if isinstance(event, WaveformRecord):
            assert maintype == 1 and len(event.waves) == len(descriptors) == 2
            for wave, (offset, sr_type) in zip(event.waves, descriptors, strict=True):
                count, status, label = struct.unpack_from("<hHH", raw, 40 + offset)
                samples = struct.unpack_from(f"<{count}h", raw, 40 + offset + 6)
                assert (wave.wave_type, wave.status, wave.label) == (sr_type, status, label)
                assert wave.samples == samples
        else:
            assert maintype == 0 and len(event.subrecords) == len(descriptors) == 4
            for sub, (offset, _) in zip(event.subrecords, descriptors, strict=True):
                start = 40 + offset
                (sub_time,) = struct.unpack_from("<I", raw, start)
                (cl_drilvl_subt,) = struct.unpack_from("<H", raw, start + 276)
                assert sub.time == sub_time
                assert (sub.phdb_class, sub.dri_level, sub.subtype) == (
                    cl_drilvl_subt >> 8 & 0xF,
                    cl_drilvl_subt >> 4 & 0xF,
                    cl_drilvl_subt & 0xF,
                )
                assert (sub.basic is not None) == (sub.phdb_class == 0)
            basic = event.basic
            assert basic is not None
            (basic_offset,) = [
                o for (o, _), s in zip(descriptors, event.subrecords, strict=True) if s.basic
            ]
            block = raw[40 + basic_offset + 4 : 40 + basic_offset + 274]
            for offset, name, divisor in VALUES_DOC:
                (value,) = struct.unpack_from("<h", block, offset)
                assert getattr(basic, name) == (None if value <= -32001 else value / divisor)
            for offset, (group, temperature) in zip(
                TEMPERATURES_DOC, basic.temperatures, strict=True
            ):
                (value,) = struct.unpack_from("<h", block, offset)
                assert temperature == (None if value <= -32001 else value / 100)
                assert (group.status, group.label) == struct.unpack_from("<IH", block, offset - 6)
            for offset, name in GROUPS_DOC:
                group = getattr(basic, name)
                assert (group.status, group.label) == struct.unpack_from("<IH", block, offset)


def test_first_waveform_record_of_the_capture_literally() -> None:
    data = (CAPTURES / "b650-2018-07-26-first-21-frames.raw").read_bytes()
    waves = [e for e in decode(data, []) if isinstance(e, WaveformRecord)]
    pleth, ent = waves[0].waves
    assert (waves[0].header.number, waves[0].header.time) == (0, 1532624798)
    assert (pleth.wave_type, pleth.status, pleth.label, len(pleth.samples)) == (8, 0x653, 0, 100)
    assert pleth.samples[:8] == (-154, -157, -161, -164, -168, -171, -173, -173)
    assert pleth.samples[-3:] == (244, 259, 271)
    assert (min(pleth.samples), max(pleth.samples), sum(pleth.samples)) == (-173, 271, -3005)
    assert (ent.wave_type, ent.status, ent.label, len(ent.samples)) == (32, 0x653, 0, 100)
    assert ent.samples[:8] == (130, 110, 110, 160, 200, 170, 180, 220)
    assert ent.samples[-3:] == (190, 120, 90)
    assert (min(ent.samples), max(ent.samples), sum(ent.samples)) == (0, 370, 20680)
