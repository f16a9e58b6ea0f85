"""The patient model: response shape, heart rate, determinism, noise, artefacts and the cuff."""

from __future__ import annotations

import random
import statistics
from dataclasses import replace
from itertools import pairwise

import pytest

from simulator.physiology import (
    ArtefactRates,
    ArtefactStream,
    CuffModel,
    ForcedFailure,
    KetamineResponse,
    NibpSchedule,
    NoiseLevels,
    OrnsteinUhlenbeck,
    Patient,
    PatientModel,
    SimpleInfusion,
    VitalEvent,
    draw_clinic_patient,
)
from simulator.scenario import KetamineScenario, ScenarioConfig

START, DURATION = 600.0, 2400.0
END = START + DURATION
QUIET = NoiseLevels(bp_mmhg=0.0, hr_bpm=0.0, spo2_pct=0.0, resp_rate=0.0, etco2_mmhg=0.0)
NO_ARTEFACTS = ArtefactRates(0.0, 0.0, 0.0)


def quiet_model(response: KetamineResponse, seed: int = 1) -> PatientModel:
    return PatientModel(
        random.Random(seed),
        Patient(),
        response,
        SimpleInfusion(START, DURATION),
        artefacts=NO_ARTEFACTS,
        noise=QUIET,
    )


def drawn_responses(n: int = 300) -> list[KetamineResponse]:
    rng = random.Random(5)
    out = []
    for _ in range(n):
        patient, dose = draw_clinic_patient(rng)
        out.append(KetamineResponse.draw(rng, patient, dose, DURATION))
    return out


# -- response shape ------------------------------------------------------------------------------


@pytest.mark.parametrize("response", drawn_responses(60)[::6], ids=lambda r: f"{r.peak_s:.0f}")
def test_response_rises_by_10_min_peaks_at_30_to_40_and_returns(
    response: KetamineResponse,
) -> None:
    response = replace(response, sbp=20.0, dbp=12.0)
    model = quiet_model(response)
    rise = [model.true_bp(START + s)[0] - Patient().sbp for s in range(0, 9000, 10)]
    peak_at = rise.index(max(rise)) * 10.0
    assert model.true_bp(START - 1)[0] == pytest.approx(Patient().sbp)
    assert rise[60] >= 0.6 * max(rise)  # 10 min into the infusion
    assert 30 * 60 <= peak_at <= 40 * 60 + 60
    assert abs(model.true_bp(END + 90 * 60)[0] - Patient().sbp) < 0.05 * 20.0
    # The return is monotonic and smooth after the end: no rebound.
    after = rise[int(DURATION / 10) + 6 :]
    assert all(b <= a + 1e-9 for a, b in pairwise(after))


def test_drawn_peak_times_and_onsets_fit_the_series() -> None:
    for response in drawn_responses():
        assert 0.8 * DURATION <= response.peak_s <= DURATION
        assert response.shape(600.0, None) >= 0.6  # most of the rise within 10 min
        assert response.shape(DURATION, 90 * 60.0) < 0.05  # back within 1.5 h (Szarmach)


def test_covariates_make_the_rise_larger() -> None:
    def mean_rise(patient: Patient, dose: float) -> float:
        rng = random.Random(3)
        return statistics.fmean(KetamineResponse.draw(rng, patient, dose).sbp for _ in range(4000))

    young = Patient(age=30, hypertension=False)
    base = mean_rise(young, 0.5)
    assert mean_rise(Patient(age=60, hypertension=False), 0.5) > base + 0.5
    assert mean_rise(Patient(age=30, hypertension=True), 0.5) > base + 0.5
    assert mean_rise(young, 1.0) > base + 1.0


def test_heart_rate_barely_moves() -> None:
    responses = drawn_responses(1000)
    assert 0.0 <= statistics.fmean(r.hr for r in responses) <= 4.0
    assert sum(abs(r.hr) > 10 for r in responses) <= 5
    model = quiet_model(KetamineResponse(hr=2.0, peak_s=2100.0))
    assert model.clean_hr(START + 2100) - Patient().hr == pytest.approx(2.0, abs=0.01)


# -- determinism and noise -----------------------------------------------------------------------


def test_a_seed_gives_the_same_session_whatever_order_times_are_asked() -> None:
    times = [0.0, 12.5, 599.0, 1234.5, 2999.0, 3001.0, 7000.0, 8999.0]
    forward = KetamineScenario(ScenarioConfig(), seed=7)
    backward = KetamineScenario(ScenarioConfig(), seed=7)
    a = [forward.state(t) for t in times]
    b = [backward.state(t) for t in reversed(times)][::-1]
    assert a == b
    other = KetamineScenario(ScenarioConfig(), seed=8)
    assert [other.state(t) for t in times] != a


def test_ornstein_uhlenbeck_is_stationary_bounded_and_smooth() -> None:
    ou = OrnsteinUhlenbeck(seed=11, sigma=3.0, tau_s=90.0, dt_s=2.0)
    values = [ou.at(t) for t in range(0, 200_000, 7)]
    assert statistics.fmean(values) == pytest.approx(0.0, abs=0.6)
    assert statistics.pstdev(values) == pytest.approx(3.0, rel=0.2)
    assert max(abs(v) for v in values) < 6 * 3.0
    steps = [abs(ou.at(t + 1.0) - ou.at(t)) for t in range(0, 5000)]
    assert max(steps) < 3.0  # no jumps from one second to the next


