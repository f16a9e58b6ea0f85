"""Driver ``masimo-ascii``: Masimo Radical-7 / Rad-8 / Rad-97 serial "ASCII 1" output.

The oximeter only talks: one line per second at 9600 8N1, nothing is ever sent to it. The link
counts as stale after three missed lines (the OpenICE heartbeat rule of docs/alarms.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from drivers.codecs.masimo_ascii import MasimoAsciiCodec, MasimoException, MasimoRecord
from drivers.handlers.base import DeviceHandler, HandlerOutput
from drivers.readings import Condition, DeviceConditions, Metric, Validity, VitalReading
from drivers.transports.serial_url import SerialSettings

_CONDITIONS: dict[MasimoException, Condition] = {
    MasimoException.NO_SENSOR: Condition.NO_SENSOR,
    MasimoException.DEFECTIVE_SENSOR: Condition.DEFECTIVE_SENSOR,
    MasimoException.LOW_PERFUSION: Condition.LOW_PERFUSION,
    MasimoException.PULSE_SEARCH: Condition.PULSE_SEARCH,
    MasimoException.INTERFERENCE: Condition.INTERFERENCE,
    MasimoException.SENSOR_OFF: Condition.SENSOR_OFF,
    MasimoException.AMBIENT_LIGHT: Condition.AMBIENT_LIGHT,
    MasimoException.UNRECOGNIZED_SENSOR: Condition.UNRECOGNIZED_SENSOR,
    MasimoException.LOW_SIGNAL_IQ: Condition.LOW_SIGNAL_IQ,
}

#: Conditions under which the device still shows numbers but they deserve less trust.
_QUESTIONABLE = (
    MasimoException.LOW_SIGNAL_IQ
    | MasimoException.INTERFERENCE
    | MasimoException.PULSE_SEARCH
    | MasimoException.AMBIENT_LIGHT
)


def record_readings(source: str, record: MasimoRecord, at: datetime) -> list[VitalReading]:
    """The vital readings of one line. Measurement time is the receive time: the device clock
    is often wrong and is not trusted."""
    questionable = bool(record.exceptions & _QUESTIONABLE)
    readings = []
    for metric, value in (
        (Metric.SPO2, record.spo2),
        (Metric.PULSE_RATE, record.pulse_rate),
        (Metric.PERFUSION_INDEX, record.perfusion_index),
    ):
        if value is None:
            validity = Validity.INVALID
        elif questionable:
            validity = Validity.QUESTIONABLE
        else:
            validity = Validity.VALID
        readings.append(VitalReading(source, metric, value, at, validity))
    return readings


def record_conditions(record: MasimoRecord) -> frozenset[Condition]:
    return frozenset(c for flag, c in _CONDITIONS.items() if record.exceptions & flag)


class MasimoAsciiHandler(DeviceHandler[MasimoRecord]):
    name: ClassVar[str] = "masimo-ascii"
    serial: ClassVar[SerialSettings] = SerialSettings(9600, 8, "N", 1)
    stale_after: ClassVar[float] = 3.0

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self._conditions: frozenset[Condition] | None = None

    def new_codec(self) -> MasimoAsciiCodec:
        return MasimoAsciiCodec()

    def on_event(
        self, event: MasimoRecord, mono: float, wall: datetime, out: HandlerOutput
    ) -> None:
        out.frames_ok += 1
        out.readings += record_readings(self.source, event, wall)
        out.problems += event.problems
        conditions = record_conditions(event)
        if conditions != self._conditions:
            self._conditions = conditions
            out.readings.append(DeviceConditions(self.source, conditions, wall))
