"""The pump model: programme → rate and VTBI, volume over time, completion, interruptions."""

from __future__ import annotations

import pytest

from simulator.pump_model import PumpEvent, PumpModel, PumpProgram

# 0.5 mg/kg × 72 kg = 36 mg at 0.5 mg/mL = 72 mL over 40 min = 108 mL/h.
PROGRAM = PumpProgram(dose_mg_kg=0.5, weight_kg=72.0, concentration_mg_ml=0.5, duration_s=2400.0)
START = 600.0


def test_rate_and_vtbi_from_the_dose() -> None:
    assert PROGRAM.dose_mg == pytest.approx(36.0)
    assert PROGRAM.vtbi_ml == pytest.approx(72.0)
    assert PROGRAM.rate_ml_h == pytest.approx(108.0)
    other = PumpProgram(dose_mg_kg=1.0, weight_kg=80.0, concentration_mg_ml=1.0, duration_s=3600)
    assert (other.vtbi_ml, other.rate_ml_h) == (80.0, 80.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"dose_mg_kg": 0.0}, {"weight_kg": -1.0}, {"concentration_mg_ml": 0.0}, {"duration_s": 0}],
)
def test_a_nonsense_programme_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="positive"):
        PumpProgram(**kwargs)  # type: ignore[arg-type]


def test_standby_then_volume_accumulates_while_infusing() -> None:
    pump = PumpModel(PROGRAM, start_s=START)
    before = pump.state(START - 1)
    assert (before.state, before.volume_infused_ml, before.alarms) == ("standby", 0.0, set())
    assert before.vtbi_ml == 72.0 and before.concentration == "0.5 mg/mL"
    for minutes, volume in [(1, 1.8), (10, 18.0), (20, 36.0), (39, 70.2)]:
        state = pump.state(START + 60 * minutes)
        assert state.state == "infusing"
        assert state.rate_ml_h == 108.0
        assert state.volume_infused_ml == pytest.approx(volume)
    half = pump.state(START + 1200)
    assert half.time_remaining_s == pytest.approx(1200.0)


def test_complete_at_vtbi_with_an_end_of_volume_alarm() -> None:
    pump = PumpModel(PROGRAM, start_s=START)
    assert pump.end_s == START + 2400
    done = pump.state(START + 2400)
    assert done.state == "complete"
    assert done.volume_infused_ml == pytest.approx(72.0)
    assert done.alarms == {"end_of_volume"}
    assert done.time_remaining_s is None
    later = pump.state(START + 2400 + 121)
    assert later.state == "complete" and later.alarms == set()
    assert pump.state(20_000).volume_infused_ml == pytest.approx(72.0)  # never beyond the VTBI


def test_kvo_after_the_vtbi() -> None:
    pump = PumpModel(PROGRAM, start_s=START, kvo_ml_h=3.0)
    state = pump.state(START + 2400 + 1200)
    assert state.state == "kvo" and state.rate_ml_h == 3.0
    assert state.volume_infused_ml == pytest.approx(72.0 + 1.0)


def test_pause_and_resume_push_the_end_back() -> None:
    pump = PumpModel(PROGRAM, start_s=START, events=[PumpEvent("pause", START + 600, 300)])
    paused = pump.state(START + 700)
    assert paused.state == "paused" and paused.alarms == set()
    assert paused.volume_infused_ml == pytest.approx(18.0)
    assert pump.state(START + 899).volume_infused_ml == pytest.approx(18.0)
    resumed = pump.state(START + 960)
    assert resumed.state == "infusing"
    assert resumed.volume_infused_ml == pytest.approx(19.8)
    assert pump.end_s == START + 2700
    assert pump.state(START + 2650).state == "infusing"
    assert pump.state(START + 2700).state == "complete"


@pytest.mark.parametrize("kind", ["occlusion", "air", "door_open"])
def test_occlusion_and_air_stop_the_flow_and_alarm(kind: str) -> None:
    pump = PumpModel(PROGRAM, start_s=START, events=[PumpEvent(kind, START + 1200, 180)])
    during = pump.state(START + 1300)
    assert during.state == "paused"
    assert during.alarms == {kind}
    assert during.volume_infused_ml == pytest.approx(36.0)
    after = pump.state(START + 1380)
    assert after.state == "infusing" and after.alarms == set()
    assert pump.end_s == START + 2580


def test_battery_low_keeps_infusing() -> None:
    pump = PumpModel(PROGRAM, start_s=START, events=[PumpEvent("battery_low", START + 100)])
    state = pump.state(START + 1000)
    assert state.state == "infusing"
    assert state.battery_low and state.alarms == {"battery_low"}
    assert pump.end_s == START + 2400
    assert pump.state(START + 3000).alarms == {"battery_low"}


def test_interruptions_before_the_start_or_after_the_end_change_nothing() -> None:
    events = [PumpEvent("pause", 0, 100), PumpEvent("occlusion", START + 3000, 60)]
    pump = PumpModel(PROGRAM, start_s=START, events=events)
    assert pump.end_s == START + 2400


def test_unknown_event_kind() -> None:
    with pytest.raises(ValueError, match="unknown pump event"):
        PumpEvent("explosion", 0.0)
