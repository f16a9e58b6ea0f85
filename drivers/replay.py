"""Decode a recorded byte stream (a capture from ``spy://`` or a raw dump) with a driver."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from drivers.readings import Reading
from drivers.registry import handler_factory

CHUNK = 4096


@dataclass
class ReplaySummary:
    bytes: int = 0
    frames_ok: int = 0
    frames_rejected: int = 0
    readings: int = 0
    field_problems: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def reading_json(reading: Reading) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat().replace("+00:00", "Z")
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, frozenset | set):
            return sorted(plain(v) for v in value)
        return value

    body = {k: plain(v) for k, v in asdict(reading).items()}
    return json.dumps({"type": type(reading).__name__, **body}, sort_keys=True)


def replay_bytes(driver: str, data: bytes, out: Callable[[str], None]) -> ReplaySummary:
    """Feed ``data`` to the driver's handler in chunks, as a port would deliver it.

    Time is fixed (the epoch) so that two replays print the same lines; readings that carry a
    device time keep it.
    """
    handler = handler_factory(driver)(driver)
    wall = datetime(1970, 1, 1, tzinfo=UTC)
    summary = ReplaySummary(bytes=len(data))
    handler.on_open(0.0, wall)
    for start in range(0, len(data), CHUNK):
        result = handler.on_data(data[start : start + CHUNK], 0.0, wall)
        summary.frames_ok += result.frames_ok
        summary.frames_rejected += len(result.rejected)
        summary.reasons.update(result.rejected)
        summary.field_problems += len(result.problems)
        for reading in result.readings:
            summary.readings += 1
            out(reading_json(reading))
    return summary


def replay_file(driver: str, path: Path, out: Callable[[str], None]) -> ReplaySummary:
    return replay_bytes(driver, path.read_bytes(), out)
