"""Philips IntelliVue emulator: its own framing and parser against the golden bytes, the
monitor's session behaviour (association, MDS create re-sends, periodic replies, linked results,
time-outs), every fault, and the import rule that keeps it independent of the driver."""

from __future__ import annotations

import ast
import random
import string
from datetime import UTC, datetime

import pytest

from drivers.codecs.base import FrameRejected
from drivers.codecs.philips_intellivue import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRefused,
    IntellivueEvent,
    MdsCreateEvent,
    PhilipsIntellivueCodec,
    PollReply,
    ReleaseResult,
    RemoteError,
    encode_association_request,
    encode_extended_poll,
    encode_frame,
    encode_keep_alive,
    encode_mds_create_result,
    encode_release_request,
    encode_single_poll,
)
from simulator.devices import catalogue
from simulator.devices import philips_intellivue as emulator_module
from simulator.devices.base import Emulator, Fault
from simulator.devices.philips_intellivue import (
    ClientMessage,
    PhilipsIntellivueEmulator,
    PollHeader,
    RequestReader,
    parse_client_message,
)
from simulator.model import PumpModelState, Vitals

PUMP = PumpModelState()
EPOCH = datetime(2026, 1, 1, 9, 0, tzinfo=UTC).timestamp()


def hexbytes(text: str) -> bytes:
    """Hex pairs; on each line, everything from the first word that is not a pair is a comment."""
    out = bytearray()
    for line in text.splitlines():
        for token in line.split():
            if len(token) != 2 or any(c not in string.hexdigits for c in token):
                break
            out.append(int(token, 16))
    return bytes(out)


# Golden bytes shared with tests/drivers/codecs/test_philips_intellivue.py (protocols.md §1,
# mdpnp, VSCaptureMP), repeated here so that the emulator is checked without the driver.
MDS_CREATE_RESULT = hexbytes(
    "C0 11 01 00 1C E1 00 00 02 00 02 00 14 00 01 00 01 00 0E 00 21 00 00 00 00 00 0A BD 00 0D"
    " 06 00 00 39 17 C1"
)
EXTENDED_POLL = hexbytes(
    "C0 11 01 00 30 E1 00 00 02 00 01 00 28 00 01 00 07 00 22 00 21 00 00 00 00 00 00 00 00 F1"
    " 3B 00 14 00 01 00 01 00 06 00 00 00 01 00 08 F1 3E 00 04 00 03 A9 80 58 71 C1"
)
MDS_CREATE_EVENT = """
    E1 00 00 02 00 01 00 3E 00 01 00 01 00 38
    00 21 00 00 00 00 00 0A BD 00 0D 06 00 2A
    00 21 00 00 00 00 00 04 00 20
    09 87 00 08 20 26 01 01 09 00 00 00
    09 8F 00 04 00 0A BD 00
    09 46 00 02 40 00
    09 A7 00 02 00 06
"""
ASSOCIATION_RESULT = """
    0E CE 05 08 13 01 00 16 01 02 80 00 14 02 00 02 C1 BE
    31 80 A0 80 80 01 01 00 00 A2 80 A0 03 00 00 01 A5 80 30 80 80 01 00 81 02 51 01 00 00
    30 80 80 01 00 81 0C 2A 86 48 CE 14 02 01 00 00 00 02 01 00 00 00 00 61 80 30 80 02 01
    01 A0 80 61 80 A1 80 06 0C 2A 86 48 CE 14 02 01 00 00 00 03 01 00 00 A2 03 02 01 00 A3
    05 A1 03 02 01 00 BE 80 28 80 02 01 02 81
    48 80 00 00 00 40 00 00 00 00 00 00 00 00 80 00 00 40 00 00 00 00 00 00 00
    00 01 00 2C 00 01 00 28 80 00 00 00 00 00 1F 40 00 00 03 E8 00 00 03 E8 FF FF FF FF
    60 00 00 00 00 01 00 0C F0 01 00 08 88 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
"""
POLL_REPLY = """
    E1 00 00 02 00 02 00 CE 00 01 00 07 00 C8 00 21 00 00 00 00 F1 3B 00 BE
    00 01 00 00 00 0A BD 00 20 26 01 01 09 00 00 00 00 01 00 06 00 00 00 01 00 A4
    00 00 00 02 00 9E
    01 01 00 06 00 3C
      09 2F 00 04 00 02 41 82 09 24 00 04 00 02 41 82 09 27 00 06 00 04 00 48 00 52
      09 50 00 0A 41 82 00 00 0A A0 00 00 00 48
      09 90 00 08 20 26 01 01 09 00 00 00 09 91 00 04 00 0A BD 00
    01 04 00 06 00 56
      09 2F 00 04 00 02 4A 04 09 24 00 04 00 02 4A 04 09 27 00 08 00 06 00 4E 00 42 00 50
      09 4B 00 22 00 03 00 1E
        4A 05 00 00 0F 20 00 00 00 78 4A 06 00 00 0F 20 00 00 00 50
        4A 07 00 00 0F 20 00 00 00 5D
      09 90 00 08 20 26 01 01 08 59 00 00 09 91 00 04 00 03 6A 00
"""
NOON = datetime(2026, 1, 1, 9, 0)


