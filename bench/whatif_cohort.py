"""``vigil alarms what-if --cohort N``: the proposed limits against the current ones on a
simulated cohort (the alarm-burden benchmark's sessions, behaviour "nobody acknowledges").

Besides the alarms gained and lost per rule (``service.whatif``), it counts the severe episodes
of the patient model's ground truth that reach HIGH under each set: a proposal that misses one
says so. Run from a source checkout: ``python -m bench.whatif_cohort --sessions 500
--current '{...}' --proposed '{"hr_medium": 125}'``.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.alarm_burden import BEHAVIOURS, SessionResult, run, summarise
from service.alarms.limits import Limits
from service.whatif import Seen, compare, render


def seen(results: list[SessionResult]) -> list[Seen]:
    return [
        Seen(f"session {r.index}", a.prefix.split(" ")[0], a.kind, a.max_priority)
        for r in results
        for a in r.alarms
    ]


def severe_line(name: str, results: list[SessionResult]) -> tuple[int, int, str]:
    summary = summarise(results)
    episodes = summary.get("severe", {})
    reached = sum(v.get("reached_high", 0) for v in episodes.values())
    total = sum(v.get("episodes", 0) for v in episodes.values())
    return reached, total, f"  {name}: {reached} of {total} severe episodes reached HIGH"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whatif_cohort")
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--current", default="{}", help="JSON: the limits in force")
    parser.add_argument("--proposed", default="{}", help="JSON: the changes proposed")
    parser.add_argument("--csv", action="store_true")
    args = parser.parse_args(argv)
    current = Limits().changed(json.loads(args.current))
    changes = {k: float(v) for k, v in json.loads(args.proposed).items()}
    proposed = current.changed(changes)
    behaviour = ("none",)
    assert "none" in BEHAVIOURS
    now = run(args.sessions, args.seed, behaviour, current)["none"]
    then = run(args.sessions, args.seed, behaviour, proposed)["none"]
    rows = compare(seen(now), seen(then))
    r_now, total, line_now = severe_line("current limits", now)
    r_new, _, line_new = severe_line("proposed limits", then)
    extra = [
        f"Simulated cohort: {args.sessions} sessions, seed {args.seed}, nobody acknowledging.",
        line_now,
        line_new,
    ]
    if r_new < r_now:
        extra.append(f"  WARNING: the proposal misses {r_now - r_new} severe episode(s).")
    text = render(rows, changes, current, sessions=args.sessions, as_csv=args.csv, extra=extra)
    print(text, end="")
    if args.csv:
        print(f"# severe episodes reaching HIGH: current {r_now}/{total}, proposed {r_new}/{total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
