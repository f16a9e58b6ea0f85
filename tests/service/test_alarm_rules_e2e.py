"""The alarm rules end to end: the GE emulator on a real pty, the real driver, a real uvicorn
server, the API as a tablet sees it.

Time: the service runs on ``ShiftClock`` (the system clocks plus an offset the test moves), so
"3 minutes later" takes no waiting. The device link keeps the real monotonic clock (its stale
timer must not see the jump) but the shifted wall time, so measurement times move with the
service's clock as a monitor's would. The driver asks the monitor for a record every 2 s (the
DRI display-request interval; the default is 10 s) so that each step shows within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from drivers.handlers.ge_dri import GeDriHandler
from service.api.app import create_app
from service.settings import Settings
from tests.support import (
    RunningServer,
    RunningSimulator,
    add_test_users,
    free_port,
    run_app,
    wait_for,
)

pytestmark = pytest.mark.e2e


class ShiftClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def utcnow(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class DeviceClock:
    """Real monotonic time (the link's stale timer), the service's shifted wall time."""

    def __init__(self, shift: ShiftClock) -> None:
        self.shift = shift

    def monotonic(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        return self.shift.utcnow()


@pytest.fixture
def bed(
    tmp_path: Path,
    simulated: Callable[..., RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[RunningServer, RunningSimulator, ShiftClock]]:
    import service.runtime as runtime_module

    clock = ShiftClock()
    real = runtime_module.DeviceLink

    def device_link(source: str, handler: Any, url: str, publish: Any, _: Any) -> Any:
        return real(source, handler, url, publish, DeviceClock(clock))

    monkeypatch.setattr(runtime_module, "DeviceLink", device_link)
    monkeypatch.setattr(
        runtime_module, "build_handler", lambda spec: GeDriHandler(spec.source, interval_s=2)
    )
    sim = simulated("ge-dri")
    settings = Settings(
        data_dir=tmp_path / "data", devices=[f"monitor:ge-dri={sim.devices['monitor'].link.path}"]
    )
    add_test_users(settings)
    server = run_app(create_app(settings, clock), free_port())
    yield server, sim, clock
    server.stop()


def advance(server: RunningServer, clock: ShiftClock, seconds: float) -> None:
    """Move the service's clock and wake its alarm runner (it waits in real time for the
    deadline it computed before the move)."""
    clock.advance(seconds)
    runtime = server.app.state.runtime
    runtime.loop.call_soon_threadsafe(runtime.alarms.wake)


def alarm(client: httpx.Client, key: str) -> dict[str, Any] | None:
    return next((a for a in client.get("/api/v1/alarms").json() if a["key"] == key), None)


def log_of(client: httpx.Client, key: str) -> list[dict[str, Any]]:
    rows = client.get("/api/v1/alarms/log", params={"limit": 1000}).json()
    return [r for r in reversed(rows) if r["key"] == key]


def dia_seen(client: httpx.Client, dia: float) -> bool:
    params = {"minutes": 60, "metrics": "nibp_dia"}
    rows = client.get("/api/v1/readings/history", params=params).json()["metrics"]["nibp_dia"]
    return any(value == dia for _, value in rows)


def new_cuff(sim: RunningSimulator, sys: float, dia: float, mean: float | None = None) -> None:
    """A cuff measurement completes now on the emulated monitor."""
    vitals = sim.scenario.vitals
    vitals.nibp = (sys, dia, round((sys + 2 * dia) / 3) if mean is None else mean)
    vitals.nibp_at = sim.simulator.t


def test_a_severe_bp_acknowledged_at_once_and_confirmed_3_min_later_is_high_within_20_s(
    bed: tuple[RunningServer, RunningSimulator, ShiftClock],
) -> None:
    server, sim, clock = bed
    nurse = server.login("nurse")
    new_cuff(sim, 186, 104)
    first = wait_for(lambda: alarm(nurse, "bp_high"), timeout=20)
    assert first["priority"] == "medium" and first["message"].endswith("repeat NIBP now")
    assert nurse.post(f"/api/v1/alarms/{first['id']}/acknowledge").status_code == 200
    advance(server, clock, 180)
    repeated = time.monotonic()
    new_cuff(sim, 183, 101)
    high = wait_for(
        lambda: (a := alarm(nurse, "bp_high")) and a["priority"] == "high" and a, timeout=20
    )
    assert time.monotonic() - repeated < 20
    assert high["signal"] == "on" and high["audible"] is True  # sounds again: acknowledged before
    assert high["id"] == first["id"]  # one alarm, updated in place


def test_hr_126_unattended_for_5_min_stays_medium_with_its_notification_escalated(
    bed: tuple[RunningServer, RunningSimulator, ShiftClock],
) -> None:
    server, sim, clock = bed
    sitter = server.login("sitter")
    sim.scenario.vitals.hr = 126
    wait_for(lambda: sitter.get("/api/v1/readings/latest").json()["vitals"]["hr"]["value"] == 126)
    advance(server, clock, 31)  # past the 30 s condition delay, on the service's clock
    raised = wait_for(lambda: alarm(sitter, "hr_high"), timeout=20)
    assert raised["priority"] == "medium"
    advance(server, clock, 300)
    escalated = wait_for(lambda: (a := alarm(sitter, "hr_high")) and a["escalated"] and a)
    assert escalated["priority"] == "medium"
    # The alarm log is written by the writer a moment after the tablets hear of it.
    rows = wait_for(
        lambda: (x := log_of(sitter, "hr_high")) and x[-1]["event"] == "escalated" and x
    )
    assert [r["event"] for r in rows if r["event"] == "escalated"] == ["escalated"]
    assert {r["priority"] for r in rows} == {"medium"}
    assert rows[-1]["notify"] == "nurse" or any(r["notify"] == "nurse" for r in rows)


def test_a_diastolic_only_high_bp_over_three_cuff_cycles_raises_one_alarm(
    bed: tuple[RunningServer, RunningSimulator, ShiftClock],
) -> None:
    server, sim, clock = bed
    sitter = server.login("sitter")
    for i, (sys, dia) in enumerate(((150, 105), (151, 106), (150, 105))):
        if i:
            advance(server, clock, 300)
        new_cuff(sim, sys, dia)
        wait_for(lambda d=dia: dia_seen(sitter, d) and alarm(sitter, "bp_high"), timeout=20)

    # LOW, then MEDIUM (nobody acknowledged it: escalated too) — never ended and raised again.
    # (The log is written by the writer a moment after the tablets hear of it.)
    def events() -> list[str]:
        return [r["event"] for r in log_of(sitter, "bp_high") if r["event"] != "escalated"]

    wait_for(lambda: "updated" in events())
    rows = log_of(sitter, "bp_high")
    assert events() == ["raised", "updated"]
    assert len({r["alarm_id"] for r in rows}) == 1
    assert alarm(sitter, "bp_high")["priority"] == "medium"


def test_nibp_76_40_is_high_at_once(
    bed: tuple[RunningServer, RunningSimulator, ShiftClock],
) -> None:
    server, sim, _ = bed
    sitter = server.login("sitter")
    new_cuff(sim, 76, 40)
    low = wait_for(lambda: alarm(sitter, "bp_low"), timeout=20)
    assert (low["priority"], low["kind"], low["message"]) == (
        "high",
        "physiological",
        "SBP 76 < 80",
    )


def test_apnoea_is_high_within_45_s(
    bed: tuple[RunningServer, RunningSimulator, ShiftClock],
) -> None:
    server, sim, clock = bed
    sitter = server.login("sitter")
    wait_for(lambda: sitter.get("/api/v1/readings/latest").json()["vitals"].get("resp_rate"))
    sim.scenario.vitals.resp_rate = 0
    sim.scenario.vitals.etco2_mmhg = 0
    zero = wait_for(
        lambda: (
            (r := sitter.get("/api/v1/readings/latest").json()["vitals"]["resp_rate"])
            and r["value"] == 0
            and r
        )
    )
    onset = datetime.fromisoformat(zero["measured_at"].replace("Z", "+00:00"))
    advance(server, clock, 31)
    raised = wait_for(lambda: alarm(sitter, "apnoea"), timeout=20)
    assert raised["priority"] == "high"
    started = datetime.fromisoformat(raised["started_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=30) <= started - onset <= timedelta(seconds=45)