def test_import_rule_the_emulator_does_not_borrow_the_driver() -> None:
    tree = ast.parse(open(emulator_module.__file__).read())  # noqa: SIM115
    names = [
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert not [n for n in names if n.startswith(("drivers.codecs", "drivers.handlers"))]


def test_it_is_an_emulator_in_the_catalogue() -> None:
    emulator = catalogue.create("philips-intellivue")
    assert isinstance(emulator, PhilipsIntellivueEmulator)
    assert "philips-intellivue" in catalogue.MONITORS
    assert "philips-intellivue" in catalogue.available()
    checked: Emulator = emulator
    assert checked.driver == "philips-intellivue"


# --- its own framing against the golden bytes ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "wire"), [("3A 71", "C0 3A 71 9B 26 C1"), ("3A 91", "C0 3A 91 95 7D E1 C1")]
)
def test_own_fcs_and_escaping_reproduce_the_mdpnp_vectors(body: str, wire: str) -> None:
    data = hexbytes(body)
    framed = (
        bytes([0xC0])
        + emulator_module.stuff(data + emulator_module.fcs(data).to_bytes(2, "little"))
        + bytes([0xC1])
    )
    assert framed == hexbytes(wire)


def test_own_frame_builder_reproduces_the_computed_frames() -> None:
    assert emulator_module.frame(MDS_CREATE_RESULT[5:-3]) == MDS_CREATE_RESULT
    assert emulator_module.frame(EXTENDED_POLL[5:-3]) == EXTENDED_POLL


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (MDS_CREATE_RESULT, ClientMessage("mds_create_result", 1)),
        (EXTENDED_POLL, ClientMessage("extended_poll", 1, 1, 6, 0, 240000)),
        (encode_keep_alive(1), ClientMessage("single_poll", 1, 1, 0x21, 0x080C)),
        (encode_single_poll(0), ClientMessage("single_poll", 0, 1, 6, 0)),
        (encode_release_request(), ClientMessage("release_request")),
        (
            encode_association_request(),
            ClientMessage(
                "association_request",
                system_type=0x80000000,
                min_poll_ticks=2500,
                mtu_rx=2500,
                mtu_tx=1000,
                ext_options=0x8C000000,
            ),
        ),
    ],
)
def test_request_parser_on_the_golden_client_frames(wire: bytes, expected: ClientMessage) -> None:
    reader = RequestReader()
    (user_data,) = reader.feed(wire)
    assert parse_client_message(user_data) == expected


def test_request_reader_any_chunking_and_bad_frames() -> None:
    reader = RequestReader()
    found = []
    for byte in EXTENDED_POLL:
        found += reader.feed(bytes([byte]))
    assert len(found) == 1
    corrupt = bytearray(EXTENDED_POLL)
    corrupt[-3] ^= 0xFF  # the FCS
    assert reader.feed(b"\x00garbage" + bytes(corrupt) + EXTENDED_POLL[:9]) == []
    assert reader.bad_frames == 1
    assert len(reader.feed(EXTENDED_POLL)) == 1  # the cut frame is counted, the next one read
    assert reader.bad_frames == 2


# --- golden monitor messages -----------------------------------------------------------------


