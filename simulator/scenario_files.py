"""Scenario files: whole infusion sessions written in TOML (``simulator/scenarios/*.toml``).

A file names the patient, the infusion, the timeline and what goes wrong when; whatever it leaves
out is drawn from the seed. Times of events and faults are simulator seconds from the start of the
session (the baseline starts at 0; by default the infusion runs from 600 to 3000 and the session
ends at 9000). Keys::

    description = "one line"                          # shown by --list-scenarios
    tablet_disconnected = { start = 2100, duration = 120 }   # for the service-side tests
    [patient]   age, weight_kg, hypertension, sbp, dbp, hr, spo2, resp_rate, etco2, perfusion_index
    [infusion]  dose_mg_kg, concentration_mg_ml, kvo_ml_h
    [session]   baseline_min, infusion_min, recovery_min
    [response]  sbp, dbp, hr (mmHg/bpm at the peak), peak_min, onset_tau_min, offset_tau_min, fade
    [nibp]      baseline_first_min, baseline_cycle_min, infusion_cycle_min, recovery_cycle_min,
                duration_s = [30, 40], failure_rate, error_sys_mmhg, error_dia_mmhg,
                motion_failure
    [artefacts] motion_per_h, spo2_dip_per_h, sensor_off_per_h
    [[event]]   kind = "tachycardia" | "desaturation" | "vital" (with channel = "hr" | "spo2" |
                "resp_rate" | "etco2" | "sbp" | "dbp"), target, start, duration, ramp_s;
                kind = "pause" | "occlusion" | "air" | "door_open" | "battery_low", start, duration;
                kind = "nibp_failure", start, duration (every cuff cycle inflating then fails)
    [[fault]]   fault = "unplug" | "silence" | "garbage" | ..., start, duration, device

Unknown keys are errors, so a typo never silently changes a scenario.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

from simulator.devices.base import Fault
from simulator.physiology import (
    RESTING_VALUES,
    ArtefactRates,
    ForcedFailure,
    KetamineResponse,
    NibpSchedule,
    VitalEvent,
)
from simulator.pump_model import PUMP_EVENTS, PumpEvent
from simulator.scenario import (
    ConstantScenario,
    FaultWindow,
    KetamineScenario,
    PatientSpec,
    ScenarioConfig,
    SessionTimeline,
    TimeWindow,
)

CONSTANT = "constant"
CONSTANT_DESCRIPTION = "steady vitals and an idle pump (the walking skeleton; --spo2, --pulse)"
#: Event kinds that are shorthand for a vital event on one channel.
VITAL_ALIASES = {"tachycardia": "hr", "desaturation": "spo2"}
RESTING = RESTING_VALUES


class ScenarioError(ValueError):
    """A scenario file is missing or says something this loader does not understand."""


def scenario_dir() -> Path:
    return Path(str(resources.files("simulator"))) / "scenarios"


def _files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(scenario_dir().glob("*.toml"))}


def list_scenarios() -> list[tuple[str, str]]:
    """(name, description) of every built-in scenario, ``constant`` first."""
    out = [(CONSTANT, CONSTANT_DESCRIPTION)]
    for name, path in _files().items():
        out.append((name, load_config(path).description))
    return out


def resolve(name_or_path: str | Path) -> Path:
    """The file of a built-in scenario name, or the given path."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.exists():
        if not path.is_file():
            raise ScenarioError(f"no scenario file {text}")
        return path
    files = _files()
    if text not in files:
        known = ", ".join([CONSTANT, *files])
        raise ScenarioError(f"unknown scenario {text!r}; scenarios: {known}")
    return files[text]


def load_scenario(name_or_path: str | Path, seed: int = 1) -> KetamineScenario | ConstantScenario:
    """A runnable scenario (the runner's ``Scenario`` protocol) for a name or a TOML path."""
    if str(name_or_path) == CONSTANT:
        return ConstantScenario()
    return KetamineScenario(load_config(resolve(name_or_path)), seed=seed)


# ---------------------------------------------------------------------------------------------
# Parsing


