"""Alarm limits and timings: defaults in code, each with its source.

The clinic overrides any of them in the TOML configuration (``[alarm_limits]``) and a nurse per
infusion session through the API; every change is audited. docs/alarms.md is generated from
``LIMITS`` (``python -m service.alarms.limits``) so the document and the code cannot drift.

Sources: [R] read in the public text, [S] secondary sources (manuals, vendor pages), [U] widely
quoted but unverified — as in the project's alarm reference (docs/alarms.md §Sources).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class LimitInfo:
    default: float
    unit: str
    meaning: str
    source: str
    low: float
    high: float


LIMITS: dict[str, LimitInfo] = {
    # -- blood pressure (discrete NIBP readings: confirmation, not time delay) ------------
    "sbp_medium": LimitInfo(
        160,
        "mmHg",
        "SBP at or above: MEDIUM once confirmed by a repeat",
        "typical ketamine peaks are +7…+16 mmHg [R]; clinic protocol [S]",
        100,
        250,
    ),
    "dbp_medium": LimitInfo(
        100,
        "mmHg",
        "DBP at or above: MEDIUM once confirmed by a repeat",
        "clinic protocol [S]",
        60,
        160,
    ),
    "sbp_high": LimitInfo(
        180,
        "mmHg",
        "SBP at or above on two readings ≥ 5 min apart: HIGH",
        "clinic protocol [S]; > 180/120 is hypertensive urgency [S]",
        120,
        260,
    ),
    "dbp_high": LimitInfo(
        110,
        "mmHg",
        "DBP at or above on two readings ≥ 5 min apart: HIGH",
        "clinic protocol [S]",
        70,
        170,
    ),
    "sbp_extreme": LimitInfo(
        200,
        "mmHg",
        "SBP at or above on a single reading: HIGH at once",
        "clinic protocol [S]",
        140,
        300,
    ),
    "dbp_extreme": LimitInfo(
        120,
        "mmHg",
        "DBP at or above on a single reading: HIGH at once",
        "hypertensive urgency threshold [S]",
        80,
        200,
    ),
    "bp_high_min_gap_s": LimitInfo(
        300,
        "s",
        "minimum time between the two HIGH readings",
        "clinic protocol (two readings ≥ 5 min apart) [S]",
        60,
        1800,
    ),
    "bp_confirm_window_s": LimitInfo(
        1200,
        "s",
        "a repeat reading confirms only within this time",
        "NIBP every 10 min during infusion [R], plus margin",
        120,
        3600,
    ),
    "sbp_over_baseline": LimitInfo(
        40,
        "mmHg",
        "SBP above the patient's baseline by: MEDIUM once confirmed",
        "smart-alarm practice: limits relative to the patient's own baseline [S]",
        10,
        100,
    ),
    "sbp_low": LimitInfo(
        90,
        "mmHg",
        "SBP below, single reading: MEDIUM (hypotension)",
        "general monitoring practice [S]",
        60,
        120,
    ),
    "bp_hysteresis": LimitInfo(
        5,
        "mmHg",
        "a reading must fall this far below a limit to end it",
        "avoids flapping around a limit [S]",
        0,
        20,
    ),
    # -- heart rate (continuous) ---------------------------------------------------------
    "hr_medium": LimitInfo(
        120, "bpm", "HR above, sustained: MEDIUM", "clinic protocol [S]", 90, 200
    ),
    "hr_high": LimitInfo(140, "bpm", "HR above, sustained: HIGH", "clinic protocol [S]", 100, 220),
    "hr_low": LimitInfo(
        45,
        "bpm",
        "HR below, sustained: MEDIUM (bradycardia)",
        "general monitoring practice [S]",
        25,
        70,
    ),
    "hr_delay_s": LimitInfo(
        30,
        "s",
        "condition delay for HR limits",
        "15–60 s sustained [S]; a 14–19 s delay removes 50–67 % of "
        "ineffective alarms (Görges 2009) [R]",
        5,
        120,
    ),
    "hr_hysteresis": LimitInfo(
        5, "bpm", "HR must come back this far inside a limit to end it", "[S]", 0, 20
    ),
    # -- SpO2 (continuous, SatSeconds-style integral) ---------------------------------------
    "spo2_medium": LimitInfo(90, "%", "SpO2 below: MEDIUM", "alarm reference §5 [S]", 80, 98),
    "spo2_high": LimitInfo(85, "%", "SpO2 below: HIGH", "alarm reference §5 [S]", 70, 95),
    "spo2_satseconds": LimitInfo(
        25,
        "%·s",
        "alarm when Σ(depth below limit × seconds) reaches this",
        "Nellcor SatSeconds settings 10/25/50/100 [S]",
        0,
        100,
    ),
    "spo2_hysteresis": LimitInfo(
        1, "%", "SpO2 must come back this far above a limit to end it", "[S]", 0, 5
    ),
    # -- respiration -----------------------------------------------------------------------
    "rr_low": LimitInfo(
        8,
        "/min",
        "RR below, sustained: MEDIUM (respiratory depression)",
        "sedation monitoring practice [S]",
        4,
        12,
    ),
    "rr_delay_s": LimitInfo(30, "s", "condition delay for the RR limit", "[S]", 5, 120),
    # -- technical -------------------------------------------------------------------------
    "sensor_delay_s": LimitInfo(
        10,
        "s",
        "a device-reported sensor problem alarms after",
        "short delays remove most transient technical alarms [S]",
        0,
        60,
    ),
    "pump_stopped_s": LimitInfo(
        120,
        "s",
        "pump stopped or paused with volume left: MEDIUM after",
        "alarm reference §5 [U]",
        30,
        900,
    ),
    "pump_rate_tolerance": LimitInfo(
        0.10,
        "fraction",
        "pump rate differs from the session's expected rate by more than this: MEDIUM",
        "a wrong pump programme is a classic infusion error [S]",
        0.02,
        0.5,
    ),
    "pump_rate_readings": LimitInfo(
        2,
        "readings",
        "… on this many infusing pump readings in a row",
        "one reading during a rate change is not an error [S]",
        1,
        10,
    ),
    "no_tablet_s": LimitInfo(
        10,
        "s",
        "no tablet listening while an infusion runs: MEDIUM after",
        "IEC 60601-1-8 §6.11 distributed alarm systems [U]",
        5,
        120,
    ),
    # -- signals ---------------------------------------------------------------------------
    "reminder_s": LimitInfo(
        120,
        "s",
        "an acknowledged alarm still present sounds again after",
        "products re-annunciate after 2–3 min [S/U]",
        30,
        600,
    ),
    "escalate_s": LimitInfo(
        120,
        "s",
        "an alarm not acknowledged in time escalates after",
        "pager escalation (Cvach 2014) [R]",
        30,
        900,
    ),
    "audio_pause_max_s": LimitInfo(
        120, "s", "longest audio pause", "products cap it at ~2 min [R]", 10, 120
    ),
}


@dataclass(frozen=True, slots=True)
class Limits:
    sbp_medium: float = LIMITS["sbp_medium"].default
    dbp_medium: float = LIMITS["dbp_medium"].default
    sbp_high: float = LIMITS["sbp_high"].default
    dbp_high: float = LIMITS["dbp_high"].default
    sbp_extreme: float = LIMITS["sbp_extreme"].default
    dbp_extreme: float = LIMITS["dbp_extreme"].default
    bp_high_min_gap_s: float = LIMITS["bp_high_min_gap_s"].default
    bp_confirm_window_s: float = LIMITS["bp_confirm_window_s"].default
    sbp_over_baseline: float = LIMITS["sbp_over_baseline"].default
    sbp_low: float = LIMITS["sbp_low"].default
    bp_hysteresis: float = LIMITS["bp_hysteresis"].default
    hr_medium: float = LIMITS["hr_medium"].default
    hr_high: float = LIMITS["hr_high"].default
    hr_low: float = LIMITS["hr_low"].default
    hr_delay_s: float = LIMITS["hr_delay_s"].default
    hr_hysteresis: float = LIMITS["hr_hysteresis"].default
    spo2_medium: float = LIMITS["spo2_medium"].default
    spo2_high: float = LIMITS["spo2_high"].default
    spo2_satseconds: float = LIMITS["spo2_satseconds"].default
    spo2_hysteresis: float = LIMITS["spo2_hysteresis"].default
    rr_low: float = LIMITS["rr_low"].default
    rr_delay_s: float = LIMITS["rr_delay_s"].default
    sensor_delay_s: float = LIMITS["sensor_delay_s"].default
    pump_stopped_s: float = LIMITS["pump_stopped_s"].default
    pump_rate_tolerance: float = LIMITS["pump_rate_tolerance"].default
    pump_rate_readings: float = LIMITS["pump_rate_readings"].default
    no_tablet_s: float = LIMITS["no_tablet_s"].default
    reminder_s: float = LIMITS["reminder_s"].default
    escalate_s: float = LIMITS["escalate_s"].default
    audio_pause_max_s: float = LIMITS["audio_pause_max_s"].default

    def changed(self, changes: dict[str, Any]) -> Limits:
        """A copy with ``changes`` applied; raises ``ValueError`` naming any bad entry."""
        clean: dict[str, float] = {}
        for name, value in changes.items():
            if name not in LIMITS:
                raise ValueError(f"unknown alarm limit {name!r}")
            info = LIMITS[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"alarm limit {name} must be a number, not {value!r}")
            if not info.low <= value <= info.high:
                raise ValueError(
                    f"alarm limit {name}={value} outside {info.low:g}…{info.high:g} {info.unit}"
                )
            clean[name] = float(value)
        result = replace(self, **clean)
        if result.spo2_high >= result.spo2_medium:
            raise ValueError("spo2_high must be below spo2_medium")
        if result.hr_high <= result.hr_medium:
            raise ValueError("hr_high must be above hr_medium")
        if result.sbp_high <= result.sbp_medium or result.sbp_extreme < result.sbp_high:
            raise ValueError("SBP limits must rise: sbp_medium < sbp_high <= sbp_extreme")
        if result.dbp_high <= result.dbp_medium or result.dbp_extreme < result.dbp_high:
            raise ValueError("DBP limits must rise: dbp_medium < dbp_high <= dbp_extreme")
        return result

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def markdown_table() -> str:
    rows = ["| limit | default | meaning | source |", "|---|---|---|---|"]
    for name, info in LIMITS.items():
        rows.append(f"| `{name}` | {info.default:g} {info.unit} | {info.meaning} | {info.source} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