def test_association_result_and_mds_create_event_are_the_golden_bytes() -> None:
    emulator = PhilipsIntellivueEmulator(epoch=EPOCH)
    wire = emulator.receive(encode_association_request(), 0.0, Vitals(), PUMP)
    expected = emulator_module.frame(hexbytes(ASSOCIATION_RESULT)) + emulator_module.frame(
        hexbytes(MDS_CREATE_EVENT)
    )
    assert wire == expected


def test_poll_reply_is_the_golden_bytes() -> None:
    now = (NOON, 0x000ABD00)
    observations = [
        emulator_module.numeric_object(0x0101, 0x4182, "HR", [(0x4182, 0x0AA0, 72, 0)], stamp=now),
        emulator_module.numeric_object(
            0x0104,
            0x4A04,
            "NBP",
            [(0x4A05, 0x0F20, 120, 0), (0x4A06, 0x0F20, 80, 0), (0x4A07, 0x0F20, 93, 0)],
            stamp=(datetime(2026, 1, 1, 8, 59), 0x36A00),
        ),
    ]
    header = PollHeader(1, True, 1, 0, 0x000ABD00, NOON, 6, 0)
    assert emulator_module.poll_result(header, observations) == hexbytes(POLL_REPLY)


@pytest.mark.parametrize(
    ("value", "raw"),
    [(72, 0x00000048), (98.5, 0xFF0003D9), (36.65, 0xFE000E51), (None, 0x007FFFFF), (0, 0)],
)
def test_float_type_encoding(value: float | None, raw: int) -> None:
    assert emulator_module.float_type(value) == raw


# --- the session, decoded by the driver's codec --------------------------------------------------


class Line:
    """The emulator with the driver's codec reading what it sends."""

    def __init__(self, emulator: PhilipsIntellivueEmulator | None = None, **vitals: object) -> None:
        self.emulator = emulator or PhilipsIntellivueEmulator(epoch=EPOCH)
        self.vitals = Vitals(**vitals)  # type: ignore[arg-type]
        self.codec = PhilipsIntellivueCodec()

    def send(self, wire: bytes, t: float) -> list[IntellivueEvent]:
        return self._decode(self.emulator.receive(wire, t, self.vitals, PUMP))

    def tick(self, t: float) -> list[IntellivueEvent]:
        return self._decode(self.emulator.transmit(t, self.vitals, PUMP))

    def _decode(self, data: bytes) -> list[IntellivueEvent]:
        self.codec.receive(data)
        return list(self.codec.events())

    def associate(self, t: float = 0.0) -> MdsCreateEvent:
        accepted, event = self.send(encode_association_request(), t)
        assert isinstance(accepted, AssociationAccepted) and isinstance(event, MdsCreateEvent)
        assert self.send(encode_mds_create_result(event), t) == []
        return event


def test_poll_profile_negotiation() -> None:
    line = Line(PhilipsIntellivueEmulator(min_poll_period=0.25, mtu=600))
    (accepted, _) = line.send(encode_association_request(), 0.0)
    assert isinstance(accepted, AssociationAccepted) and accepted.user_info
    profile = accepted.user_info.poll_profile
    assert profile is not None
    assert profile.min_poll_period == 2500  # the client's 312.5 ms is above the monitor's 250
    assert profile.max_mtu_rx == 600 and profile.max_mtu_tx == 1000
    line = Line(PhilipsIntellivueEmulator(min_poll_period=2.0))
    (accepted, _) = line.send(encode_association_request(), 0.0)
    assert isinstance(accepted, AssociationAccepted) and accepted.user_info
    assert (
        accepted.user_info.poll_profile and accepted.user_info.poll_profile.min_poll_period_s == 2
    )


def test_mds_create_is_resent_until_answered_then_the_association_is_aborted() -> None:
    line = Line()
    events = line.send(encode_association_request(), 0.0)
    assert [type(e) for e in events] == [AssociationAccepted, MdsCreateEvent]
    sent = [
        t / 10
        for t in range(1, 90)
        if any(isinstance(e, MdsCreateEvent) for e in line.tick(t / 10))
    ]
    assert sent == [3.0, 6.0]  # three in all, 3 s apart (§9: a few times, seconds apart)
    assert [type(e) for e in line.tick(9.0)] == [AssociationAborted]
    assert line.emulator.association is None and line.emulator.aborts == 1