def _take(table: dict[str, Any], where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {unknown}; allowed: {list(allowed)}")
    return table


def _number(table: dict[str, Any], key: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: {key} must be a number, not {value!r}")
    return float(value)


def _numbers(table: dict[str, Any], where: str, keys: tuple[str, ...]) -> dict[str, float]:
    return {k: _number(table, k, where) for k in keys if k in table}


def _window(table: Any, where: str) -> tuple[float, float]:
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}: expected a table with start and duration")
    _take(table, where, ("start", "duration"))
    if "start" not in table:
        raise ScenarioError(f"{where}: needs a start (seconds from the start of the session)")
    start = _number(table, "start", where)
    return start, _number(table, "duration", where) if "duration" in table else 1e12


def _patient(table: dict[str, Any], where: str) -> PatientSpec:
    _take(table, where, ("age", "weight_kg", "hypertension", *RESTING))
    hypertension = table.get("hypertension")
    if hypertension is not None and not isinstance(hypertension, bool):
        raise ScenarioError(f"{where}: hypertension must be true or false")
    nums = _numbers(table, where, ("age", "weight_kg"))
    return PatientSpec(
        age=nums.get("age"),
        weight_kg=nums.get("weight_kg"),
        hypertension=hypertension,
        resting=_numbers(table, where, RESTING),
    )


def _response(table: dict[str, Any], where: str) -> dict[str, float]:
    minutes = {
        "peak_min": "peak_s",
        "onset_tau_min": "onset_tau_s",
        "offset_tau_min": "offset_tau_s",
    }
    _take(table, where, ("sbp", "dbp", "hr", "fade", *minutes))
    out = _numbers(table, where, ("sbp", "dbp", "hr", "fade"))
    for key, field_name in minutes.items():
        if key in table:
            out[field_name] = 60.0 * _number(table, key, where)
    known = {f.name for f in fields(KetamineResponse)}
    assert set(out) <= known
    return out


def _nibp(table: dict[str, Any], where: str) -> NibpSchedule:
    minutes = (
        "baseline_first_min",
        "baseline_cycle_min",
        "infusion_cycle_min",
        "recovery_cycle_min",
    )
    errors = ("failure_rate", "error_sys_mmhg", "error_dia_mmhg", "motion_failure")
    _take(table, where, (*minutes, "duration_s", *errors))
    kwargs: dict[str, Any] = {
        key.removesuffix("_min") + "_s": 60.0 * value
        for key, value in _numbers(table, where, minutes).items()
    }
    for key in errors:
        if key in table:
            kwargs[key] = _number(table, key, where)
    if "duration_s" in table:
        span = table["duration_s"]
        if not (isinstance(span, list) and len(span) == 2):
            raise ScenarioError(f"{where}: duration_s must be [shortest, longest]")
        kwargs["duration_s"] = (float(span[0]), float(span[1]))
    return NibpSchedule(**kwargs)


def _events(
    items: list[Any],
) -> tuple[list[VitalEvent], list[PumpEvent], list[ForcedFailure]]:
    vitals: list[VitalEvent] = []
    pump: list[PumpEvent] = []
    cuff: list[ForcedFailure] = []
    for i, item in enumerate(items):
        where = f"event[{i}]"
        if not isinstance(item, dict) or "kind" not in item:
            raise ScenarioError(f"{where}: every [[event]] needs a kind")
        kind = item["kind"]
        timing = {k: item[k] for k in ("start", "duration") if k in item}
        rest = {k: v for k, v in item.items() if k not in ("kind", "start", "duration")}
        start, duration = _window(timing, where)
        if kind in VITAL_ALIASES or kind == "vital":
            _take(rest, where, ("channel", "target", "ramp_s"))
            channel = rest.get("channel", VITAL_ALIASES.get(kind))
            if "target" not in rest or not isinstance(channel, str):
                raise ScenarioError(f"{where}: a {kind} event needs a target (and a channel)")
            ramp = _number(rest, "ramp_s", where) if "ramp_s" in rest else 60.0
            try:
                vitals.append(
                    VitalEvent(channel, _number(rest, "target", where), start, duration, ramp)
                )
            except ValueError as exc:
                raise ScenarioError(f"{where}: {exc}") from None
        elif kind in PUMP_EVENTS:
            _take(rest, where, ())
            pump.append(PumpEvent(kind, start, duration))
        elif kind == "nibp_failure":
            _take(rest, where, ())
            cuff.append(ForcedFailure(start, duration))
        else:
            known = [*VITAL_ALIASES, "vital", *PUMP_EVENTS, "nibp_failure"]
            raise ScenarioError(f"{where}: unknown kind {kind!r}; kinds: {known}")
    return vitals, pump, cuff


def _faults(items: list[Any]) -> list[FaultWindow]:
    out: list[FaultWindow] = []
    for i, item in enumerate(items):
        where = f"fault[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{where}: expected a table")
        _take(item, where, ("fault", "start", "duration", "device"))
        try:
            fault = Fault(str(item.get("fault")))
        except ValueError:
            known = [f.value for f in Fault]
            raise ScenarioError(f"{where}: unknown fault {item.get('fault')!r}; {known}") from None
        start, duration = _window({k: item[k] for k in ("start", "duration") if k in item}, where)
        device = item.get("device", "")
        if device not in ("", "monitor", "pump"):
            raise ScenarioError(f"{where}: device must be 'monitor' or 'pump'")
        out.append(FaultWindow(fault, start, duration, device))
    return out


