"""B. Braun BCC: plausible MEM:GET responses with random values, and every fixture value.

The fuzzer builds real blocks with a builder written here from TIS 3.2.3 (length and check over
the unstuffed block, stuffing applied after; reference/protocols.md §9) — never with the codec's
encoder — carrying one pump's quadruples with values inside, at and outside the TIS 3.4.2 ranges,
``_NV``, malformed numbers and random bitfields, split over one to three blocks, stuffed or not,
fed in random chunks. Each value must decode to what the document says.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs.base import FrameRejected
from drivers.codecs.bbraun_bcc import (
    BbraunBccCodec,
    BccBlock,
    BccRecord,
    BccResponse,
    CorruptBlock,
    decode_content,
)


def build_block(bed: str, message: str, *, final: bool, stuffing: bool) -> bytes:
    """TIS 3.2.3: SOH LLLLL STX bed/1/1> message ETX|ETB CCCCC EOT; stuffing applied last."""
    body = f"{bed}/1/1>{message}".encode("latin-1")
    length = 1 + 5 + 1 + len(body) + 1 + 5 + 1
    head = b"\x01" + b"%05d" % length + b"\x02" + body + (b"\x03" if final else b"\x17")
    block = head + b"%05d" % (sum(head) % 256) + b"\x04"
    if stuffing:
        out = bytearray()
        for byte in block:
            out += {0x44: b"EX", 0x45: b"EE", 0x64: b"ex", 0x65: b"ee"}.get(byte, bytes([byte]))
        block = bytes(out)
    return block


# (parameter, attribute, highest, decimals) — TIS 3.4.2
NUMBERS = [
    ("INRT", "rate_ml_h", 1800.0, 2),
    ("INVI", "volume_infused_ml", 9999.9, 1),
    ("INVTB", "vtbi_ml", 9999.9, 1),
    ("INRMT", "time_remaining_s", 65534.0, 0),  # 65535 means "no end time"
]


@st.composite
def number_value(
    draw: st.DrawFn, high: float, decimals: int
) -> tuple[str | None, float | None, int]:
    """(raw value or None for _NV, expected value, expected problems)."""
    kind = draw(st.sampled_from(["in", "in", "edge", "above", "nv", "bad"]))
    if kind == "nv":
        return None, None, 0
    if kind == "bad":
        return draw(st.sampled_from(["-1", "1e3", "abc", "1,5", ""])), None, 1
    scale = 10**decimals
    if kind == "edge":
        units = draw(st.sampled_from([0, int(high * scale)]))
    elif kind == "in":
        units = draw(st.integers(0, int(high * scale)))
    else:
        units = draw(st.integers(int(high * scale) + 2, int(high * scale) * 3))
    text = f"{units / scale:.{decimals}f}"
    value = float(text)
    if kind == "above" and not (high == 65534.0 and value == 65535.0):
        return text, None, 1
    return text, value, 0


@st.composite
def pump_records(draw: st.DrawFn) -> tuple[list[tuple[str, str | None]], dict[str, object]]:
    records: list[tuple[str, str | None]] = []
    expected: dict[str, object] = {}
    problems = 0
    for name, attribute, high, decimals in NUMBERS:
        if draw(st.booleans()):
            raw, value, problem = draw(number_value(high, decimals))
            records.append((name, raw))
            expected[attribute] = value
            problems += problem
        else:
            expected[attribute] = None
    flags = draw(
        st.dictionaries(
            st.sampled_from(["INM1", "INM3", "INM6", "INA2", "INA3", "INA15"]),
            st.sampled_from(["0", "1", "_NV", "2"]),
            max_size=4,
        )
    )
    for name, raw in flags.items():
        records.append((name, None if raw == "_NV" else raw))
        problems += raw == "2"
    expected["active"] = frozenset(n for n, raw in flags.items() if raw == "1")
    alarm1 = draw(st.integers(0, 2**32 - 1))
    records.append(("ALARM1", str(alarm1)))
    expected["alarm1"] = alarm1
    drug = draw(
        st.text(
            alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 %/-",
            min_size=1,
            max_size=30,
        )
    )
    records.append(("INSOL", drug))
    stripped = drug.strip()
    expected["drug"] = stripped if 0 < len(stripped) <= 25 else None
    problems += len(stripped) > 25
    expected["problems"] = problems
    order = draw(st.permutations(records))
    return list(order), expected


@settings(max_examples=100, deadline=None)
@given(
    pump_records(),
    st.integers(1, 3),
    st.booleans(),
    st.lists(st.integers(1, 200), max_size=10),
    st.integers(1, 120000),
)
def test_plausible_responses_decode_to_their_values(
    generated: tuple[list[tuple[str, str | None]], dict[str, object]],
    blocks: int,
    stuffing: bool,
    sizes: list[int],
    reltime: int,
) -> None:
    records, expected = generated
    quads = [f"{reltime},50111,{name},{'_NV' if raw is None else raw}" for name, raw in records]
    per = max(1, -(-len(quads) // blocks))
    parts = [quads[i : i + per] for i in range(0, len(quads), per)]
    wire = b"".join(
        build_block("ComSystem", "\x1e".join(part), final=i == len(parts) - 1, stuffing=stuffing)
        for i, part in enumerate(parts)
    )
    codec = BbraunBccCodec(stuffing=stuffing)
    events: list[object] = []
    at = 0
    for size in sizes:
        codec.receive(wire[at : at + size])
        events += codec.events()
        at += size
    codec.receive(wire[at:])
    events += codec.events()
    assert [type(e) for e in events] == [BccBlock] * len(parts) + [BccResponse]
    response = events[-1]
    assert isinstance(response, BccResponse) and response.blocks == len(parts)
    assert [(r.parameter, r.value) for r in response.records] == records
    assert {r.reltime for r in response.records} == {reltime}
    (pump,) = decode_content(response.records).pumps
    assert pump.channel == "11" and pump.address == "50111"
    for name in ("rate_ml_h", "volume_infused_ml", "vtbi_ml", "time_remaining_s", "drug"):
        assert getattr(pump, name) == expected[name], name
    assert pump.active == expected["active"]
    assert int(pump.alarm1) == expected["alarm1"]
    assert len(pump.problems) == expected["problems"], pump.problems


@settings(max_examples=150, deadline=None)
@given(pump_records(), st.booleans(), st.data())
def test_a_corrupted_byte_is_caught_or_harmless(
    generated: tuple[list[tuple[str, str | None]], dict[str, object]],
    stuffing: bool,
    data: st.DataObject,
) -> None:
    """A byte changed on the line: the block is NAKed, or whatever decodes is in range."""
    records, _ = generated
    message = "\x1e".join(f"5,50111,{n},{'_NV' if v is None else v}" for n, v in records)
    wire = bytearray(build_block("ComSystem", message, final=True, stuffing=stuffing))
    at = data.draw(st.integers(0, len(wire) - 1))
    wire[at] = data.draw(st.integers(0, 255))
    codec = BbraunBccCodec(stuffing=stuffing)
    codec.receive(bytes(wire))
    for event in codec.events():
        assert isinstance(event, BccBlock | BccResponse | CorruptBlock | FrameRejected)
        if isinstance(event, BccResponse):
            for pump in decode_content(event.records).pumps:
                assert pump.rate_ml_h is None or 0 <= pump.rate_ml_h <= 1800
                assert pump.volume_infused_ml is None or 0 <= pump.volume_infused_ml <= 9999.9
                assert pump.vtbi_ml is None or 0 <= pump.vtbi_ml <= 9999.9
                assert pump.time_remaining_s is None or 0 <= pump.time_remaining_s < 65535


# --- every value of the fixture blocks of tests/drivers/codecs/test_bbraun_bcc.py -----------------


def test_every_value_of_the_hand_written_mem_get_response() -> None:
    from tests.drivers.codecs.test_bbraun_bcc import MEM_GET_PART1, MEM_GET_PART2

    codec = BbraunBccCodec(stuffing=False)
    codec.receive(MEM_GET_PART1 + MEM_GET_PART2)
    response = list(codec.events())[-1]
    assert isinstance(response, BccResponse)
    content = decode_content(response.records)
    assert (content.alive, content.version, content.rack_error) == (False, None, None)
    assert content.pump_errors == () and content.problems == ()
    one, ten = content.pumps
    assert (one.address, one.channel) == ("50111", "11")
    assert (one.rate_ml_h, one.vtbi_ml, one.volume_infused_ml, one.time_remaining_s) == (
        12.5,
        50.0,
        3.2,
        13478.0,
    )
    assert (one.drug, one.drug_short, one.concentration, one.concentration_unit) == (
        "Ketamine",
        "Ketamin",
        1.0,
        "mg/mL",
    )
    assert one.active == frozenset({"INM3"}) and one.dsstatus == 51
    assert (one.alarm1, one.alarm2, one.status1, one.prealarm) == (0, 0, None, 0)
    assert one.problems == ()
    assert (ten.address, ten.channel) == ("501110", "1A")
    assert (ten.rate_ml_h, ten.vtbi_ml, ten.volume_infused_ml, ten.time_remaining_s) == (
        2.0,
        None,
        0.4,
        None,
    )
    assert (ten.drug, ten.drug_short, ten.concentration, ten.concentration_unit) == (
        "Propofol 1%",
        None,
        None,
        None,
    )
    assert ten.active == frozenset({"INA3"}) and ten.dsstatus is None
    assert int(ten.alarm1) == 1024 and ten.problems == ()
    rack = [r for r in response.records if r.address == "50100"]
    assert rack == [
        BccRecord(1200, "50100", "FMNOR", "1"),
        BccRecord(1200, "50100", "FMSTAT", "00051"),
    ]
    assert {r.reltime for r in response.records if r.address == "501110"} == {1201}


def test_every_value_of_the_real_capture_part1() -> None:
    from tests.drivers.codecs.test_bbraun_bcc import REAL_PART1

    codec = BbraunBccCodec(stuffing=False)
    codec.receive(REAL_PART1)
    (block,) = list(codec.events())
    assert isinstance(block, BccBlock)
    values = {r.parameter: r.value for r in block.records if r.address == "50111"}
    assert values["GNNEW"] == "688F030006" and values["INSERNUM"] == "36248"
    assert values["INBORT"] == "800.00" and values["INNR"] == "60008D98"
    assert {r.reltime for r in block.records} == {214}
    (pump,) = decode_content(block.records).pumps
    assert (pump.rate_ml_h, pump.volume_infused_ml, pump.vtbi_ml, pump.time_remaining_s) == (
        0.0,
        0.0,
        None,
        0.0,
    )
    assert (pump.drug, pump.drug_short, pump.concentration, pump.concentration_unit) == (
        None,
        None,
        None,
        None,  # INDCONU 23 is "ng", not a concentration unit
    )
    assert pump.active == frozenset({"INM1", "INM8"}) and pump.dsstatus == 50
    assert pump.problems == ()
