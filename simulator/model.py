"""What the emulated devices report: the patient's vitals and the pump's state at one moment.

The physiology that moves these numbers lives in ``simulator.physiology`` (scenarios); emulators
only encode them in their device's protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Vitals:
    hr: float | None = 72.0
    pulse_rate: float | None = 72.0
    spo2: float | None = 98.0
    perfusion_index: float | None = 3.5
    resp_rate: float | None = 14.0
    etco2_mmhg: float | None = 36.0
    fico2_mmhg: float | None = 0.0
    ambient_mmhg: float = 760.0
    temp_c: float | None = None
    #: The last completed cuff measurement: (sys, dia, mean) and its time in simulator seconds.
    nibp: tuple[float, float, float] | None = None
    nibp_at: float | None = None
    nibp_measuring: bool = False
    nibp_failed: bool = False
    #: Oximeter sensor states.
    sensor_off: bool = False
    no_sensor: bool = False
    low_signal_iq: bool = False
    #: Weak pleth (Masimo "low perfusion" exception); the emulators do not encode it yet.
    low_perfusion: bool = False


@dataclass(slots=True)
class PumpModelState:
    rate_ml_h: float = 0.0
    volume_infused_ml: float = 0.0
    vtbi_ml: float = 0.0
    drug: str = "Ketamine"
    concentration: str = "1 mg/mL"
    #: "infusing", "paused", "standby", "kvo", "complete"
    state: str = "standby"
    #: Active pump alarms: "occlusion", "air", "end_of_volume", "battery_low", "door_open", ...
    alarms: set[str] = field(default_factory=set)
    battery_low: bool = False

    @property
    def time_remaining_s(self) -> float | None:
        if self.rate_ml_h <= 0 or self.state != "infusing":
            return None
        return max(0.0, self.vtbi_ml - self.volume_infused_ml) / self.rate_ml_h * 3600.0
