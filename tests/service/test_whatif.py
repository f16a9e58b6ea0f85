"""``vigil alarms what-if``: what a proposed limit change does to recorded readings (and, in a
checkout, to a simulated cohort), counted per rule and priority."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drivers.readings import Metric, VitalReading
from service.alarms.limits import Limits
from service.persistence.db import make_engine, upgrade
from service.persistence.writer import write_events
from service.whatif import Seen, compare, replay, what_if_recorded

NOW = datetime.now(UTC).replace(microsecond=0)


def hr(value: float, seconds: float) -> VitalReading:
    return VitalReading("monitor", Metric.HR, value, NOW - timedelta(seconds=seconds))


def recorded(tmp_path: Path) -> str:
    """An hour ago: HR 125 for 2 min (a MEDIUM at today's 120, none at 130); SpO2 fine."""
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    upgrade(url)
    db = make_engine(url)
    events = [hr(125, 3600 - t) for t in range(0, 120, 2)] + [hr(80, 3400)]
    spo2 = [
        VitalReading("monitor", Metric.SPO2, 97, NOW - timedelta(seconds=3600 - t))
        for t in range(0, 120, 5)
    ]
    events += spo2
    write_events(db, events)
    db.dispose()
    return url


def test_replay_and_compare_count_alarms_per_rule_and_priority(tmp_path: Path) -> None:
    url = recorded(tmp_path)
    db = make_engine(url)
    current = Limits()
    looser = current.changed({"hr_medium": 130})
    rows, _ = what_if_recorded(db, NOW - timedelta(hours=2), NOW, current, looser)
    [row] = rows
    assert (row.rule, row.priority, row.current, row.proposed, row.lost, row.gained) == (
        "hr_high",
        "medium",
        1,
        0,
        1,
        0,
    )
    # The same limits both sides: nothing changes (the comparison can say "no difference").
    rows, _ = what_if_recorded(db, NOW - timedelta(hours=2), NOW, current, current)
    assert [(r.gained, r.lost) for r in rows] == [(0, 0)]
    # Stricter: 110 raises it too; the window outside the readings: nothing at all.
    rows, _ = what_if_recorded(db, NOW - timedelta(minutes=30), NOW, current, looser)
    assert rows == []


def test_compare_counts_sessions_whose_alarms_change() -> None:
    now = [Seen("session 1", "hr_high", "physiological", "medium")]
    new = [
        Seen("session 1", "hr_high", "physiological", "medium"),
        Seen("session 2", "hr_high", "physiological", "medium"),
        Seen("session 2", "spo2_low", "physiological", "high"),
    ]
    rows = {(r.rule, r.priority): r for r in compare(now, new)}
    assert (rows["hr_high", "medium"].gained, rows["hr_high", "medium"].sessions_changed) == (1, 1)
    assert rows["spo2_low", "high"].gained == 1


def test_replay_wakes_the_engine_between_readings() -> None:
    """A condition decided by a deadline (apnoea 30 s after the last breath) is found even when
    no reading comes at that moment."""
    t0 = NOW
    events = [
        (t0, VitalReading("monitor", Metric.RESP_RATE, 12, t0)),
        (t0 + timedelta(seconds=5), VitalReading("monitor", Metric.RESP_RATE, 0, t0)),
        (t0 + timedelta(seconds=300), VitalReading("monitor", Metric.HR, 70, t0)),
    ]
    seen = replay(events, Limits())
    assert [(s.rule, s.priority) for s in seen] == [("apnoea", "high")]


def test_the_command_prints_the_table_and_csv(tmp_path: Path) -> None:
    url = recorded(tmp_path)
    proposal = tmp_path / "new.toml"
    proposal.write_text("[alarm_limits]\nhr_medium = 130\n")
    base = [sys.executable, "-m", "service", "alarms", "what-if", "--limits", str(proposal)]
    text = subprocess.run(
        [*base, "--since", "2h", "--db", url], capture_output=True, text=True, check=True
    ).stdout
    assert "hr_medium: 120 → 130 bpm" in text
    assert "In all: 0 alarm(s) gained, 1 lost." in text
    csv = subprocess.run(
        [*base, "--since", "2h", "--db", url, "--csv"], capture_output=True, text=True, check=True
    ).stdout
    assert csv.splitlines() == [
        "rule,priority,current,proposed,gained,lost,sessions",
        "hr_high,medium,1,0,0,1,1",
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text("hr_medium = 5\n")
    refused = subprocess.run([*base[:-1], str(bad), "--db", url], capture_output=True, text=True)
    assert refused.returncode == 2 and "hr_medium" in refused.stderr


def test_the_cohort_what_if_runs_and_reports_severe_episodes(tmp_path: Path) -> None:
    proposal = tmp_path / "new.toml"
    proposal.write_text("spo2_medium = 93\n")
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "service",
            "alarms",
            "what-if",
            "--limits",
            str(proposal),
            "--cohort",
            "12",
            "--db",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "spo2_medium: 90 → 93 %" in done.stdout
    assert "severe episodes reached HIGH" in done.stdout