def test_vital_noise_stays_physiological_without_artefacts() -> None:
    model = PatientModel(
        random.Random(2), Patient(), KetamineResponse(), SimpleInfusion(), artefacts=NO_ARTEFACTS
    )
    samples = [model.sample(float(t)) for t in range(0, 9000, 3)]
    assert all(55 < s.hr < 95 for s in samples)
    assert all(95 <= s.spo2 <= 100 for s in samples)
    assert all(8 < s.resp_rate < 20 for s in samples)
    assert all(31 < s.etco2 < 43 for s in samples)
    assert not any(s.sensor_off or s.low_signal_iq for s in samples)
    assert all(s.hr == s.pulse_rate for s in samples)


# -- artefacts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "rate"), [("motion", 2.0), ("spo2_dip", 1.0), ("sensor_off", 6)])
def test_artefacts_appear_at_their_configured_rate(kind: str, rate: float) -> None:
    hours = 300.0
    stream = ArtefactStream(seed=4, kind=kind, rate_per_h=rate)
    count = len(stream.until(hours * 3600.0))
    expected = rate * hours
    assert abs(count - expected) < 4 * expected**0.5


def test_artefacts_show_in_the_vitals() -> None:
    rates = ArtefactRates(motion_per_h=6.0, spo2_dip_per_h=6.0, sensor_off_per_h=6.0)
    model = PatientModel(
        random.Random(9), Patient(), KetamineResponse(), SimpleInfusion(), artefacts=rates
    )
    horizon = 6 * 3600.0
    motions = model.motion.until(horizon)
    assert motions
    for motion in motions[:10]:
        mid = motion.start + motion.duration / 2
        sample = model.sample(mid)
        assert sample.low_signal_iq
        assert sample.pulse_rate > model.clean_hr(mid) + 5  # a spike over the true rate
    for off in model.sensor_off.until(horizon)[:10]:
        assert model.sample(off.start + off.duration / 2).sensor_off
    dips = [d for d in model.spo2_dips.until(horizon) if model.motion.active(d.start) is None]
    for dip in dips[:10]:
        mid = dip.start + dip.duration / 2
        assert model.sample(mid).spo2 < model.sample(dip.start - 1).spo2 - 1.5


def test_scripted_vital_events_ramp_in_and_out() -> None:
    event = VitalEvent("hr", 130.0, start=1000.0, duration=300.0, ramp_s=60.0)
    model = PatientModel(
        random.Random(1),
        Patient(hr=70.0),
        KetamineResponse(hr=0.0),
        SimpleInfusion(),
        events=[event],
        artefacts=NO_ARTEFACTS,
        noise=QUIET,
    )
    assert model.clean_hr(999.0) == pytest.approx(70.0)
    assert model.clean_hr(1030.0) == pytest.approx(100.0)
    assert model.clean_hr(1150.0) == pytest.approx(130.0)
    assert model.clean_hr(1300.0) == pytest.approx(70.0)
    with pytest.raises(ValueError, match="unknown channel"):
        VitalEvent("glucose", 5.0, 0.0, 1.0)


# -- the cuff ------------------------------------------------------------------------------------


def cuff(failure_rate: float = 0.0, failures: list[ForcedFailure] | None = None) -> CuffModel:
    model = quiet_model(KetamineResponse())
    return CuffModel(3, NibpSchedule(failure_rate=failure_rate), model, failures=failures)


def test_cuff_cycle_baseline_then_10_then_15_minutes() -> None:
    starts = [r.start for r in cuff().until(9000.0)]
    assert starts == [60, 300, 540, 1200, 1800, 2400, 3000, 3900, 4800, 5700, 6600, 7500, 8400]
    assert all(30 <= r.end - r.start <= 40 for r in cuff().until(9000.0))


def test_cuff_state_measuring_then_value() -> None:
    model = cuff()
    first = model.until(100.0)[0]
    assert model.state(30.0) == (None, False, False)
    assert model.state(61.0) == (None, True, False)
    assert model.state(first.end + 0.1) == (first, False, False)
    second = model.until(400.0)[1]
    assert model.state(301.0) == (first, True, False)  # the old value while measuring
    assert model.state(second.end) == (second, False, False)


def test_a_failed_cycle_gives_no_new_value() -> None:
    model = cuff(failures=[ForcedFailure(1700.0, 200.0)])
    readings = model.until(3000.0)
    failed = next(r for r in readings if r.start == 1800.0)
    previous = next(r for r in readings if r.start == 1200.0)
    assert failed.failed
    assert model.state(failed.end + 1) == (previous, False, True)
    assert model.state(2400.5) == (previous, True, False)  # next attempt: no longer "failed"


def test_random_cuff_failures_at_the_configured_rate() -> None:
    readings = cuff(failure_rate=0.1).until(400 * 3600.0)
    share = sum(r.failed for r in readings) / len(readings)
    assert share == pytest.approx(0.1, abs=0.02)