def parse_config(data: dict[str, Any], name: str) -> ScenarioConfig:
    """A ``ScenarioConfig`` from the TOML's tables."""
    tables = ("patient", "infusion", "session", "response", "nibp", "artefacts")
    _take(data, name, ("name", "description", "tablet_disconnected", "event", "fault", *tables))
    for key in tables:
        if not isinstance(data.get(key, {}), dict):
            raise ScenarioError(f"{name}: [{key}] must be a table")
    infusion = _take(
        data.get("infusion", {}), "infusion", ("dose_mg_kg", "concentration_mg_ml", "kvo_ml_h")
    )
    session = _numbers(
        _take(data.get("session", {}), "session", ("baseline_min", "infusion_min", "recovery_min")),
        "session",
        ("baseline_min", "infusion_min", "recovery_min"),
    )
    artefacts = _numbers(
        _take(
            data.get("artefacts", {}),
            "artefacts",
            ("motion_per_h", "spo2_dip_per_h", "sensor_off_per_h"),
        ),
        "artefacts",
        ("motion_per_h", "spo2_dip_per_h", "sensor_off_per_h"),
    )
    vitals, pump, cuff = _events(list(data.get("event", [])))
    tablet = data.get("tablet_disconnected")
    dose = _numbers(infusion, "infusion", ("dose_mg_kg", "concentration_mg_ml", "kvo_ml_h"))
    return ScenarioConfig(
        name=str(data.get("name", name)),
        description=str(data.get("description", "")),
        patient=_patient(data.get("patient", {}), "patient"),
        dose_mg_kg=dose.get("dose_mg_kg"),
        concentration_mg_ml=dose.get("concentration_mg_ml", 0.5),
        kvo_ml_h=dose.get("kvo_ml_h", 0.0),
        timeline=SessionTimeline(
            **{k.removesuffix("_min") + "_s": 60.0 * v for k, v in session.items()}
        ),
        response=_response(data.get("response", {}), "response"),
        nibp=_nibp(data.get("nibp", {}), "nibp"),
        nibp_failures=tuple(cuff),
        artefacts=ArtefactRates(**artefacts),
        vital_events=tuple(vitals),
        pump_events=tuple(pump),
        faults=tuple(_faults(list(data.get("fault", [])))),
        tablet_disconnected=None
        if tablet is None
        else TimeWindow(*_window(tablet, "tablet_disconnected")),
    )


def load_config(path: Path) -> ScenarioConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    try:
        return parse_config(data, path.stem)
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None