def test_polls_before_the_mds_create_result_are_ignored() -> None:
    line = Line()
    line.send(encode_association_request(), 0.0)
    assert line.send(encode_single_poll(1), 0.1) == []
    event = next(e for e in line.tick(3.0) if isinstance(e, MdsCreateEvent))
    line.send(encode_mds_create_result(event), 3.1)
    (reply,) = line.send(encode_single_poll(2), 3.2)
    assert isinstance(reply, PollReply) and not reply.extended and reply.invoke_id == 2


def test_extended_poll_is_confirmed_then_answered_periodically_until_its_period_ends() -> None:
    line = Line(PhilipsIntellivueEmulator(epoch=EPOCH, association_timeout=1000))
    line.associate()
    (first,) = line.send(encode_extended_poll(7, period_s=5.0), 0.5)
    assert isinstance(first, PollReply) and first.sequence_no == 0 and first.invoke_id == 7
    replies = []
    for step in range(1, 200):
        replies += [(step / 20, e) for e in line.tick(0.5 + step / 20)]
    assert [round(t, 2) for t, _ in replies] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [e.sequence_no for _, e in replies if isinstance(e, PollReply)] == [1, 2, 3, 4, 5]
    assert all(isinstance(e, PollReply) and e.invoke_id == 7 for _, e in replies)


def test_numerics_follow_the_vitals() -> None:
    line = Line(hr=81.0, spo2=96.0, nibp=(130.0, 85.0, 100.0), nibp_at=10.0, temp_c=37.2)
    line.associate()
    (reply,) = line.send(encode_single_poll(3), 40.0)
    assert isinstance(reply, PollReply)
    values = {n.physio_id: n.value for o in reply.observations for n in o.numerics}
    assert values[0x4182] == 81.0 and values[0x4BB8] == 96.0 and values[0x4B48] == 37.2
    assert (values[0x4A05], values[0x4A06], values[0x4A07]) == (130.0, 85.0, 100.0)
    assert values[0x50B0] == 36.0 and values[0x5012] == values[0x500A] == 14.0
    nibp = next(o for o in reply.observations if o.type_code == 0x4A04)
    assert nibp.compound and (reply.rel_time - (nibp.rel_time or 0)) == 30 * 8000
    co2 = next(o for o in reply.observations if o.type_code == 0x50AC)
    assert [n.physio_id for n in co2.numerics] == [0x50B0, 0x50BA]


def test_missing_values_are_nan_with_a_state() -> None:
    line = Line(hr=None, sensor_off=True, nibp=None, nibp_measuring=True)
    line.associate()
    (reply,) = line.send(encode_single_poll(3), 1.0)
    assert isinstance(reply, PollReply)
    numerics = {n.physio_id: n for o in reply.observations for n in o.numerics}
    assert numerics[0x4182].value is None and numerics[0x4182].state == 0x2000
    assert numerics[0x4BB8].value is None and numerics[0x4BB8].state == 0x8000
    assert numerics[0x4A05].state == 0x2000 | 0x0020


def test_large_replies_go_out_as_linked_results_that_join_back() -> None:
    small = Line(PhilipsIntellivueEmulator(epoch=EPOCH, mtu=250), temp_c=36.5)
    small.associate()
    big = Line(PhilipsIntellivueEmulator(epoch=EPOCH), temp_c=36.5)
    big.associate()
    (joined,) = small.send(encode_single_poll(4), 1.0)
    (whole,) = big.send(encode_single_poll(4), 1.0)
    assert isinstance(joined, PollReply) and isinstance(whole, PollReply)
    assert joined.parts >= 4 and whole.parts == 1
    assert joined.observations == whole.observations
    assert small.emulator.linked_replies == 1


def test_mds_keep_alive_poll_and_release() -> None:
    line = Line()
    line.associate()
    (reply,) = line.send(encode_keep_alive(9), 1.0)
    assert isinstance(reply, PollReply) and reply.obj_class == 0x21
    assert reply.observations[0].operating_mode == 0x4000
    assert line.send(encode_release_request(), 2.0) == [ReleaseResult()]
    assert line.emulator.association is None and line.emulator.releases == 1
    assert line.send(encode_single_poll(1), 2.1) == []  # no association: nothing answered


