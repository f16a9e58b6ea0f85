"""What would a limit change do? ``vigil alarms what-if`` (docs/alarms.md, "Before changing a
limit").

The same readings go through two fresh alarm engines, one with the limits in force and one with
the proposed limits, on the readings' own times (injected time: an hour replays in well under a
second). Every alarm either engine raises is counted by rule (the key before the first ``:``)
and by the highest priority it reached, and attributed to the infusion session it fell in. The
comparison says, per rule and priority, how many alarms each set raises, how many the proposal
adds and removes, and how many sessions change.

Recorded readings come from the bed's database (``--since``, ``--session``); a simulated cohort
(``--cohort``) comes from ``bench/whatif_cohort.py`` in a source checkout, which also counts
the severe episodes (ground truth of the patient model) that no longer reach HIGH.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from drivers.readings import (
    Availability,
    AvailabilityChange,
    Condition,
    DeviceConditions,
    Metric,
    PumpCondition,
    PumpReading,
    PumpState,
    Validity,
    VitalReading,
)
from service.alarms.engine import AlarmEngine, EngineInput
from service.alarms.limits import LIMITS, Limits
from service.alarms.model import AlarmTransition, InfusionContext, TabletCount
from service.infusions.store import InfusionStore
from service.persistence.models import DeviceEventRow, PumpReadingRow, ReadingRow

_RANK = {"low": 1, "medium": 2, "high": 3}
#: A session key for alarms outside any infusion session.
NO_SESSION = "-"


@dataclass(frozen=True, slots=True)
class Seen:
    """One alarm one engine raised: its rule, kind, the highest priority it reached, and the
    session it belongs to."""

    session: str
    rule: str
    kind: str
    priority: str


@dataclass(frozen=True, slots=True)
class Row:
    rule: str
    priority: str
    current: int
    proposed: int
    sessions_changed: int

    @property
    def gained(self) -> int:
        return max(0, self.proposed - self.current)

    @property
    def lost(self) -> int:
        return max(0, self.current - self.proposed)


def rule_of(key: str) -> str:
    return key.split(":", 1)[0]


# -- limits --------------------------------------------------------------------------------------


def proposed_limits(path: Path, current: Limits) -> tuple[Limits, dict[str, float]]:
    """The proposal: a TOML file with limit names (at the top level or in ``[alarm_limits]``),
    applied over ``current``. ``ValueError`` names an unknown or out-of-range limit."""
    data = tomllib.loads(path.read_text())
    table: Any = data.get("alarm_limits", data)
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [alarm_limits] must be a table of limit = value")
    changes = dict(table)
    return current.changed(changes), {k: float(v) for k, v in changes.items()}


# -- the replay -----------------------------------------------------------------------------------


def replay(
    events: Sequence[tuple[datetime, EngineInput]],
    limits: Limits,
    session_of: Any = None,
) -> list[Seen]:
    """Run ``events`` (time-ordered) through a fresh engine; every alarm it raised.
    ``session_of(datetime) -> str`` attributes an alarm to a session (default: none)."""
    engine = AlarmEngine(limits)
    found: dict[str, tuple[str, str, str, str]] = {}

    def collect(outputs: Iterable[object]) -> None:
        for out in outputs:
            if not isinstance(out, AlarmTransition):
                continue
            a = out.alarm
            session = session_of(a.started_at) if session_of else NO_SESSION
            old = found.get(a.id)
            best = a.priority.value
            if old is not None and _RANK[old[3]] > _RANK[best]:
                best = old[3]
            found[a.id] = (session, rule_of(a.key), a.kind.value, best)

    if events:
        first = events[0][0]
        collect(engine.observe(TabletCount(1, first), first))
    last_tick: datetime | None = None
    for at, item in events:
        while True:
            deadline = engine.next_deadline()
            if deadline is None or deadline > at:
                break
            if last_tick is not None and deadline <= last_tick:
                deadline = last_tick + timedelta(seconds=1)  # a condition still being timed
                if deadline > at:
                    break
            collect(engine.tick(deadline))
            last_tick = deadline
        collect(engine.observe(item, at))
    return [Seen(*v) for v in found.values()]


def compare(current: Sequence[Seen], proposed: Sequence[Seen]) -> list[Row]:
    """Per rule and priority: alarms under each set, and the sessions whose count changed."""
    cur = Counter((s.rule, s.priority) for s in current)
    new = Counter((s.rule, s.priority) for s in proposed)
    per_session_cur = Counter((s.rule, s.priority, s.session) for s in current)
    per_session_new = Counter((s.rule, s.priority, s.session) for s in proposed)
    rows = []
    for rule, priority in sorted(cur.keys() | new.keys(), key=lambda k: (k[0], -_RANK[k[1]])):
        sessions = {
            session
            for (r, p, session) in per_session_cur.keys() | per_session_new.keys()
            if (r, p) == (rule, priority)
            and per_session_cur[(r, p, session)] != per_session_new[(r, p, session)]
        }
        rows.append(
            Row(rule, priority, cur[(rule, priority)], new[(rule, priority)], len(sessions))
        )
    return rows


def render(
    rows: Sequence[Row],
    changes: dict[str, float],
    current: Limits,
    *,
    sessions: int,
    as_csv: bool = False,
    extra: Sequence[str] = (),
) -> str:
    """The comparison as text (or CSV: one line per rule and priority)."""
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["rule", "priority", "current", "proposed", "gained", "lost", "sessions"])
        for r in rows:
            writer.writerow(
                [r.rule, r.priority, r.current, r.proposed, r.gained, r.lost, r.sessions_changed]
            )
        return out.getvalue()
    lines = ["Proposed limits:"]
    for name, value in sorted(changes.items()):
        unit = LIMITS[name].unit if name in LIMITS else ""
        lines.append(f"  {name}: {getattr(current, name):g} → {value:g} {unit}".rstrip())
    lines += ["", f"Alarms over {sessions} session(s), by rule and the highest priority reached:"]
    head = f"  {'rule':<16} {'priority':<8} {'now':>6} {'proposed':>9} {'gained':>7} {'lost':>6}"
    lines += [head + f" {'sessions changed':>17}"]
    for r in rows:
        lines.append(
            f"  {r.rule:<16} {r.priority:<8} {r.current:>6} {r.proposed:>9} {r.gained:>7} "
            f"{r.lost:>6} {r.sessions_changed:>17}"
        )
    if not rows:
        lines.append("  (no alarm under either set)")
    gained = sum(r.gained for r in rows)
    lost = sum(r.lost for r in rows)
    lines += ["", f"In all: {gained} alarm(s) gained, {lost} lost."]
    lines += list(extra)
    return "\n".join(lines) + "\n"


# -- recorded readings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    sessions: list[tuple[str, datetime, datetime]]


def recorded_events(db: Engine, start: datetime, end: datetime) -> list[tuple[datetime, Any]]:
    """What the bed recorded in [start, end] as engine inputs, in time order: vital readings,
    pump readings, device conditions and link changes, and each infusion session's start and
    end (with its baseline and expected rate)."""
    events: list[tuple[datetime, int, Any]] = []
    with Session(db) as s:
        for r in s.scalars(
            select(ReadingRow)
            .where(ReadingRow.measured_at >= start, ReadingRow.measured_at <= end)
            .order_by(ReadingRow.measured_at, ReadingRow.id)
        ):
            try:
                metric, validity = Metric(r.metric), Validity(r.validity)
            except ValueError:
                continue
            reading = VitalReading(r.source, metric, r.value, r.measured_at, validity)
            events.append((r.measured_at, len(events), reading))
        for p in s.scalars(
            select(PumpReadingRow)
            .where(PumpReadingRow.at >= start, PumpReadingRow.at <= end)
            .order_by(PumpReadingRow.at, PumpReadingRow.id)
        ):
            conditions = frozenset(
                PumpCondition(c)
                for c in p.conditions.split(",")
                if c and c in PumpCondition._value2member_map_
            )
            state = (
                PumpState(p.state) if p.state in PumpState._value2member_map_ else PumpState.UNKNOWN
            )
            pump = PumpReading(
                p.source,
                p.at,
                state,
                p.channel,
                p.rate_ml_h,
                p.volume_infused_ml,
                p.vtbi_ml,
                p.time_remaining_s,
                conditions=conditions,
            )
            events.append((p.at, len(events), pump))
        for d in s.scalars(
            select(DeviceEventRow)
            .where(DeviceEventRow.at >= start, DeviceEventRow.at <= end)
            .order_by(DeviceEventRow.at, DeviceEventRow.id)
        ):
            if d.kind == "conditions":
                active = frozenset(
                    Condition(c)
                    for c in d.state.split(",")
                    if c and c in Condition._value2member_map_
                )
                events.append((d.at, len(events), DeviceConditions(d.source, active, d.at)))
            elif d.kind == "availability" and d.state in Availability._value2member_map_:
                change = AvailabilityChange(d.source, Availability(d.state), d.at, d.detail)
                events.append((d.at, len(events), change))
    for record in InfusionStore(db).history(10_000):
        if record.started_at is None or record.problem:
            continue
        base = record.baseline
        context = dict(
            baseline_sys=base.sys if base else None,
            baseline_dia=base.dia if base else None,
            baseline_hr=base.hr if base else None,
            expected_rate_ml_h=record.plan.rate_ml_h,
        )
        if start <= record.started_at <= end:
            at = record.started_at
            events.append((at, len(events), InfusionContext(True, at, **context)))
        stop = record.infusion_ended_at or record.discharged_at
        if stop is not None and start <= stop <= end:
            events.append((stop, len(events), InfusionContext(False, stop, **context)))
    events.sort(key=lambda e: (e[0], e[1]))
    return [(at, item) for at, _, item in events]


def session_windows(
    db: Engine, start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime]]:
    out = []
    for record in InfusionStore(db).history(10_000):
        if record.problem:
            continue
        a, b = record.window(end)
        if b >= start and a <= end:
            out.append((f"session {record.id}", a, b))
    return out


def what_if_recorded(
    db: Engine, start: datetime, end: datetime, current: Limits, proposed: Limits
) -> tuple[list[Row], int]:
    """The comparison over what the bed recorded in [start, end]; and the number of sessions."""
    events = recorded_events(db, start, end)
    windows = session_windows(db, start, end)

    def session_of(at: datetime) -> str:
        return next((name for name, a, b in windows if a <= at <= b), NO_SESSION)

    rows = compare(replay(events, current, session_of), replay(events, proposed, session_of))
    return rows, len(windows)


__all__ = [
    "NO_SESSION",
    "Row",
    "Seen",
    "compare",
    "proposed_limits",
    "recorded_events",
    "render",
    "replay",
    "what_if_recorded",
]
