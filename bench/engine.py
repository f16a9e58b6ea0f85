"""Alarm engine throughput: readings per second through ``AlarmEngine.observe``."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from drivers.readings import Metric, VitalReading
from service.alarms import AlarmEngine


def throughput(seconds: float = 2.0) -> float:
    rng = random.Random(1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    metrics = [Metric.HR, Metric.SPO2, Metric.PULSE_RATE, Metric.RESP_RATE, Metric.ETCO2]
    readings = [
        VitalReading(
            "monitor",
            m,
            rng.uniform(60, 130) if m is not Metric.SPO2 else rng.uniform(84, 100),
            t0 + timedelta(seconds=i / 5),
        )
        for i, m in enumerate(metrics * 4000)
    ]
    engine = AlarmEngine()
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for r in readings:
            engine.observe(r, r.measured_at)
        count += len(readings)
    return count / (time.perf_counter() - start)
