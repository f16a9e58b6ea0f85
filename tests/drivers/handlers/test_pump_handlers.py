"""The pump handlers with plain-number time: handshake, polling, ACK/NAK, re-sends, conditions,
and the read-only guarantee under long runs with every emulator fault."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs.alaris_asena import encode_frame
from drivers.codecs.bbraun_bcc import encode_block, stuff
from drivers.handlers.alaris_asena import ALLOWED_COMMANDS as ASENA_ALLOWED
from drivers.handlers.alaris_asena import AlarisAsenaHandler
from drivers.handlers.base import HandlerOutput
from drivers.handlers.bbraun_bcc import ALLOWED_COMMANDS as BCC_ALLOWED
from drivers.handlers.bbraun_bcc import ALLOWED_CONTROL_BYTES, BbraunBccHandler
from drivers.readings import PumpCondition, PumpReading, PumpState
from simulator.devices.alaris_asena import AlarisAsenaEmulator
from simulator.devices.base import Fault
from simulator.devices.bbraun_bcc import BbraunSpaceEmulator, parse_request
from simulator.model import PumpModelState, Vitals

WALL = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
SOH, STX, ETX, EOT, ETB, RS = "\x01", "\x02", "\x03", "\x04", "\x17", "\x1e"

# Golden requests (see tests/drivers/codecs/test_bbraun_bcc.py for their derivation).
ALIVE_STUFFED = b"\x0100031\x021/1/1>AEXMIN:ALIVEE\x0300061\x04"
ALIVE = b"\x0100031\x021/1/1>ADMIN:ALIVE\x0300061\x04"
VERSION_STUFFED = b"\x0100041\x02ComSysteem/1/1>AEXMIN:VEERSION\x0300102\x04"
MEM_GET_STUFFED = b"\x0100035\x02ComSysteem/1/1>MEEM:GEET\x0300153\x04"
GNACK = b"\x0100046\x02ComSystem/1/1>1199,50100,GNACK,0\x0300132\x04"
VERSION_REPLY = b"\x0100044\x02ComSystem/1/1>1199,50100,V3.30\x0300220\x04"
ASENA_INF = b"!INF|4961\r"
ASENA_VTBI = b"!INF_VTBI|8456\r"
ASENA_ALARM = b"!ALARM|50B2\r"
ASENA_SERIAL = b"!INST_SERIALNO|457D\r"
ASENA_PROTOCOL = b"!COMMS_PROTOCOL|E8DA\r"
INF_REAL = b"!INF^8002-51733^A^HLD^0.00^ml/h^^0.969^ml^530.15^mmHg^00:04:09^EVENT^214725|DB9D\r"

Handler = BbraunBccHandler | AlarisAsenaHandler
Emulator = BbraunSpaceEmulator | AlarisAsenaEmulator


@dataclass
class Wire:
    """A handler and an emulator joined by a perfect cable, with time as a plain number."""

    handler: Handler
    emulator: Emulator
    pump: PumpModelState = field(default_factory=PumpModelState)
    t: float = 0.0
    faults: set[Fault] = field(default_factory=set)  # line faults: SILENCE, UNPLUG
    writes: list[tuple[float, bytes]] = field(default_factory=list)
    readings: list[PumpReading] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rng: random.Random | None = None  # set: replies arrive in random pieces

    def apply(self, out: HandlerOutput) -> None:
        queue = deque([out])
        while queue:
            current = queue.popleft()
            self.readings += [r for r in current.readings if isinstance(r, PumpReading)]
            self.rejected += current.rejected
            self.problems += current.problems
            for data in current.writes:
                self.writes.append((self.t, data))
                if Fault.UNPLUG in self.faults:
                    continue
                reply = self.emulator.receive(data, self.t, Vitals(), self.pump)
                if not reply or Fault.SILENCE in self.faults:
                    continue
                for piece in self.pieces(reply):
                    queue.append(self.handler.on_data(piece, self.t, WALL))

    def pieces(self, data: bytes) -> list[bytes]:
        if self.rng is None:
            return [data]
        cuts = sorted(self.rng.sample(range(1, len(data)), min(3, len(data) - 1)))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

    def open(self) -> None:
        self.apply(self.handler.on_open(self.t, WALL))

    def run(self, seconds: float, step: float = 0.1) -> None:
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.t = round(self.t + step, 6)
            self.apply(self.handler.on_tick(self.t, WALL))

    def sent(self, golden: bytes) -> list[float]:
        return [t for t, data in self.writes if data == golden]

    def last(self) -> PumpReading:
        return self.readings[-1]


def bcc_wire(pump: PumpModelState | None = None, **emulator: object) -> Wire:
    wire = Wire(BbraunBccHandler("pump"), BbraunSpaceEmulator(**emulator), pump or infusing())  # type: ignore[arg-type]
    wire.open()
    return wire


def asena_wire(pump: PumpModelState | None = None) -> Wire:
    wire = Wire(AlarisAsenaHandler("pump"), AlarisAsenaEmulator(), pump or infusing())
    wire.open()
    return wire


def infusing(**changes: object) -> PumpModelState:
    pump = PumpModelState(rate_ml_h=12.5, volume_infused_ml=3.2, vtbi_ml=50.0, state="infusing")
    for name, value in changes.items():
        setattr(pump, name, value)
    return pump


# --- B. Braun BCC ------------------------------------------------------------------------------


def test_bcc_handshake_learns_the_bed_id_then_polls() -> None:
    handler = BbraunBccHandler("pump")
    out = handler.on_open(0.0, WALL)
    assert out.writes == [ALIVE_STUFFED]  # default bed 1/1/1, stuffing on by default
    out = handler.on_data(stuff(GNACK), 0.1, WALL)
    assert out.writes == [b"\x06", VERSION_STUFFED] and handler.bed_id == "ComSystem"
    out = handler.on_data(stuff(VERSION_REPLY), 0.2, WALL)
    assert out.writes == [b"\x06", MEM_GET_STUFFED] and handler.version == "V3.30"
    assert out.frames_ok == 1


def test_bcc_with_stuffing_off() -> None:
    wire = Wire(
        BbraunBccHandler("pump", stuffing=False), BbraunSpaceEmulator(stuffing=False), infusing()
    )
    wire.open()
    wire.run(1.0)
    assert wire.writes[0] == (0.0, ALIVE)
    assert wire.last().state is PumpState.INFUSING


def test_bcc_acks_every_block_and_reports_every_pump() -> None:
    extra = {"12": PumpModelState(state="paused", drug="Propofol"), "1A": PumpModelState()}
    wire = bcc_wire(slots=("11", "12", "1A"), extra_pumps=extra)
    wire.run(0.5)
    assert [r.channel for r in wire.readings] == ["11", "12", "1A"]
    assert [r.state for r in wire.readings] == [
        PumpState.INFUSING,
        PumpState.PAUSED,
        PumpState.STANDBY,
    ]
    acks = [data for _, data in wire.writes if data == b"\x06"]
    assert len(acks) == 2 + 3  # GNACK, version, then three MEM:GET blocks
    assert wire.readings[0].drug == "Ketamine" and wire.readings[0].concentration == "1 mg/mL"


def test_bcc_naks_a_corrupt_block_and_takes_the_resent_one() -> None:
    handler = BbraunBccHandler("pump")
    handler.on_open(0.0, WALL)
    handler.on_data(stuff(GNACK), 0.0, WALL)
    handler.on_data(stuff(VERSION_REPLY), 0.0, WALL)  # MEM:GET is now outstanding
    good = encode_block("ComSystem", "5,50111,INRT,1.00\x1e5,50111,INM3,1")
    corrupt = good[:-6] + b"00000\x04"
    out = handler.on_data(corrupt, 0.5, WALL)
    assert out.writes == [b"\x15"] and out.rejected and not out.readings
    out = handler.on_data(good, 0.6, WALL)
    assert out.writes == [b"\x06"]
    readings = [r for r in out.readings if isinstance(r, PumpReading)]
    assert [(r.channel, r.rate_ml_h, r.state) for r in readings] == [
        ("11", 1.0, PumpState.INFUSING)
    ]


def test_bcc_stops_nakking_after_three_and_asks_again() -> None:
    wire = bcc_wire()
    wire.run(0.5)
    polls = len(wire.sent(MEM_GET_STUFFED))
    wire.emulator.faults.add(Fault.BAD_CHECKSUM)
    wire.run(5.0)  # next poll: first block bad, NAKed 3 times, then silence until the deadline
    naks = [data for _, data in wire.writes if data == b"\x15"]
    assert isinstance(wire.emulator, BbraunSpaceEmulator)
    assert len(naks) == 3 and wire.emulator.naks == 3
    wire.emulator.faults.clear()
    wire.run(5.5)
    assert len(wire.sent(MEM_GET_STUFFED)) == polls + 2
    assert wire.readings[-1].rate_ml_h == 12.5


def test_bcc_resends_an_unanswered_request_no_faster_than_the_poll_interval() -> None:
    wire = bcc_wire()
    wire.run(0.5)
    wire.faults.add(Fault.SILENCE)
    wire.run(40.0)
    times = wire.sent(MEM_GET_STUFFED)
    gaps = [b - a for a, b in pairwise(times)]
    assert len(times) >= 8 and min(gaps) >= 5.0 - 1e-9
    assert wire.handler.timeouts >= 7
    wire.faults.clear()
    count = len(wire.readings)
    wire.run(6.0)
    assert len(wire.readings) > count


def test_bcc_handshake_retries_then_waits() -> None:
    wire = Wire(BbraunBccHandler("pump"), BbraunSpaceEmulator(), infusing())
    wire.faults.add(Fault.SILENCE)
    wire.open()
    wire.run(15.0)
    # 3 s timeout, 3 attempts, then the handshake starts again one poll interval (5 s) later.
    assert wire.sent(ALIVE_STUFFED) == pytest.approx([0.0, 3.0, 6.0, 14.0])


def test_bcc_poll_rate_is_never_faster_than_five_seconds() -> None:
    wire = bcc_wire()
    wire.run(60.0)
    times = wire.sent(MEM_GET_STUFFED)
    gaps = [b - a for a, b in pairwise(times)]
    assert len(times) == 13 and min(gaps) >= 5.0 - 1e-9  # t = 0, 5, ..., 60


@pytest.mark.parametrize(
    ("pump", "state", "conditions"),
    [
        (infusing(), PumpState.INFUSING, set()),
        (infusing(alarms={"occlusion"}), PumpState.ALARM, {PumpCondition.OCCLUSION}),
        (infusing(alarms={"air"}), PumpState.ALARM, {PumpCondition.AIR_IN_LINE}),
        (infusing(state="complete"), PumpState.COMPLETE, {PumpCondition.END_OF_VOLUME}),
        (
            infusing(state="kvo", alarms={"end_of_volume"}),
            PumpState.KVO,
            {PumpCondition.END_OF_VOLUME},
        ),
        (infusing(state="paused"), PumpState.PAUSED, set()),
        (infusing(alarms={"paused"}), PumpState.PAUSED, set()),
        (infusing(alarms={"battery_low"}), PumpState.INFUSING, {PumpCondition.BATTERY_LOW}),
        (infusing(battery_low=True), PumpState.INFUSING, {PumpCondition.BATTERY_LOW}),
        (infusing(alarms={"door_open"}), PumpState.ALARM, {PumpCondition.DOOR_OPEN}),
        (infusing(state="standby"), PumpState.STANDBY, set()),
    ],
)
def test_bcc_conditions(
    pump: PumpModelState, state: PumpState, conditions: set[PumpCondition]
) -> None:
    wire = bcc_wire(pump)
    wire.run(0.5)
    reading = wire.last()
    assert (reading.state, reading.conditions) == (state, frozenset(conditions))
    assert reading.channel == "11" and reading.vtbi_ml == 50.0


def test_bcc_occlusion_at_time_t_is_reported_by_the_next_poll() -> None:
    pump = infusing()
    wire = bcc_wire(pump)
    wire.run(7.0)
    assert wire.last().state is PumpState.INFUSING
    pump.alarms.add("occlusion")
    occluded_at = wire.t
    wire.run(5.0)
    first = next(i for i, r in enumerate(wire.readings) if PumpCondition.OCCLUSION in r.conditions)
    assert wire.readings[first].state is PumpState.ALARM
    polls = [t for t in wire.sent(MEM_GET_STUFFED) if t > occluded_at]
    assert polls and polls[0] - occluded_at <= 5.0


def test_bcc_bitfields_alone_give_conditions_and_state() -> None:
    message = RS.join(["9,50112,ALARM1,268436480", "9,50112,STATUS1,129", "9,50112,PREALARM,16"])
    handler = BbraunBccHandler("pump", stuffing=False)
    handler.on_open(0.0, WALL)
    handler.on_data(GNACK + VERSION_REPLY, 0.0, WALL)
    out = handler.on_data(encode_block("ComSystem", message, stuffing=False), 0.1, WALL)
    (reading,) = out.readings
    assert isinstance(reading, PumpReading)
    assert reading.conditions == {
        PumpCondition.AIR_IN_LINE,  # 1 << 28
        PumpCondition.OCCLUSION,  # 1 << 10
        PumpCondition.BATTERY_LOW,  # PREALARM 1 << 4
    }
    assert reading.state is PumpState.ALARM and reading.channel == "12"


def test_bcc_new_bed_id_after_a_spacecom_restart() -> None:
    wire = bcc_wire()
    wire.run(0.5)
    wire.emulator.bed_id = "Bed7"  # type: ignore[union-attr]
    wire.run(6.0)
    handler = wire.handler
    assert isinstance(handler, BbraunBccHandler)
    assert handler.bed_id == "Bed7" and handler.rack_errors == 1
    assert wire.last().rate_ml_h == 12.5


def test_bcc_removed_pump_reports_unknown_for_its_channel() -> None:
    wire = bcc_wire(slots=("11", "12"), extra_pumps={"12": infusing()})
    wire.emulator.removed.add("12")  # type: ignore[union-attr]
    wire.run(5.5)
    assert [(r.channel, r.state) for r in wire.readings[-2:]] == [
        ("11", PumpState.INFUSING),
        ("12", PumpState.UNKNOWN),
    ]


def test_bcc_absurd_rate_never_reaches_a_reading() -> None:
    wire = bcc_wire()
    wire.emulator.faults.add(Fault.ABSURD_VALUE)
    wire.run(5.5)
    assert wire.last().rate_ml_h is None and wire.problems


def test_bcc_reopen_starts_the_handshake_again() -> None:
    wire = bcc_wire()
    wire.run(0.5)
    before = len(wire.writes)
    wire.open()
    assert wire.writes[before] == (wire.t, ALIVE_STUFFED)
    assert wire.writes[before + 2] == (wire.t, VERSION_STUFFED)  # after the GNACK's ACK


# --- Alaris ASENA -----------------------------------------------------------------------------


def test_asena_handshake_then_poll_cycle() -> None:
    handler = AlarisAsenaHandler("pump")
    assert handler.on_open(0.0, WALL).writes == [ASENA_PROTOCOL]
    out = handler.on_data(b"!COMMS_PROTOCOL^Asena Rev 2.1.5|661A\r", 0.1, WALL)
    assert out.writes == [ASENA_SERIAL] and handler.protocol_version == "Asena Rev 2.1.5"
    out = handler.on_data(b"!INST_SERIALNO^8002-51740|050B\r", 0.2, WALL)
    assert out.writes == [ASENA_INF] and handler.serial_number == "8002-51740"
    out = handler.on_data(INF_REAL, 0.3, WALL)  # alarm field "A": ask which alarm
    assert out.writes == [ASENA_VTBI] and not out.readings
    out = handler.on_data(b"!INF_VTBI^ACTIV^11.000^ml^STOP|4433\r", 0.4, WALL)
    assert out.writes == [ASENA_ALARM]
    out = handler.on_data(encode_frame("ALARM^AL_VTBIS^^"), 0.5, WALL)
    (reading,) = out.readings
    assert isinstance(reading, PumpReading)
    assert (reading.state, reading.conditions) == (
        PumpState.COMPLETE,
        frozenset({PumpCondition.END_OF_VOLUME}),
    )
    assert (reading.rate_ml_h, reading.volume_infused_ml, reading.vtbi_ml) == (0.0, 0.969, 11.0)
    assert reading.time_remaining_s == 249.0


def test_asena_polls_every_five_seconds() -> None:
    wire = asena_wire()
    wire.run(30.0)
    times = wire.sent(ASENA_INF)
    gaps = [b - a for a, b in pairwise(times)]
    assert len(times) == 7 and all(g == pytest.approx(5.0) for g in gaps)
    assert len(wire.readings) == 7


def test_asena_no_alarm_query_without_an_alarm() -> None:
    wire = asena_wire()
    wire.run(1.0)
    assert not wire.sent(ASENA_ALARM) and wire.last().state is PumpState.INFUSING


def test_asena_resends_an_unanswered_query_then_skips_the_cycle() -> None:
    wire = asena_wire()
    wire.run(1.0)
    wire.faults.add(Fault.SILENCE)
    wire.run(9.0)
    times = [t for t in wire.sent(ASENA_INF) if t > 1.0]
    assert times[:3] == pytest.approx([5.0, 6.0, 7.0])
    wire.faults.clear()
    count = len(wire.readings)
    wire.run(5.0)
    assert len(wire.readings) >= count + 1


def test_asena_bad_crc_is_rejected_and_retried() -> None:
    wire = asena_wire()
    wire.run(1.0)
    wire.emulator.faults.add(Fault.BAD_CHECKSUM)
    wire.run(5.0)
    assert any("CRC" in r for r in wire.rejected)
    wire.emulator.faults.clear()
    count = len(wire.readings)
    wire.run(5.0)
    assert len(wire.readings) > count


@pytest.mark.parametrize(
    ("pump", "state", "conditions"),
    [
        (infusing(), PumpState.INFUSING, set()),
        (infusing(alarms={"occlusion"}), PumpState.ALARM, {PumpCondition.OCCLUSION}),
        (infusing(state="complete"), PumpState.COMPLETE, {PumpCondition.END_OF_VOLUME}),
        (
            infusing(state="kvo", alarms={"end_of_volume"}),
            PumpState.KVO,
            {PumpCondition.END_OF_VOLUME},
        ),
        (infusing(state="paused"), PumpState.PAUSED, set()),
        (infusing(alarms={"paused"}), PumpState.PAUSED, set()),
        (infusing(alarms={"battery_low"}), PumpState.INFUSING, {PumpCondition.BATTERY_LOW}),
        (infusing(state="standby"), PumpState.STANDBY, set()),
        # A syringe pump has no air-in-line detector: the emulated Asena does not report air.
        (infusing(alarms={"air"}), PumpState.INFUSING, set()),
    ],
)
def test_asena_conditions(
    pump: PumpModelState, state: PumpState, conditions: set[PumpCondition]
) -> None:
    wire = asena_wire(pump)
    wire.run(1.0)
    reading = wire.last()
    assert (reading.state, reading.conditions) == (state, frozenset(conditions))
    assert reading.channel == "" and reading.vtbi_ml == 50.0


def test_asena_unknown_alarm_code_is_still_an_alarm() -> None:
    handler = AlarisAsenaHandler("pump")
    handler.on_open(0.0, WALL)
    handler.on_data(
        b"!COMMS_PROTOCOL^Asena Rev 2.1.5|661A\r!INST_SERIALNO^8002-51740|050B\r", 0, WALL
    )
    handler.on_data(INF_REAL + b"!INF_VTBI^DEACT^^^|F6D0\r", 0.1, WALL)
    out = handler.on_data(encode_frame("ALARM^AL_XYZZY^NEW^ "), 0.2, WALL)
    (reading,) = out.readings
    assert isinstance(reading, PumpReading)
    assert reading.state is PumpState.ALARM and reading.conditions == frozenset()


# --- read-only by design ----------------------------------------------------------------------

ALL_FAULTS = [
    Fault.GARBAGE,
    Fault.BAD_CHECKSUM,
    Fault.WRONG_LENGTH,
    Fault.MID_FRAME,
    Fault.ABSURD_VALUE,
    Fault.SILENCE,
    Fault.UNPLUG,
]


def long_run(wire: Wire, seed: int) -> None:
    """Ten simulated minutes; every 3 s a random fault toggles; replies arrive in pieces."""
    rng = random.Random(seed)
    wire.rng = rng
    pump = wire.pump
    for _ in range(200):
        fault = rng.choice(ALL_FAULTS)
        target = wire.faults if fault in (Fault.SILENCE, Fault.UNPLUG) else wire.emulator.faults
        if fault in target:
            target.discard(fault)
            if fault is Fault.UNPLUG:
                wire.emulator.reset_link()
                wire.open()  # the session reopens the port
        else:
            target.add(fault)
        pump.alarms = set(rng.sample(["occlusion", "air", "end_of_volume", "battery_low"], 1))
        pump.state = rng.choice(["infusing", "paused", "standby", "kvo", "complete"])
        wire.run(3.0)


def assert_ranges(readings: list[PumpReading]) -> None:
    for r in readings:
        assert r.rate_ml_h is None or 0 <= r.rate_ml_h <= 1800
        assert r.volume_infused_ml is None or 0 <= r.volume_infused_ml <= 9999.999
        assert r.vtbi_ml is None or 0 <= r.vtbi_ml <= 9999.999
        assert r.time_remaining_s is None or 0 <= r.time_remaining_s <= 86400
        assert r.drug is None or len(r.drug) <= 25


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bcc_only_ever_writes_read_only_requests(seed: int) -> None:
    extra = {"12": infusing()}
    wire = bcc_wire(slots=("11", "12"), extra_pumps=extra)
    long_run(wire, seed)
    assert wire.readings, "the run must have produced data"
    for _, data in wire.writes:
        if data in ALLOWED_CONTROL_BYTES:
            continue
        parsed = parse_request(data, stuffing=True)  # the emulator's own parser
        assert parsed is not None, data
        assert parsed[1] in BCC_ALLOWED, parsed
    assert {"ADMIN:ALIVE", "ADMIN:VERSION", "MEM:GET"} == BCC_ALLOWED
    assert not wire.emulator.forbidden
    assert_ranges(wire.readings)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_asena_only_ever_writes_read_only_queries(seed: int) -> None:
    wire = asena_wire()
    long_run(wire, seed)
    assert wire.readings
    assert {data for _, data in wire.writes} <= ASENA_ALLOWED
    assert {ASENA_INF, ASENA_VTBI, ASENA_ALARM, ASENA_SERIAL, ASENA_PROTOCOL} == ASENA_ALLOWED
    assert not wire.emulator.forbidden
    assert_ranges(wire.readings)


# --- fuzz -------------------------------------------------------------------------------------

VALUES = st.sampled_from(
    [
        "0",
        "1",
        "2",
        "_NV",
        "12.50",
        "1800.00",
        "1800.01",
        "-3",
        "9999.9",
        "10000",
        "65535",
        "65534",
        "abc",
        "",
        "1e3",
        "x" * 30,
        "4294967295",
        "4294967296",
    ]
)
PARAMS = st.sampled_from(
    [
        "INRT",
        "INVI",
        "INVTB",
        "INRMT",
        "INSOL",
        "INSOLSN",
        "INDCON",
        "INDCONU",
        "INM1",
        "INM3",
        "INM6",
        "INM10",
        "INA3",
        "INA7",
        "INA15",
        "ALARM1",
        "ALARM2",
        "STATUS1",
        "PREALARM",
        "DSSTATUS",
        "GNERR",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["50111", "5011A", "501110", "50100"]), PARAMS, VALUES),
        max_size=30,
    )
)
def test_fuzz_bcc_values_never_out_of_range(records: list[tuple[str, str, str]]) -> None:
    handler = BbraunBccHandler("pump", stuffing=False)
    handler.on_open(0.0, WALL)
    handler.on_data(GNACK + VERSION_REPLY, 0.0, WALL)
    message = RS.join(f"7,{a},{p},{v}" for a, p, v in records)
    out = handler.on_data(encode_block("ComSystem", message, stuffing=False), 0.1, WALL)
    assert_ranges([r for r in out.readings if isinstance(r, PumpReading)])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=8), st.booleans())
def test_fuzz_handlers_only_turn_bytes_into_events(chunks: list[bytes], asena: bool) -> None:
    handler: Handler = AlarisAsenaHandler("p") if asena else BbraunBccHandler("p")
    handler.on_open(0.0, WALL)
    for i, chunk in enumerate(chunks):
        handler.on_data(chunk, float(i), WALL)
        handler.on_tick(float(i) + 0.5, WALL)
