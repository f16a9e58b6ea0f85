"""GE DRI emulator: request parsing (golden vectors), schedule, records, faults, import rule."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from drivers.codecs.base import FrameRejected
from drivers.codecs.ge_dri import (
    GeDriCodec,
    GeDriEvent,
    NibpLabel,
    PhdbClass,
    PhdbRecord,
    WaveformRecord,
)
from simulator.devices import ge_dri as emulator_module
from simulator.devices.base import Emulator, Fault
from simulator.devices.ge_dri import DisplayRequest, GeDriEmulator, RequestReader
from simulator.model import PumpModelState, Vitals

PUMP = PumpModelState()

# M1017617 Appendix A (reference/protocols.md §9), byte for byte, plus an escaped data byte and
# an escaped checksum computed from the same layout.
HEAD = "7e31" + "00" * 20 + "ff" + "00" * 18  # r_len 49, sr_desc[1] = end of list
REQUESTS = [
    (HEAD + "010a000e" + "00" * 5 + "497e", DisplayRequest(10, 0x0E)),
    (HEAD + "01" + "00" * 8 + "317e", DisplayRequest(0, 0)),
    (HEAD + "017d5e00" + "00" * 6 + "af7e", DisplayRequest(126, 0)),
    (HEAD + "014d00" + "00" * 6 + "7d5e7e", DisplayRequest(77, 0)),
]
REQUEST_1S = HEAD + "0101000e" + "00" * 5 + "407e"
REQUEST_1S_BASIC_ONLY = HEAD + "01010000" + "00" * 5 + "327e"
STOP = REQUESTS[1][0]


@pytest.mark.parametrize(("wire", "expected"), REQUESTS)
def test_request_parser_golden_vectors(wire: str, expected: DisplayRequest) -> None:
    assert RequestReader().feed(bytes.fromhex(wire)) == [expected]


def test_request_parser_any_chunking_and_bad_frames() -> None:
    wire = bytes.fromhex(REQUESTS[0][0])
    reader = RequestReader()
    found = []
    for byte in wire:
        found += reader.feed(bytes([byte]))
    assert found == [REQUESTS[0][1]]
    corrupt = bytearray(wire)
    corrupt[-2] ^= 0xFF  # the checksum
    assert reader.feed(bytes(corrupt)) == []
    assert reader.bad_frames == 1


def decode(data: bytes) -> list[GeDriEvent]:
    codec = GeDriCodec()
    codec.receive(data)
    return list(codec.events())


def requested(wire: str = REQUEST_1S, **kwargs: object) -> GeDriEmulator:
    emulator = GeDriEmulator(epoch=1_700_000_000, **kwargs)  # type: ignore[arg-type]
    assert emulator.receive(bytes.fromhex(wire), 0.0, Vitals(), PUMP) == b""
    return emulator


def test_follows_the_emulator_protocol() -> None:
    emulator: Emulator = GeDriEmulator()
    assert emulator.driver == "ge-dri"


def test_silent_until_asked_then_every_interval_until_stopped() -> None:
    emulator = GeDriEmulator()
    assert emulator.transmit(5.0, Vitals(), PUMP) == b""
    emulator.receive(bytes.fromhex(REQUEST_1S), 10.0, Vitals(), PUMP)
    sent = [
        t for t in (10.0, 10.5, 10.99, 11.0, 11.5, 12.0) if emulator.transmit(t, Vitals(), PUMP)
    ]
    assert sent == [10.0, 11.0, 12.0]
    emulator.receive(bytes.fromhex(STOP), 12.2, Vitals(), PUMP)
    assert emulator.transmit(20.0, Vitals(), PUMP) == b""


def test_no_burst_after_a_pause_in_the_runner() -> None:
    emulator = requested()
    assert emulator.transmit(0.0, Vitals(), PUMP)
    assert emulator.transmit(30.0, Vitals(), PUMP)
    assert emulator.transmit(30.5, Vitals(), PUMP) == b""


def test_record_decodes_with_the_requested_classes() -> None:
    vitals = Vitals(hr=64, pulse_rate=63, spo2=95.5, resp_rate=12, etco2_mmhg=40.0,
                    fico2_mmhg=1.0, ambient_mmhg=750.0, temp_c=36.6)  # fmt: skip
    [record] = decode(requested().transmit(0.0, vitals, PUMP))
    assert isinstance(record, PhdbRecord)
    assert [s.phdb_class for s in record.subrecords] == list(PhdbClass)
    assert record.header.time == 1_700_000_000
    basic = record.basic
    assert basic is not None
    assert (basic.hr, basic.pulse_rate, basic.spo2, basic.resp_rate) == (64, 63, 95.5, 12)
    assert basic.ambient_mmhg == 750.0
    assert basic.etco2_mmhg == pytest.approx(40.0, abs=0.04)  # sent as % with 0.01 resolution
    assert basic.fico2_mmhg == pytest.approx(1.0, abs=0.04)
    assert basic.temperatures[0][1] == 36.6
    assert (basic.nibp_sys, basic.nibp_dia, basic.nibp_mean) == (None, None, None)
    [only_basic] = decode(requested(REQUEST_1S_BASIC_ONLY).transmit(0.0, vitals, PUMP))
    assert [s.phdb_class for s in only_basic.subrecords] == [PhdbClass.BASIC]  # type: ignore[union-attr]


def test_records_are_numbered() -> None:
    emulator = requested()
    numbers = [decode(emulator.transmit(float(t), Vitals(), PUMP))[0] for t in range(3)]
    assert [r.header.number for r in numbers] == [0, 1, 2]  # type: ignore[union-attr]


def test_nibp_labels_follow_the_cuff() -> None:
    emulator = requested()

    def basic(vitals: Vitals, t: float) -> tuple[NibpLabel, tuple[float | None, ...]]:
        [record] = decode(emulator.transmit(t, vitals, PUMP))
        assert isinstance(record, PhdbRecord)
        assert record.basic is not None
        b = record.basic
        return b.nibp_flags, (b.nibp_sys, b.nibp_dia, b.nibp_mean)

    measured = Vitals(nibp=(118, 76, 90), nibp_at=0.0)
    assert basic(measured, 0.0) == (NibpLabel(0), (118, 76, 90))
    assert basic(measured, 61.0) == (NibpLabel.OLDER_THAN_60S, (118, 76, 90))
    inflating = Vitals(nibp=(118, 76, 90), nibp_at=0.0, nibp_measuring=True)
    assert basic(inflating, 62.0)[0] & NibpLabel.MEASURING
    failed = Vitals(nibp=(118, 76, 90), nibp_at=63.0, nibp_failed=True)
    assert basic(failed, 63.0) == (NibpLabel(0), (None, None, None))


def test_oximeter_sensor_off_makes_the_spo2_group_inactive() -> None:
    [record] = decode(requested().transmit(0.0, Vitals(sensor_off=True), PUMP))
    assert isinstance(record, PhdbRecord)
    assert record.basic is not None
    assert record.basic.spo2_group.exists
    assert not record.basic.spo2_group.active
    assert record.basic.spo2 is None


def test_waveform_records_when_enabled() -> None:
    events = decode(requested(waveforms=True).transmit(0.0, Vitals(), PUMP))
    assert [type(e) for e in events] == [PhdbRecord, WaveformRecord]
    assert events[1].waves[0].wave_type == 8  # type: ignore[union-attr]


# --- faults --------------------------------------------------------------------------------


def transmit_with(fault: Fault, t: float = 0.0) -> list[GeDriEvent]:
    emulator = requested(rng=random.Random(3))
    emulator.faults.add(fault)
    return decode(emulator.transmit(t, Vitals(), PUMP))


def rejected(events: list[GeDriEvent]) -> list[str]:
    return [e.reason for e in events if isinstance(e, FrameRejected)]


def test_fault_bad_checksum() -> None:
    events = transmit_with(Fault.BAD_CHECKSUM)
    assert len(events) == 1
    assert "checksum" in rejected(events)[0]


def test_fault_wrong_length() -> None:
    events = transmit_with(Fault.WRONG_LENGTH)
    assert len(events) == 1
    assert "r_len" in rejected(events)[0]


def test_fault_garbage_comes_before_a_good_frame() -> None:
    for seed in range(20):
        emulator = requested(rng=random.Random(seed))
        emulator.faults.add(Fault.GARBAGE)
        events = decode(emulator.transmit(0.0, Vitals(), PUMP))
        assert isinstance(events[-1], PhdbRecord), seed
        assert rejected(events), seed


def test_fault_mid_frame_is_one_shot() -> None:
    emulator = requested()
    emulator.faults.add(Fault.MID_FRAME)
    codec = GeDriCodec()
    codec.receive(emulator.transmit(0.0, Vitals(), PUMP))
    codec.receive(emulator.transmit(1.0, Vitals(), PUMP))
    events = list(codec.events())
    assert [type(e) for e in events] == [FrameRejected, PhdbRecord]
    assert Fault.MID_FRAME not in emulator.faults


def test_fault_absurd_value() -> None:
    [record] = transmit_with(Fault.ABSURD_VALUE)
    assert record.basic.spo2 == 300  # type: ignore[union-attr]


def test_fault_silence() -> None:
    assert transmit_with(Fault.SILENCE) == []


# --- the import rule ---------------------------------------------------------------------


def test_emulator_shares_no_code_with_the_driver() -> None:
    tree = ast.parse(Path(emulator_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert not {m for m in imported if m.startswith("drivers") and m != "drivers.readings"}
