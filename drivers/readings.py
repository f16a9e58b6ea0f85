"""One vocabulary of readings for every device.

A *reading* is what a device session reports to the rest of Vigil: a vital-sign value, the set of
technical conditions a device reports, a pump's status, or a change of the link's availability.
Names follow IEEE 11073-10101 (MDC) nomenclature; the numeric codes are ``partition * 65536 +
term`` as used in HL7 v2 / IHE PCD-01 (partition 2 = SCADA for vitals, see docs/protocols.md).

All readings are frozen, slotted dataclasses; times are timezone-aware UTC ``datetime`` values
supplied by the caller (never read from a clock here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Metric(StrEnum):
    HR = "hr"
    PULSE_RATE = "pulse_rate"
    SPO2 = "spo2"
    PERFUSION_INDEX = "perfusion_index"
    NIBP_SYS = "nibp_sys"
    NIBP_DIA = "nibp_dia"
    NIBP_MEAN = "nibp_mean"
    RESP_RATE = "resp_rate"
    ETCO2 = "etco2"
    FICO2 = "fico2"
    TEMP = "temp"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    unit: str
    mdc_name: str
    mdc_code: int
    #: Values outside this range are physically impossible for the metric: a device that reports
    #: one has a fault, and the value is rejected (never shown, never alarmed on).
    plausible: tuple[float, float]
    label: str


# Codes: IEEE 11073-10101 partition 2 (0x20000 + NOM term), cross-checked with the IHE PCD TF
# Vol 2 examples (HR 147842, SpO2 150456, NIBP sys 150021, RR 151562). See docs/protocols.md.
METRICS: dict[Metric, MetricInfo] = {
    Metric.HR: MetricInfo("bpm", "MDC_ECG_HEART_RATE", 147842, (0, 350), "HR"),
    Metric.PULSE_RATE: MetricInfo("bpm", "MDC_PULS_OXIM_PULS_RATE", 149530, (0, 350), "PR"),
    Metric.SPO2: MetricInfo("%", "MDC_PULS_OXIM_SAT_O2", 150456, (0, 100), "SpO2"),
    Metric.PERFUSION_INDEX: MetricInfo("%", "MDC_PULS_OXIM_PERF_REL", 150448, (0, 100), "PI"),
    Metric.NIBP_SYS: MetricInfo("mmHg", "MDC_PRESS_BLD_NONINV_SYS", 150021, (0, 350), "NIBP sys"),
    Metric.NIBP_DIA: MetricInfo("mmHg", "MDC_PRESS_BLD_NONINV_DIA", 150022, (0, 300), "NIBP dia"),
    Metric.NIBP_MEAN: MetricInfo(
        "mmHg", "MDC_PRESS_BLD_NONINV_MEAN", 150023, (0, 320), "NIBP mean"
    ),
    Metric.RESP_RATE: MetricInfo("/min", "MDC_RESP_RATE", 151562, (0, 200), "RR"),
    Metric.ETCO2: MetricInfo("mmHg", "MDC_AWAY_CO2_ET", 151708, (0, 150), "EtCO2"),
    Metric.FICO2: MetricInfo("mmHg", "MDC_AWAY_CO2_INSP_MIN", 151738, (0, 150), "FiCO2"),
    Metric.TEMP: MetricInfo("°C", "MDC_TEMP", 150344, (0, 50), "Temp"),
}


class Validity(StrEnum):
    VALID = "valid"
    #: The device reported a value but flagged it (low signal quality, interference, old NIBP).
    QUESTIONABLE = "questionable"
    #: No usable value: the device sent its "no value" marker or an impossible number.
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class VitalReading:
    source: str
    metric: Metric
    #: ``None`` whenever validity is INVALID; never a device's invalid-marker number.
    value: float | None
    measured_at: datetime
    validity: Validity = Validity.VALID

    @property
    def unit(self) -> str:
        return METRICS[self.metric].unit

    def __post_init__(self) -> None:
        if (self.value is None) != (self.validity is Validity.INVALID):
            raise ValueError("value must be None exactly when the reading is invalid")


class Condition(StrEnum):
    """Technical conditions a device reports about itself or its sensor."""

    NO_SENSOR = "no_sensor"
    SENSOR_OFF = "sensor_off"
    DEFECTIVE_SENSOR = "defective_sensor"
    UNRECOGNIZED_SENSOR = "unrecognized_sensor"
    LOW_PERFUSION = "low_perfusion"
    PULSE_SEARCH = "pulse_search"
    INTERFERENCE = "interference"
    AMBIENT_LIGHT = "ambient_light"
    LOW_SIGNAL_IQ = "low_signal_iq"
    NIBP_MEASUREMENT_FAILED = "nibp_measurement_failed"
    MODULE_ABSENT = "module_absent"
    DEMO_DATA = "demo_data"
    #: The monitor's own apnoea detection (no breath for its apnoea time).
    APNOEA = "apnoea"


@dataclass(frozen=True, slots=True)
class DeviceConditions:
    """The complete set of technical conditions a device reports now (reported on change)."""

    source: str
    active: frozenset[Condition]
    at: datetime


class Availability(StrEnum):
    CONNECTED = "connected"
    #: The link is open but no valid data has arrived within the driver's stale timeout.
    STALE = "stale"
    #: The port could not be opened or failed.
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class AvailabilityChange:
    source: str
    availability: Availability
    at: datetime
    detail: str = ""


# --- infusion pumps -------------------------------------------------------------------------


class PumpState(StrEnum):
    """MDC_PUMP_STAT (184508) states, plus COMPLETE and ALARM which pumps report separately."""

    INFUSING = "infusing"
    PAUSED = "paused"
    STANDBY = "standby"
    KVO = "kvo"
    COMPLETE = "complete"
    ALARM = "alarm"
    UNKNOWN = "unknown"


class PumpCondition(StrEnum):
    """Pump-reported conditions; MDC event codes in ``PUMP_CONDITION_MDC``."""

    OCCLUSION = "occlusion"
    AIR_IN_LINE = "air_in_line"
    CONTAINER_EMPTY = "container_empty"
    END_OF_VOLUME = "end_of_volume"
    DOOR_OPEN = "door_open"
    BATTERY_LOW = "battery_low"
    BATTERY_EMPTY = "battery_empty"
    DROP_ALARM = "drop_alarm"
    TIME_OVER = "time_over"
    PRE_ALARM = "pre_alarm"
    PUMP_FAULT = "pump_fault"


# IHE PCD TF Vol 3 terms (docs/protocols.md). AIR_IN_LINE uses MDC_EVT_FLUID_LINE_PROB: the TF
# has no specific air-in-line term.
PUMP_CONDITION_MDC: dict[PumpCondition, tuple[str, int]] = {
    PumpCondition.OCCLUSION: ("MDC_EVT_FLUID_LINE_OCCL", 196940),
    PumpCondition.AIR_IN_LINE: ("MDC_EVT_FLUID_LINE_PROB", 196860),
    PumpCondition.CONTAINER_EMPTY: ("MDC_EVT_EMPTY", 196634),
    PumpCondition.BATTERY_LOW: ("MDC_EVT_BATT_LO", 196802),
    PumpCondition.DOOR_OPEN: ("MDC_EVT_DOOR_OR_HANDLE_POSN_PROB", 196842),
}

PUMP_MDC: dict[str, tuple[str, int]] = {
    "rate_ml_h": ("MDC_FLOW_FLUID_PUMP", 157784),
    "volume_infused_ml": ("MDC_VOL_INFUS_ACTUAL_TOTAL", 157948),
    "vtbi_ml": ("MDC_VOL_FLUID_TBI_REMAIN", 157872),
    "time_remaining_s": ("MDC_TIME_PD_REMAIN", 157916),
    "state": ("MDC_PUMP_STAT", 184508),
}


@dataclass(frozen=True, slots=True)
class PumpReading:
    source: str
    at: datetime
    state: PumpState
    #: Channel on a rack (B. Braun slot such as "1A"); "" for a single pump.
    channel: str = ""
    rate_ml_h: float | None = None
    volume_infused_ml: float | None = None
    #: The programmed volume to be infused (the total); what is left is VTBI − volume infused.
    vtbi_ml: float | None = None
    time_remaining_s: float | None = None
    drug: str | None = None
    concentration: str | None = None
    conditions: frozenset[PumpCondition] = field(default_factory=frozenset)


Reading = VitalReading | DeviceConditions | AvailabilityChange | PumpReading


def plausible(metric: Metric, value: float) -> bool:
    low, high = METRICS[metric].plausible
    return low <= value <= high
