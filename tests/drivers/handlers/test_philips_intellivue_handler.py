"""Philips IntelliVue handler: the session state machine with a fake clock (plain numbers, no
sleeps) against the emulator in-process, through every fault; keep-alive timing; mapping to
readings; eight hours in fast-forward."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from drivers.codecs.philips_intellivue import (
    MessageKind,
    PollRequest,
    decode_message,
    encode_frame,
    message_kind,
)
from drivers.errors import DriverUsageError
from drivers.handlers.base import HandlerOutput
from drivers.handlers.philips_intellivue import (
    ALLOWED_COMMANDS,
    TRANSITIONS,
    IntellivueTimings,
    Phase,
    PhilipsIntellivueHandler,
    Trigger,
    keepalive_interval,
)
from drivers.readings import (
    Condition,
    DeviceConditions,
    Metric,
    Reading,
    Validity,
    VitalReading,
)
from drivers.registry import handler_factory
from simulator.devices import philips_intellivue as monitor
from simulator.devices.base import Fault
from simulator.devices.philips_intellivue import PhilipsIntellivueEmulator
from simulator.model import PumpModelState, Vitals

W0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
EPOCH = W0.timestamp()
PUMP = PumpModelState()

# protocols.md §1, computed frames (the golden vectors of the codec tests).
GOLDEN_MDS_CREATE_RESULT = bytes.fromhex(
    "C0 11 01 00 1C E1 00 00 02 00 02 00 14 00 01 00 01 00 0E 00 21 00 00 00 00 00 0A BD 00 0D"
    " 06 00 00 39 17 C1"
)
GOLDEN_EXTENDED_POLL = bytes.fromhex(
    "C0 11 01 00 30 E1 00 00 02 00 01 00 28 00 01 00 07 00 22 00 21 00 00 00 00 00 00 00 00 F1"
    " 3B 00 14 00 01 00 01 00 06 00 00 00 01 00 08 F1 3E 00 04 00 03 A9 80 58 71 C1"
)


class Bed:
    """One handler and one emulated monitor joined by a perfect line; time is a number."""

    def __init__(
        self,
        handler: PhilipsIntellivueHandler | None = None,
        emulator: PhilipsIntellivueEmulator | None = None,
        vitals: Vitals | None = None,
    ) -> None:
        self.handler = handler or PhilipsIntellivueHandler("monitor")
        self.emulator = emulator or PhilipsIntellivueEmulator(epoch=EPOCH)
        self.vitals = vitals or Vitals(nibp=(121, 79, 93), nibp_at=-60.0)
        self.t = 0.0
        self.readings: list[Reading] = []
        self.rejected: list[str] = []
        self.problems: list[str] = []
        self.frames_ok = 0
        self.sent: list[tuple[float, MessageKind, bytes]] = []
        self.lose_next: set[MessageKind] = set()

    def wall(self) -> datetime:
        return W0 + timedelta(seconds=self.t)

    def open(self) -> None:
        self._apply(self.handler.on_open(self.t, self.wall()))

    def _apply(self, out: HandlerOutput) -> None:
        self.readings += out.readings
        self.rejected += out.rejected
        self.problems += out.problems
        self.frames_ok += out.frames_ok
        for data in out.writes:
            message = decode_message(data)
            kind = message_kind(message)
            assert kind in ALLOWED_COMMANDS, kind
            if isinstance(message, PollRequest):  # only the numerics and the MDS are polled
                assert message.obj_class in (0x06, 0x21)
            self.sent.append((self.t, kind, data))
            if kind in self.lose_next:
                self.lose_next.discard(kind)
                continue
            reply = self.emulator.receive(data, self.t, self.vitals, PUMP)
            if reply:
                self._apply(self.handler.on_data(reply, self.t, self.wall()))

    def run(self, seconds: float, step: float = 0.1) -> None:
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.t = round(self.t + step, 6)
            data = self.emulator.transmit(self.t, self.vitals, PUMP)
            if data:
                self._apply(self.handler.on_data(data, self.t, self.wall()))
            deadline = self.handler.next_deadline()
            if deadline is None:
                assert self.handler.phase is Phase.CLOSED  # only a closed session has nothing
            else:
                assert deadline > self.t - step - 1e-6  # never overdue
            self._apply(self.handler.on_tick(self.t, self.wall()))

    def run_until(self, predicate: object, limit: float = 120.0, step: float = 0.1) -> None:
        assert callable(predicate)
        end = self.t + limit
        while not predicate():
            assert self.t < end, f"not within {limit} s (phase {self.handler.phase})"
            self.run(step, step)

    # -- what came out ---------------------------------------------------------------------

    def vitals_of(self, metric: Metric, since: int = 0) -> list[VitalReading]:
        return [
            r for r in self.readings[since:] if isinstance(r, VitalReading) and r.metric is metric
        ]

    def values(self, metric: Metric, since: int = 0) -> list[float | None]:
        return [r.value for r in self.vitals_of(metric, since)]

    def kinds(self, since: float = 0.0) -> list[MessageKind]:
        return [kind for t, kind, _ in self.sent if t >= since]

    def conditions(self) -> list[frozenset[Condition]]:
        return [r.active for r in self.readings if isinstance(r, DeviceConditions)]


def polling(bed: Bed) -> Bed:
    bed.open()
    bed.run_until(lambda: bed.handler.phase is Phase.POLLING and bed.values(Metric.HR))
    return bed


# --- the session -----------------------------------------------------------------------------


def test_open_association_mds_create_and_first_poll_are_the_golden_frames() -> None:
    bed = Bed()
    bed.open()
    kinds = bed.kinds()
    assert kinds[:3] == [
        MessageKind.ASSOCIATION_REQUEST,
        MessageKind.MDS_CREATE_RESULT,
        MessageKind.EXTENDED_POLL,
    ]
    # The emulator's first MDS Create Event has invoke id 1 and event time 0x000ABD00, the
    # handler's first poll invoke id 1: both answers are protocols.md's computed frames.
    assert bed.sent[1][2] == GOLDEN_MDS_CREATE_RESULT
    assert bed.sent[2][2] == GOLDEN_EXTENDED_POLL
    assert bed.handler.phase is Phase.POLLING
    assert bed.handler.min_poll_period == 1.0  # from the Association Result
    assert bed.handler.keepalive == pytest.approx(10 / 3)


def test_readings_arrive_mapped_and_nibp_is_reported_once() -> None:
    bed = polling(Bed(vitals=Vitals(nibp=(121, 79, 93), nibp_at=-60.0, temp_c=36.6)))
    bed.run(10)
    assert set(bed.values(Metric.HR)) == {72.0}
    assert set(bed.values(Metric.SPO2)) == {98.0}
    assert set(bed.values(Metric.PULSE_RATE)) == {72.0}
    assert set(bed.values(Metric.RESP_RATE)) == {14.0}
    assert set(bed.values(Metric.ETCO2)) == {36.0}
    assert set(bed.values(Metric.FICO2)) == {0.0}
    assert set(bed.values(Metric.TEMP)) == {36.6}
    assert len(bed.values(Metric.HR)) >= 10  # real-time numerics, every second
    assert all(r.validity is Validity.VALID for r in bed.readings if isinstance(r, VitalReading))
    sys_ = bed.vitals_of(Metric.NIBP_SYS)
    assert [r.value for r in sys_] == [121.0]  # once per measurement
    assert sys_[0].measured_at == W0 - timedelta(seconds=60)  # dated by its time stamp
    assert bed.values(Metric.NIBP_DIA) == [79.0] and bed.values(Metric.NIBP_MEAN) == [93.0]
    assert bed.conditions() == [frozenset()]
    assert not bed.rejected and not bed.problems


def test_a_new_nibp_measurement_is_reported_after_the_cuff_finishes() -> None:
    bed = polling(Bed())
    bed.vitals.nibp_measuring = True
    mark = len(bed.readings)
    bed.run(5)
    assert not bed.vitals_of(Metric.NIBP_SYS, mark)  # measuring: nothing yet
    bed.vitals.nibp_measuring, bed.vitals.nibp, bed.vitals.nibp_at = False, (118, 76, 90), bed.t
    bed.run(5)
    assert bed.values(Metric.NIBP_SYS, mark) == [118.0]
    assert bed.vitals_of(Metric.NIBP_SYS, mark)[0].measured_at == W0 + timedelta(seconds=bed.t - 5)


@pytest.mark.parametrize(
    ("min_poll_period", "keepalive", "association_timeout"),
    [(0.3125, 10 / 3, 10.0), (1.0, 10 / 3, 10.0), (5.0, 5.0, 15.0), (43.0, 43.0, 129.0)],
)
def test_keepalive_interval_follows_the_association_timeout_table(
    min_poll_period: float, keepalive: float, association_timeout: float
) -> None:
    assert keepalive_interval(min_poll_period) == pytest.approx(keepalive)
    assert keepalive_interval(min_poll_period) >= min_poll_period  # never poll faster
    assert keepalive_interval(min_poll_period) <= association_timeout / 2.9
    assert keepalive_interval(60.0) == 60.0  # 130 s time-out


@pytest.mark.parametrize("min_poll_period", [1.0, 5.0, 20.0])
def test_keep_alives_keep_the_association_under_the_monitors_timeout(
    min_poll_period: float,
) -> None:
    emulator = PhilipsIntellivueEmulator(
        epoch=EPOCH, min_poll_period=min_poll_period, numeric_period=min_poll_period
    )
    timings = IntellivueTimings(silence_timeout=3 * min_poll_period + 5)
    bed = polling(Bed(PhilipsIntellivueHandler("monitor", timings=timings), emulator))
    start = bed.t
    bed.run(300, step=0.25)
    times = [t for t, _, _ in bed.sent if t >= start]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= bed.handler.keepalive + 0.25
    assert bed.handler.keepalive == pytest.approx(keepalive_interval(min_poll_period))
    assert bed.handler.keepalives > 0
    assert emulator.aborts == 0 and emulator.associations == 1
    # the extended poll is renewed 5 s before its 30 s end, so numerics never stop
    renewals = [t for t, kind, _ in bed.sent if kind is MessageKind.EXTENDED_POLL]
    assert [round(b - a, 2) for a, b in itertools.pairwise(renewals)][:3] == [25.0] * 3


def test_keep_alive_is_an_mds_single_poll_never_faster_than_the_minimum_poll_period() -> None:
    emulator = PhilipsIntellivueEmulator(epoch=EPOCH, min_poll_period=5.0, numeric_period=5.0)
    bed = polling(Bed(emulator=emulator))
    start = bed.t
    bed.run(60, step=0.1)
    polls = [decode_message(d) for t, _, d in bed.sent if t >= start]
    keep_alives = [p for p in polls if isinstance(p, PollRequest) and not p.extended]
    assert keep_alives and all(p.obj_class == 0x21 and p.attr_group == 0x080C for p in keep_alives)
    times = [t for t, kind, _ in bed.sent if t >= start and kind is MessageKind.SINGLE_POLL]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 5.0 - 1e-6


def test_every_mds_create_event_is_answered_and_the_poll_sent_again() -> None:
    bed = Bed()
    bed.lose_next.add(MessageKind.MDS_CREATE_RESULT)  # the first answer is lost on the line
    bed.open()
    bed.run_until(lambda: bed.values(Metric.HR), limit=20)
    assert bed.handler.mds_results == 2 and bed.emulator.mds_create_results == 1
    assert bed.kinds().count(MessageKind.EXTENDED_POLL) == 2
    assert bed.handler.associations == 1 and bed.handler.timeouts == 0


def test_mds_create_never_answered_means_the_monitor_aborts_and_the_driver_reconnects() -> None:
    bed = Bed()
    bed.lose_next.update({MessageKind.MDS_CREATE_RESULT})
    bed.open()
    bed.lose_next.add(MessageKind.MDS_CREATE_RESULT)
    bed.run(3.05)
    bed.lose_next.add(MessageKind.MDS_CREATE_RESULT)
    bed.run(3.0)
    bed.run_until(lambda: bed.emulator.aborts == 1, limit=10)
    assert bed.handler.aborts == 1
    bed.run_until(lambda: bed.values(Metric.HR), limit=30)
    assert bed.emulator.associations == 2


def test_a_lost_association_result_is_recovered_from_the_mds_create_event() -> None:
    handler = PhilipsIntellivueHandler("monitor")
    handler.on_open(0.0, W0)
    event = monitor.mds_create_event(1, 0x000ABD00, W0.replace(tzinfo=None), False)
    out = handler.on_data(monitor.frame(event), 0.1, W0)
    assert handler.phase is Phase.POLLING and out.writes[0] == GOLDEN_MDS_CREATE_RESULT
    assert [message_kind(decode_message(w)) for w in out.writes] == [
        MessageKind.MDS_CREATE_RESULT,
        MessageKind.EXTENDED_POLL,
    ]


# --- faults ---------------------------------------------------------------------------------


def aarq_times(bed: Bed) -> list[float]:
    return [t for t, kind, _ in bed.sent if kind is MessageKind.ASSOCIATION_REQUEST]


def test_refused_association_backs_off_then_recovers() -> None:
    bed = Bed()
    bed.emulator.faults.add(Fault.REFUSE)
    bed.open()
    bed.run(20)
    assert bed.handler.refusals >= 4 and not bed.values(Metric.HR)
    assert bed.frames_ok == 0  # nothing that counts as data: the link goes stale
    times = aarq_times(bed)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(times)]
    assert gaps[:4] == [1.0, 2.0, 4.0, 8.0]  # exponential back-off
    # every refusal is followed by a Release Request (the monitor may hold a stale association)
    assert bed.kinds().count(MessageKind.RELEASE_REQUEST) == bed.handler.refusals
    assert "association refused by the monitor" in bed.problems
    bed.emulator.faults.discard(Fault.REFUSE)
    bed.run_until(lambda: bed.values(Metric.HR), limit=40)
    assert bed.handler.phase is Phase.POLLING


def test_backoff_is_capped_and_resets_once_numerics_flow() -> None:
    timings = IntellivueTimings(backoff_initial=1.0, backoff_max=4.0)
    bed = Bed(PhilipsIntellivueHandler("monitor", timings=timings))
    bed.emulator.faults.add(Fault.REFUSE)
    bed.open()
    bed.run(30)
    times = aarq_times(bed)
    assert max(b - a for a, b in itertools.pairwise(times)) == pytest.approx(4.0)
    bed.emulator.faults.discard(Fault.REFUSE)
    bed.run_until(lambda: bed.values(Metric.HR), limit=10)
    bed.emulator.faults.add(Fault.ABORT)
    bed.run_until(lambda: bed.handler.aborts == 1, limit=5)
    bed.emulator.faults.discard(Fault.ABORT)
    abort_at = bed.t
    bed.run(3)
    assert aarq_times(bed)[-1] - abort_at == pytest.approx(1.0, abs=0.15)  # back to 1 s


def test_abort_mid_session_reconnects_and_values_resume() -> None:
    bed = polling(Bed())
    bed.emulator.faults.add(Fault.ABORT)
    bed.run_until(lambda: bed.handler.aborts == 1, limit=5)
    bed.emulator.faults.discard(Fault.ABORT)
    assert bed.handler.phase is Phase.BACKOFF
    assert bed.kinds(since=bed.t).count(MessageKind.RELEASE_REQUEST) == 0  # nothing to release
    mark = len(bed.readings)
    bed.run_until(lambda: bed.values(Metric.HR, mark), limit=10)
    assert bed.handler.associations == 2 and bed.emulator.associations == 2
    assert "association aborted by the monitor" in bed.problems


def test_silence_times_out_releases_backs_off_and_recovers() -> None:
    bed = polling(Bed())
    bed.emulator.faults.add(Fault.SILENCE)
    silent_at = bed.t
    bed.run_until(lambda: bed.handler.timeouts >= 1, limit=15)
    assert bed.t - silent_at == pytest.approx(10.0, abs=1.2)  # silence_timeout
    assert any(p.startswith("no message from the monitor") for p in bed.problems)
    assert MessageKind.RELEASE_REQUEST in bed.kinds(since=bed.t)
    bed.run(20)
    assert len(aarq_times(bed)) >= 3  # it keeps trying, backing off
    bed.emulator.faults.discard(Fault.SILENCE)
    mark = len(bed.readings)
    bed.run_until(lambda: bed.values(Metric.HR, mark), limit=40)
    assert bed.handler.phase is Phase.POLLING


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.BAD_CHECKSUM, "FCS"),
        (Fault.GARBAGE, ""),
        (Fault.MID_FRAME, ""),
        (Fault.WRONG_LENGTH, "length field"),
    ],
)
def test_corrupt_frames_are_rejected_and_the_session_survives(fault: Fault, reason: str) -> None:
    bed = polling(Bed())
    bed.emulator.faults.add(fault)
    bed.run(3)
    bed.emulator.faults.discard(fault)
    assert bed.rejected and reason in bed.rejected[-1]
    mark = len(bed.readings)
    bed.run(3)
    assert bed.values(Metric.HR, mark)  # values flow again ...
    assert bed.handler.associations == 1 and bed.handler.timeouts == 0  # ... same association


def test_demo_mode_is_flagged_and_never_valid() -> None:
    bed = polling(Bed())
    bed.emulator.faults.add(Fault.DEMO_MODE)
    mark = len(bed.readings)
    bed.run(8)
    demo = [r for r in bed.readings[mark:] if isinstance(r, VitalReading)]
    assert demo and all(r.validity is not Validity.VALID for r in demo)
    assert {r.validity for r in demo if r.value is not None} == {Validity.QUESTIONABLE}
    assert bed.conditions()[-1] == frozenset({Condition.DEMO_DATA})
    bed.emulator.faults.discard(Fault.DEMO_MODE)
    bed.run(8)  # the next keep-alive reply reports the monitoring mode again
    assert bed.conditions()[-1] == frozenset()
    assert bed.vitals_of(Metric.HR)[-1].validity is Validity.VALID


def test_absurd_value_is_dropped_as_invalid() -> None:
    bed = polling(Bed())
    bed.emulator.faults.add(Fault.ABSURD_VALUE)
    mark = len(bed.readings)
    bed.run(2)
    spo2 = bed.vitals_of(Metric.SPO2, mark)
    assert spo2 and all(r.value is None and r.validity is Validity.INVALID for r in spo2)
    assert any("spo2=300 is not plausible" in p for p in bed.problems)


def test_no_answer_to_the_association_request_retries() -> None:
    bed = Bed()
    bed.emulator.faults.add(Fault.SILENCE)
    bed.open()
    bed.run(14)
    times = aarq_times(bed)
    assert [round(b - a, 1) for a, b in itertools.pairwise(times)][:2] == [6.0, 7.0]
    assert bed.handler.timeouts >= 2  # response_timeout 5 s, then back-off 1 s, 2 s


def test_remote_error_to_the_extended_poll_falls_back_to_single_polls() -> None:
    bed = polling(Bed())
    bed.run(1)
    poll = next(d for _, k, d in reversed(bed.sent) if k is MessageKind.EXTENDED_POLL)
    request = decode_message(poll)
    assert isinstance(request, PollRequest)
    error = monitor.remote_error(request.invoke_id, monitor.NO_SUCH_ACTION)
    bed._apply(bed.handler.on_data(monitor.frame(error), bed.t, bed.wall()))
    assert bed.kinds(since=bed.t)[-1] is MessageKind.SINGLE_POLL
    mark, start = len(bed.readings), bed.t
    bed.run(10)
    numeric_polls = [
        t
        for t, _, d in bed.sent
        if t > start and isinstance(m := decode_message(d), PollRequest) and m.obj_class == 6
    ]
    assert len(numeric_polls) >= 9
    assert MessageKind.EXTENDED_POLL not in bed.kinds(since=start + 0.01)
    assert bed.values(Metric.HR, mark)


def test_release_on_close() -> None:
    bed = polling(Bed())
    bed._apply(bed.handler.on_close(bed.t, bed.wall()))
    assert bed.kinds(since=bed.t)[-1] is MessageKind.RELEASE_REQUEST
    assert bed.handler.phase is Phase.CLOSED  # the emulator's Release Result arrived
    assert bed.emulator.releases == 1 and bed.emulator.association is None
    before = len(bed.sent)
    bed.run(30)
    assert len(bed.sent) == before and bed.handler.next_deadline() is None


def test_release_on_close_times_out_without_an_answer() -> None:
    bed = polling(Bed())
    bed.emulator.faults.add(Fault.SILENCE)
    bed._apply(bed.handler.on_close(bed.t, bed.wall()))
    assert bed.handler.phase is Phase.RELEASING
    bed.run(6)
    assert bed.handler.phase is Phase.CLOSED


# --- mapping, with replies built by the emulator's encoder -------------------------------------

NOW = W0.replace(tzinfo=None)


def reply(*observations: bytes, rel_ticks: int = 0x000ABD00) -> bytes:
    header = monitor.PollHeader(1, True, 1, 1, rel_ticks, NOW, 6, 0)
    return monitor.frame(monitor.poll_result(header, list(observations)))


def numeric(physio: int, unit: int, value: float | None, state: int = 0, **kw: object) -> bytes:
    return monitor.numeric_object(0x0200, physio, "X", [(physio, unit, value, state)], **kw)  # type: ignore[arg-type]


def fresh_handler() -> PhilipsIntellivueHandler:
    handler = PhilipsIntellivueHandler("monitor")
    handler.on_open(0.0, W0)
    result = monitor.association_result(8000, 1000, 1000, monitor.POLL_EXT_PERIOD_NU_1SEC)
    handler.on_data(monitor.frame(result), 0.1, W0)
    event = monitor.mds_create_event(1, 0x000ABD00, NOW, False)
    handler.on_data(monitor.frame(event), 0.2, W0)
    assert handler.phase is Phase.POLLING
    return handler


def readings_of(*observations: bytes) -> tuple[list[VitalReading], HandlerOutput]:
    out = fresh_handler().on_data(reply(*observations), 1.0, W0)
    return [r for r in out.readings if isinstance(r, VitalReading)], out


@pytest.mark.parametrize(
    ("physio", "unit", "value", "metric", "expected", "validity"),
    [
        (0x4A05, 0x0F03, 16.0, Metric.NIBP_SYS, 16.0 * 7.500617, Validity.VALID),  # kPa
        (0x50B0, 0x0F03, 5.0, Metric.ETCO2, 5.0 * 7.500617, Validity.VALID),
        (0x50B0, 0x0220, 5.0, Metric.ETCO2, 38.0, Validity.QUESTIONABLE),  # % at 1 atm
        (0x509C, 0x0F20, 35.0, Metric.ETCO2, 35.0, Validity.VALID),  # the other etCO2 code
        (0x4B48, 0x1140, 98.6, Metric.TEMP, 37.0, Validity.VALID),  # °F
        (0x4822, 0x0AA0, 64.0, Metric.PULSE_RATE, 64.0, Validity.VALID),
        (0x500A, 0x09E0, 12.0, Metric.RESP_RATE, 12.0, Validity.VALID),  # /min
    ],
)
def test_units_are_converted(
    physio: int, unit: int, value: float, metric: Metric, expected: float, validity: Validity
) -> None:
    found, _ = readings_of(numeric(physio, unit, value))
    assert [(r.metric, r.validity) for r in found] == [(metric, validity)]
    assert found[0].value == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("unit", "value", "state", "problem"),
    [
        (0x1234, 72.0, 0, "unknown unit"),
        (0x0AA0, None, 0, ""),  # NaN
        (0x0AA0, 72.0, 0x8000, ""),  # INVALID
        (0x0AA0, 72.0, 0x4000, ""),  # QUESTIONABLE: no value (protocols.md §1)
        (0x0AA0, 72.0, 0x2000, ""),  # UNAVAILABLE
        (0x0AA0, 72.0, 0x1000, ""),  # CALIBRATION_ONGOING
        (0x0AA0, 999.0, 0, "not plausible"),
    ],
)
def test_no_value_cases_are_invalid(
    unit: int, value: float | None, state: int, problem: str
) -> None:
    found, out = readings_of(numeric(0x4182, unit, value, state))
    assert [(r.metric, r.value, r.validity) for r in found] == [(Metric.HR, None, Validity.INVALID)]
    assert not problem or any(problem in p for p in out.problems)


@pytest.mark.parametrize("special", [0x007FFFFF, 0x00800000, 0x007FFFFE, 0x00800002])
def test_float_specials_are_invalid(special: int) -> None:
    blob = bytearray(numeric(0x4BB8, 0x0220, 97.0))
    at = blob.index(bytes.fromhex("4bb800000220"))
    blob[at + 6 : at + 10] = special.to_bytes(4, "big")
    found, _ = readings_of(bytes(blob))
    assert [(r.value, r.validity) for r in found] == [(None, Validity.INVALID)]


def test_test_data_is_questionable_and_demo_data_raises_the_condition() -> None:
    found, out = readings_of(numeric(0x4182, 0x0AA0, 70.0, 0x0800))
    assert [(r.value, r.validity) for r in found] == [(70.0, Validity.QUESTIONABLE)]
    found, out = readings_of(numeric(0x4182, 0x0AA0, 70.0, 0x0400))
    assert [(r.value, r.validity) for r in found] == [(70.0, Validity.QUESTIONABLE)]
    conditions = [r for r in out.readings if isinstance(r, DeviceConditions)]
    assert conditions[0].active == frozenset({Condition.DEMO_DATA})


def test_settings_are_not_measurements() -> None:
    setting = bytearray(numeric(0x5012, 0x0AE0, 20.0))
    at = setting.index(bytes.fromhex("0924000400025012"))
    setting[at + 4 : at + 8] = bytes.fromhex("04025012")  # NLS_NOM_SETT_AWAY_RESP_RATE
    found, _ = readings_of(bytes(setting), numeric(0x500A, 0x0AE0, 14.0))
    assert [(r.metric, r.value) for r in found] == [(Metric.RESP_RATE, 14.0)]


def test_airway_rr_is_preferred_and_impedance_rr_stands_in() -> None:
    found, _ = readings_of(numeric(0x500A, 0x0AE0, 14.0), numeric(0x5012, 0x0AE0, 12.0))
    assert [r.value for r in found] == [12.0]
    found, _ = readings_of(numeric(0x500A, 0x0AE0, 14.0), numeric(0x5012, 0x0AE0, None, 0x2000))
    assert [r.value for r in found] == [14.0]


def test_etco2_inside_the_co2_compound() -> None:
    co2 = monitor.numeric_object(
        0x0107, 0x50AC, "CO2", [(0x50B0, 0x0F20, 37.0, 0), (0x50BA, 0x0F20, 1.0, 0)]
    )
    found, _ = readings_of(co2)
    assert [(r.metric, r.value) for r in found] == [(Metric.ETCO2, 37.0), (Metric.FICO2, 1.0)]


def test_nibp_once_per_time_stamp_and_dated_by_it() -> None:
    handler = fresh_handler()

    def nibp(values: tuple[float, float, float], stamp_ticks: int, state: int = 0) -> bytes:
        members = [
            (pid, 0x0F20, v, state) for pid, v in zip((0x4A05, 0x4A06, 0x4A07), values, strict=True)
        ]
        stamp = (NOW, stamp_ticks)
        return monitor.numeric_object(0x0104, 0x4A04, "NBP", members, stamp=stamp)

    def sys_values(data: bytes, mono: float) -> list[tuple[float | None, datetime]]:
        out = handler.on_data(data, mono, W0 + timedelta(seconds=mono))
        return [
            (r.value, r.measured_at)
            for r in out.readings
            if isinstance(r, VitalReading) and r.metric is Metric.NIBP_SYS
        ]

    now = 0x000ABD00
    first = sys_values(reply(nibp((120, 80, 93), now - 8000 * 90), rel_ticks=now), 1.0)
    assert first == [(120.0, W0 + timedelta(seconds=1 - 90))]  # 90 s old by the monitor
    assert sys_values(reply(nibp((120, 80, 93), now - 8000 * 90), rel_ticks=now + 8000), 2.0) == []
    # measuring (and the systolic-first early indication): wait for the whole result
    assert sys_values(reply(nibp((120, 80, 93), now, 0x0020), rel_ticks=now + 16000), 3.0) == []
    assert sys_values(reply(nibp((125, 0, 0), now, 0x0040), rel_ticks=now + 24000), 4.0) == []
    # the same numbers from a new measurement are a new reading
    later = sys_values(reply(nibp((120, 80, 93), now + 24000), rel_ticks=now + 32000), 5.0)
    assert later == [(120.0, W0 + timedelta(seconds=4))]


def test_time_stamp_age_falls_back_to_absolute_time_then_to_the_receive_time() -> None:
    from drivers.codecs.philips_intellivue import Observation, PollReply
    from drivers.handlers.philips_intellivue import observation_time

    reply_ = PollReply(1, True, 1, 1, 1000, NOW, 1, 6, 0, ())
    received = W0 + timedelta(hours=3)  # the monitor's clock is off by hours: ages still work
    by_abs = Observation(0, 1, abs_time=NOW - timedelta(seconds=30))
    assert observation_time(by_abs, reply_, received) == received - timedelta(seconds=30)
    future = Observation(0, 1, abs_time=NOW + timedelta(seconds=30))
    assert observation_time(future, reply_, received) == received
    wrapped = Observation(0, 1, rel_time=(1000 - 8000 * 5) % 2**32)  # RelativeTime wrapped
    assert observation_time(wrapped, reply_, received) == received - timedelta(seconds=5)


# --- read-only, registry, the state table -----------------------------------------------------


def test_the_handler_never_sends_anything_outside_the_allow_list() -> None:
    assert {
        MessageKind.ASSOCIATION_REQUEST,
        MessageKind.MDS_CREATE_RESULT,
        MessageKind.SINGLE_POLL,
        MessageKind.EXTENDED_POLL,
        MessageKind.RELEASE_REQUEST,
    } == ALLOWED_COMMANDS
    handler = PhilipsIntellivueHandler("monitor")
    with pytest.raises(DriverUsageError):
        handler._send(MessageKind.OTHER_REQUEST, encode_frame(b"\xe1"), 0.0, HandlerOutput())
    bed = polling(Bed())
    for fault in (Fault.ABORT, Fault.REFUSE):
        bed.emulator.faults.add(fault)
        bed.run(5)
        bed.emulator.faults.discard(fault)
    bed.run(30)
    assert not bed.emulator.forbidden  # the emulator saw no GET, SET or other action either


def test_every_phase_has_a_row_and_closed_is_final() -> None:
    assert set(TRANSITIONS) == set(Phase)
    assert TRANSITIONS[Phase.CLOSED] == {}
    assert Trigger.RELEASED not in TRANSITIONS[Phase.ASSOCIATING]
    for phase, row in TRANSITIONS.items():
        if phase not in (Phase.RELEASING, Phase.CLOSED):
            assert Trigger.CLOSE in row, phase  # a session can always be closed
    assert set(TRANSITIONS[Phase.RELEASING].values()) == {Phase.CLOSED}


def test_registry_and_line_settings() -> None:
    handler = handler_factory("philips-intellivue")("monitor")
    assert isinstance(handler, PhilipsIntellivueHandler)
    assert handler.serial.describe() == "115200 8N1"
    with pytest.raises(DriverUsageError):
        PhilipsIntellivueHandler("m", timings=IntellivueTimings(poll_period=5, renew_margin=5))


# --- a long session ---------------------------------------------------------------------------


def test_eight_hours_in_fast_forward_with_keep_alives_and_no_reconnects() -> None:
    # Numerics every 10 s (a 10 s minimum poll period: the association time-out is 30 s) keep
    # the run to seconds; the keep-alive arithmetic is the same as with 1 s.
    emulator = PhilipsIntellivueEmulator(epoch=EPOCH, min_poll_period=10.0, numeric_period=10.0)
    handler = PhilipsIntellivueHandler("monitor", timings=IntellivueTimings(silence_timeout=35))
    bed = polling(Bed(handler, emulator))
    bed.run(8 * 3600, step=1.0)
    assert handler.associations == 1 and emulator.associations == 1
    assert handler.aborts == handler.refusals == handler.timeouts == 0
    assert emulator.aborts == 0 and handler.phase is Phase.POLLING
    assert handler.keepalive == 10.0 and handler.keepalives > 1000
    assert len(bed.values(Metric.HR)) >= 8 * 360 - 2
    assert bed.values(Metric.NIBP_SYS) == [121.0]
    assert not bed.rejected and not emulator.forbidden and emulator.reader.bad_frames == 0


def test_ten_minutes_at_real_time_numerics() -> None:
    bed = polling(Bed())
    bed.run(600, step=0.25)
    assert bed.handler.associations == 1 and bed.emulator.aborts == 0
    assert len(bed.values(Metric.HR)) >= 595
