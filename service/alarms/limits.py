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
        "set by the clinic's medical director; typical ketamine peaks are +7…+16 mmHg, so 160 "
        "is well above an ordinary response [R]",
        100,
        250,
    ),
    "dbp_medium": LimitInfo(
        100,
        "mmHg",
        "DBP at or above: MEDIUM once confirmed by a repeat",
        "set by the clinic's medical director (the DBP partner of 160) [S]",
        60,
        160,
    ),
    "sbp_high": LimitInfo(
        180,
        "mmHg",
        "SBP at or above: MEDIUM 'repeat NIBP now'; confirmed by a repeat: HIGH",
        "severe hypertension ≥ 180/110 as counted by the Yale ketamine series [R]; > 180/120 is "
        "hypertensive urgency (ACC/AHA 2017) [S]",
        120,
        260,
    ),
    "dbp_high": LimitInfo(
        110,
        "mmHg",
        "DBP at or above: MEDIUM 'repeat NIBP now'; confirmed by a repeat: HIGH",
        "severe hypertension ≥ 180/110 (Yale ketamine series) [R]",
        70,
        170,
    ),
    "sbp_extreme": LimitInfo(
        200,
        "mmHg",
        "SBP at or above on a single reading: HIGH at once",
        "set by the clinic's medical director: no repeat is awaited this high [S]",
        140,
        300,
    ),
    "dbp_extreme": LimitInfo(
        120,
        "mmHg",
        "DBP at or above on a single reading: HIGH at once",
        "> 120 DBP is hypertensive urgency (ACC/AHA 2017) [S]",
        80,
        200,
    ),
    "bp_high_min_gap_s": LimitInfo(
        120,
        "s",
        "a repeat cuff reading at least this long after a severe one confirms it",
        "reference alarms §5: request a repeat NIBP within 2–5 min [S]; readings at least 1–2 min "
        "apart (AHA office-BP practice) [S]",
        60,
        1800,
    ),
    "bp_repeat_due_s": LimitInfo(
        300,
        "s",
        "no cuff reading this long after an unconfirmed severe one: 'repeat NIBP overdue'",
        "reference alarms §5: a repeat within 2–5 min [S]; set by the clinic's medical director",
        120,
        1800,
    ),
    "nibp_cycle_s": LimitInfo(
        600,
        "s",
        "the cuff cycle during an infusion; none for cycle + 2 min: 'NIBP overdue'",
        "every published ketamine series measured NIBP every 10 min during the infusion [R]",
        60,
        3600,
    ),
    "bp_confirm_window_s": LimitInfo(
        1200,
        "s",
        "a repeat reading confirms only within this time",
        "two 10-min cuff cycles (NIBP every 10 min during infusion [R])",
        120,
        3600,
    ),
    "sbp_over_baseline": LimitInfo(
        40,
        "mmHg",
        "SBP above the patient's baseline by: MEDIUM once confirmed",
        "reference alarms §5: SBP > baseline + 40 [S]; smart-alarm practice: limits relative to "
        "the patient's own baseline [S]",
        10,
        100,
    ),
    "dbp_over_baseline": LimitInfo(
        25,
        "mmHg",
        "DBP above the patient's baseline by: MEDIUM once confirmed",
        "set by the clinic's medical director (the DBP partner of baseline + 40) [S]",
        10,
        80,
    ),
    "sbp_low": LimitInfo(
        90,
        "mmHg",
        "SBP below, one reading: MEDIUM (hypotension)",
        "SBP < 90 is the common definition of hypotension (Bijker 2007, Anesthesiology 107:213) "
        "[S]",
        60,
        120,
    ),
    "sbp_low_high": LimitInfo(
        80,
        "mmHg",
        "SBP below, one reading: HIGH (severe hypotension)",
        "SBP < 80 among the severe definitions compared by Bijker 2007 [S]; set by the clinic's "
        "medical director",
        50,
        100,
    ),
    "map_low": LimitInfo(
        65,
        "mmHg",
        "MAP below, one reading: MEDIUM",
        "MAP < 65 is associated with organ injury (Walsh 2013, Anesthesiology 119:507; Salmasi "
        "2017, Anesthesiology 126:47) [S]",
        45,
        90,
    ),
    "map_low_high": LimitInfo(
        55,
        "mmHg",
        "MAP below, one reading: HIGH",
        "MAP < 55 for even 1–5 min raises the risk of kidney and myocardial injury (Walsh "
        "2013) [S]",
        40,
        80,
    ),
    "sbp_fall_pct": LimitInfo(
        30,
        "%",
        "SBP this far below the patient's baseline, one reading: MEDIUM",
        "a fall ≥ 30 % from baseline is among the relative definitions of hypotension (Bijker "
        "2007) [S]",
        10,
        60,
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
        120,
        "bpm",
        "HR above, sustained: MEDIUM",
        "reference alarms §5: HR > 120 sustained [S]; set by the clinic's medical director",
        90,
        200,
    ),
    "hr_high": LimitInfo(
        140,
        "bpm",
        "HR above, sustained: HIGH",
        "reference alarms §5: HIGH if > 140 [S]; set by the clinic's medical director",
        100,
        220,
    ),
    "hr_over_baseline": LimitInfo(
        40,
        "bpm",
        "HR above the patient's baseline by, sustained for hr_delay_s: MEDIUM",
        "set by the clinic's medical director (the HR partner of SBP baseline + 40) [S]",
        15,
        100,
    ),
    "hr_low": LimitInfo(
        45,
        "bpm",
        "HR below, sustained: MEDIUM (bradycardia)",
        "set by the clinic's medical director; adult bradycardia is < 50–60 bpm (AHA) [S]",
        25,
        70,
    ),
    "hr_low_high": LimitInfo(
        40,
        "bpm",
        "HR below, sustained for hr_low_high_delay_s: HIGH (severe bradycardia)",
        "set by the clinic's medical director; monitor default low-HR limits are 40–50 bpm [S]",
        20,
        60,
    ),
    "hr_low_high_delay_s": LimitInfo(
        15,
        "s",
        "condition delay for the HIGH bradycardia limit",
        "a 14–19 s delay removes 50–67 % of ineffective alarms (Görges 2009) [R]",
        5,
        60,
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
        5,
        "bpm",
        "HR must come back this far inside a limit to end it",
        "avoids flapping around a limit; set by the clinic's medical director [S]",
        0,
        20,
    ),
    # -- SpO2 (continuous, SatSeconds-style integral) ---------------------------------------
    "spo2_medium": LimitInfo(
        90, "%", "SpO2 below: MEDIUM", "reference alarms §5: SpO2 < 90 % MEDIUM [S]", 80, 98
    ),
    "spo2_high": LimitInfo(
        85, "%", "SpO2 below: HIGH", "reference alarms §5: HIGH < 85 % [S]", 70, 95
    ),
    "spo2_satseconds": LimitInfo(
        25,
        "%·s",
        "alarm when Σ(depth below limit × seconds) reaches this; drains while SpO2 is back in",
        "Nellcor SatSeconds settings 10/25/50/100; the total drains when SpO2 returns within "
        "limits (Nellcor OxiMax manual) [S]",
        0,
        100,
    ),
    "spo2_hysteresis": LimitInfo(
        1,
        "%",
        "SpO2 must come back this far above a limit to end it",
        "avoids flapping around a limit; set by the clinic's medical director [S]",
        0,
        5,
    ),
    # -- respiration -----------------------------------------------------------------------
    "rr_low": LimitInfo(
        8,
        "/min",
        "RR below (and above 0: RR 0 is apnoea), sustained: MEDIUM (respiratory depression)",
        "RR < 8/min is the usual opioid/sedation respiratory-depression threshold [S]; set by "
        "the clinic's medical director",
        4,
        12,
    ),
    "rr_delay_s": LimitInfo(
        30,
        "s",
        "condition delay for the RR limit",
        "reference alarms §3: 15–60 s delays for continuous values [S]",
        5,
        120,
    ),
    "apnoea_s": LimitInfo(
        30,
        "s",
        "no breath (RR 0, EtCO2 < etco2_apnoea or the monitor's apnoea flag) this long: HIGH",
        "set by the clinic's medical director; monitors' apnoea delays are 10–60 s, commonly 20 s "
        "[S]",
        10,
        60,
    ),
    "etco2_apnoea": LimitInfo(
        5,
        "mmHg",
        "EtCO2 below this counts as no breath",
        "a flat capnogram (no exhaled CO2) is the capnographic sign of apnoea [S]",
        1,
        15,
    ),
    "etco2_high": LimitInfo(
        55,
        "mmHg",
        "EtCO2 above, sustained for etco2_delay_s: MEDIUM (hypoventilation)",
        "set by the clinic's medical director; sedation studies call EtCO2 ≥ 50 mmHg or a rise "
        "≥ 10 mmHg respiratory depression (Deitch 2010, Ann Emerg Med 55:258) [S]",
        40,
        80,
    ),
    "etco2_delay_s": LimitInfo(
        60,
        "s",
        "condition delay for the EtCO2 limit",
        "set by the clinic's medical director (hypoventilation develops over minutes) [S]",
        10,
        300,
    ),
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
    bp_repeat_due_s: float = LIMITS["bp_repeat_due_s"].default
    nibp_cycle_s: float = LIMITS["nibp_cycle_s"].default
    bp_confirm_window_s: float = LIMITS["bp_confirm_window_s"].default
    sbp_over_baseline: float = LIMITS["sbp_over_baseline"].default
    dbp_over_baseline: float = LIMITS["dbp_over_baseline"].default
    sbp_low: float = LIMITS["sbp_low"].default
    sbp_low_high: float = LIMITS["sbp_low_high"].default
    map_low: float = LIMITS["map_low"].default
    map_low_high: float = LIMITS["map_low_high"].default
    sbp_fall_pct: float = LIMITS["sbp_fall_pct"].default
    bp_hysteresis: float = LIMITS["bp_hysteresis"].default
    hr_medium: float = LIMITS["hr_medium"].default
    hr_high: float = LIMITS["hr_high"].default
    hr_over_baseline: float = LIMITS["hr_over_baseline"].default
    hr_low: float = LIMITS["hr_low"].default
    hr_low_high: float = LIMITS["hr_low_high"].default
    hr_low_high_delay_s: float = LIMITS["hr_low_high_delay_s"].default
    hr_delay_s: float = LIMITS["hr_delay_s"].default
    hr_hysteresis: float = LIMITS["hr_hysteresis"].default
    spo2_medium: float = LIMITS["spo2_medium"].default
    spo2_high: float = LIMITS["spo2_high"].default
    spo2_satseconds: float = LIMITS["spo2_satseconds"].default
    spo2_hysteresis: float = LIMITS["spo2_hysteresis"].default
    rr_low: float = LIMITS["rr_low"].default
    rr_delay_s: float = LIMITS["rr_delay_s"].default
    apnoea_s: float = LIMITS["apnoea_s"].default
    etco2_apnoea: float = LIMITS["etco2_apnoea"].default
    etco2_high: float = LIMITS["etco2_high"].default
    etco2_delay_s: float = LIMITS["etco2_delay_s"].default
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
        if result.sbp_low_high >= result.sbp_low:
            raise ValueError("sbp_low_high must be below sbp_low")
        if result.map_low_high >= result.map_low:
            raise ValueError("map_low_high must be below map_low")
        if result.hr_low_high >= result.hr_low:
            raise ValueError("hr_low_high must be below hr_low")
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
