"""Driver ``ge-dri``: GE CARESCAPE / Datex-Ohmeda S/5 monitor, DRI computer interface.

The monitor sends nothing until asked: on open the driver requests current values
(DRI_PH_DISPL) every 10 s for all classes, and asks again when no physiological record has
arrived for ``interval + 2`` s (a monitor that was restarted, or a request lost on the line,
would otherwise stay silent for good). Re-sending a display request is harmless: it simply
restarts the same transmission.

Mapping (docs/protocols/ge-dri.md):

* HR from the ECG group (the monitor's selected HR source), SpO2 and pulse rate from the SpO2
  group, RR, EtCO2 and FiCO2 from the CO2 group (mmHg = % × ambient pressure / 100; RR from
  ECG impedance when there is no CO2 module), the first present temperature channel.
* Every value at or below -32001 is a marker: the reading is INVALID with no value. A value
  outside ``drivers.readings.plausible`` is INVALID too (and noted as a dropped field).
* A group whose module is absent yields no readings; one present but not active yields
  INVALID readings. Either sets ``Condition.MODULE_ABSENT`` (for ECG, NIBP, SpO2, CO2; the
  temperature channels are optional and never do), reported on change.
* NIBP is reported once per measurement, never every 10 s: a new measurement is recognised by
  changed values, by the end of a measuring phase (label bit 5), or by the "older than 60 s"
  bit (label bit 8) clearing. Values seen first with that bit set (e.g. right after Vigil
  connects) are reported once as QUESTIONABLE: shown, but known to be old.
* ``measured_at`` is the record's ``r_time`` when it is within ``CLOCK_TOLERANCE`` of the
  receive time, else the receive time (the monitor's clock is set by hand and may be wrong).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from drivers.codecs.ge_dri import (
    ALL_CLASSES,
    BasicClass,
    GeDriCodec,
    GeDriRecord,
    Group,
    NibpLabel,
    PhdbRecord,
    encode_display_request,
)
from drivers.handlers.base import DeviceHandler, HandlerOutput
from drivers.readings import (
    Condition,
    DeviceConditions,
    Metric,
    Validity,
    VitalReading,
    plausible,
)
from drivers.transports.serial_url import SerialSettings

#: The monitor's clock may differ from ours by this much and still date the readings.
CLOCK_TOLERANCE = timedelta(seconds=60)

NibpKey = tuple[float | None, float | None, float | None]


class GeDriHandler(DeviceHandler[GeDriRecord]):
    name: ClassVar[str] = "ge-dri"
    # protocols.md §2: 19200 baud, 8 data bits, even parity, 1 stop bit, RTS/CTS.
    serial: ClassVar[SerialSettings] = SerialSettings(19200, 8, "E", 1, rtscts=True)
    #: Records come every 10 s once requested: two missed records plus margin make the link
    #: stale, while one lost or corrupt record (and the re-request after 12 s) does not.
    stale_after: ClassVar[float] = 25.0

    def __init__(self, source: str, *, interval_s: int = 10) -> None:
        super().__init__(source)
        self.interval_s = interval_s
        #: Seconds without a physiological record before the request is sent again.
        self.resend_after = interval_s + 2.0
        self._request = encode_display_request(interval_s, ALL_CLASSES)
        self._resend_at: float | None = None
        self._conditions: frozenset[Condition] | None = None
        # NIBP measurement tracking survives a reopen: the same cuff result is not re-reported.
        self._nibp_key: NibpKey | None = None
        self._nibp_old = False
        self._nibp_measuring = False

    # -- DeviceHandler -------------------------------------------------------------------------

    def new_codec(self) -> GeDriCodec:
        return GeDriCodec()

    def on_open(self, mono: float, wall: datetime) -> HandlerOutput:
        out = super().on_open(mono, wall)
        self._conditions = None
        self._resend_at = mono + self.resend_after
        out.writes.append(self._request)
        return out

    def on_event(self, event: GeDriRecord, mono: float, wall: datetime, out: HandlerOutput) -> None:
        out.frames_ok += 1
        if not isinstance(event, PhdbRecord):
            return  # waveforms and the monitor's alarm display: not used
        basic = event.basic
        if basic is None:
            return
        self._resend_at = mono + self.resend_after
        at = record_time(event.header.time, wall)
        self._record(basic, at, out)

    def on_tick(self, mono: float, wall: datetime) -> HandlerOutput:
        if self._resend_at is not None and mono >= self._resend_at:
            self._resend_at = mono + self.resend_after
            return HandlerOutput(writes=[self._request])
        return HandlerOutput()

    def next_deadline(self) -> float | None:
        return self._resend_at

    # -- mapping -----------------------------------------------------------------------------

    def _record(self, basic: BasicClass, at: datetime, out: HandlerOutput) -> None:
        resp_rate, rr_group = basic.resp_rate, basic.co2
        if not basic.co2.exists:
            resp_rate, rr_group = basic.impedance_rr, basic.ecg
        temperature = next((t for t in basic.temperatures if t[0].exists), None)
        continuous: list[tuple[Metric, Group, float | None]] = [
            (Metric.HR, basic.ecg, basic.hr),
            (Metric.SPO2, basic.spo2_group, basic.spo2),
            (Metric.PULSE_RATE, basic.spo2_group, basic.pulse_rate),
            (Metric.RESP_RATE, rr_group, resp_rate),
            (Metric.ETCO2, basic.co2, basic.etco2_mmhg),
            (Metric.FICO2, basic.co2, basic.fico2_mmhg),
        ]
        if temperature is not None:
            continuous.append((Metric.TEMP, *temperature))
        for metric, group, value in continuous:
            if group.exists:
                out.readings.append(self._reading(metric, group, value, False, at, out))
        out.readings += self._nibp(basic, at, out)
        monitored = (basic.ecg, basic.nibp, basic.spo2_group, basic.co2)
        absent = any(not (group.exists and group.active) for group in monitored)
        conditions = frozenset({Condition.MODULE_ABSENT} if absent else ())
        if conditions != self._conditions:
            self._conditions = conditions
            out.readings.append(DeviceConditions(self.source, conditions, at))

    def _reading(
        self,
        metric: Metric,
        group: Group,
        value: float | None,
        old: bool,
        at: datetime,
        out: HandlerOutput,
    ) -> VitalReading:
        if value is not None and not plausible(metric, value):
            out.rejected.append(f"field dropped: {metric.value}={value:g} is not plausible")
            value = None
        if value is None or not group.active:
            return VitalReading(self.source, metric, None, at, Validity.INVALID)
        validity = Validity.QUESTIONABLE if old else Validity.VALID
        return VitalReading(self.source, metric, value, at, validity)

    def _nibp(self, basic: BasicClass, at: datetime, out: HandlerOutput) -> list[VitalReading]:
        group, flags = basic.nibp, basic.nibp_flags
        if not group.exists:
            return []
        measuring = bool(flags & NibpLabel.MEASURING)
        if measuring:
            # The cuff is inflating: the values are the previous result (or none) until it ends.
            self._nibp_measuring = True
            return []
        key: NibpKey = (basic.nibp_sys, basic.nibp_dia, basic.nibp_mean)
        old = bool(flags & NibpLabel.OLDER_THAN_60S)
        new = key != self._nibp_key or self._nibp_measuring or (self._nibp_old and not old)
        self._nibp_key, self._nibp_old, self._nibp_measuring = key, old, False
        if not new:
            return []
        metrics = (Metric.NIBP_SYS, Metric.NIBP_DIA, Metric.NIBP_MEAN)
        return [
            self._reading(metric, group, value, old, at, out)
            for metric, value in zip(metrics, key, strict=True)
        ]


def record_time(r_time: int, received: datetime) -> datetime:
    """The record's own time when the monitor's clock agrees with ours, else the receive time."""
    try:
        stamped = datetime.fromtimestamp(r_time, UTC)
    except (OverflowError, OSError, ValueError):
        return received
    if abs(stamped - received) <= CLOCK_TOLERANCE:
        return min(stamped, received)
    return received