@pytest.mark.parametrize(
    ("min_poll_period", "timeout"), [(1.0, 10.0), (5.0, 15.0), (20.0, 60.0), (60.0, 130.0)]
)
def test_a_silent_client_is_aborted_after_the_association_timeout(
    min_poll_period: float, timeout: float
) -> None:
    line = Line(PhilipsIntellivueEmulator(epoch=EPOCH, min_poll_period=min_poll_period))
    line.associate(t=0.0)
    assert line.emulator.association_timeout(min_poll_period) == timeout
    assert not any(isinstance(e, AssociationAborted) for e in line.tick(timeout))
    assert line.tick(timeout + 0.05) == [AssociationAborted()]


def test_any_client_message_restarts_the_timeout() -> None:
    line = Line()
    line.associate()
    line.send(encode_keep_alive(2), 8.0)
    assert not any(isinstance(e, AssociationAborted) for e in line.tick(17.0))
    assert AssociationAborted() in line.tick(18.1)


def test_a_second_association_request_is_refused() -> None:
    line = Line()
    line.associate()
    assert line.send(encode_association_request(), 1.0) == [AssociationRefused()]


def test_forbidden_requests_are_recorded_and_refused() -> None:
    line = Line()
    line.associate()
    set_request = bytes.fromhex("e1000002000100160001000500100021000000000000000000000000")
    assert line.send(encode_frame(set_request), 1.0) == [RemoteError(1, 2)]
    assert line.emulator.forbidden == ["set"]
    assert "set" in line.emulator.requests


# --- faults -------------------------------------------------------------------------------------


def test_refuse_fault() -> None:
    line = Line()
    line.emulator.faults.add(Fault.REFUSE)
    assert line.send(encode_association_request(), 0.0) == [AssociationRefused()]
    assert line.emulator.refusals == 1 and line.emulator.association is None


def test_abort_fault_aborts_an_operating_association() -> None:
    line = Line()
    line.associate()
    line.emulator.faults.add(Fault.ABORT)
    assert line.tick(0.5) == [AssociationAborted()]
    assert line.tick(0.6) == []  # nothing left to abort


def test_silence_fault_sends_nothing_but_still_listens() -> None:
    line = Line()
    line.emulator.faults.add(Fault.SILENCE)
    assert line.send(encode_association_request(), 0.0) == []
    assert line.emulator.association is not None


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.BAD_CHECKSUM, "FCS"),
        (Fault.WRONG_LENGTH, "length field"),
        (Fault.MID_FRAME, "outside a frame"),
    ],
)
def test_corruption_faults(fault: Fault, reason: str) -> None:
    line = Line()
    line.associate()
    line.emulator.faults.add(fault)
    events = line.send(encode_single_poll(5), 1.0)
    line.emulator.faults.discard(fault)
    events += line.send(encode_single_poll(6), 1.1)  # a cut frame shows when the next begins
    assert isinstance(events[0], FrameRejected) and reason in events[0].reason
    assert [type(e) for e in events[1:]] == [PollReply]


def test_garbage_fault_puts_noise_before_every_frame() -> None:
    line = Line(PhilipsIntellivueEmulator(epoch=EPOCH, rng=random.Random(3)))
    line.associate()
    line.emulator.faults.add(Fault.GARBAGE)
    events = line.send(encode_single_poll(5), 1.0)
    assert any(isinstance(e, PollReply) for e in events)
    assert isinstance(events[0], FrameRejected)


def test_demo_mode_and_absurd_value() -> None:
    line = Line()
    line.emulator.faults.update({Fault.DEMO_MODE, Fault.ABSURD_VALUE})
    event = line.associate()
    assert event.operating_mode == 0x2000
    (reply,) = line.send(encode_single_poll(5), 1.0)
    assert isinstance(reply, PollReply)
    numerics = [n for o in reply.observations for n in o.numerics]
    assert all(n.state & 0x0400 for n in numerics)
    assert next(n for n in numerics if n.physio_id == 0x4BB8).value == 300.0
