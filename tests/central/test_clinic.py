"""One clinic for real: eight bedside units (seven in this process, one its own `vigil serve`
process), one central station on PostgreSQL, one Mosquitto with the shipped ACL.

All beds appear; an alarm at a bed reaches the central overview; an acknowledgement at the
central reaches the bed; stopping the broker makes every bed raise "central link lost" and keep
alarming; restarting it delivers the backlog with nothing missing and nothing twice; killing a
bedside unit marks it offline at the central within 10 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.app import create_central_app
from central.db import upgrade
from central.settings import StationSettings
from central.tables import EventRow
from drivers.readings import PumpCondition, PumpReading, PumpState
from service.alarms.model import TabletCount
from service.auth.users import Role, UserStore
from service.persistence.db import make_engine
from service.settings import Settings
from tests.central.infra import Mosquitto
from tests.support import RunningServer, free_port, run_app, start_server, wait_for

pytestmark = pytest.mark.e2e

CLINIC = "clinic-a"
IN_PROCESS = [f"bed-{n}" for n in range(1, 8)]
SEPARATE = "bed-8"


def link(broker: Mosquitto, bed: str, directory: Path) -> dict[str, Any]:
    secret = directory / f"{bed}.secret"
    secret.write_text(broker.users[bed] + "\n")
    return {
        "host": broker.host,
        "port": broker.port,
        "clinic": CLINIC,
        "ca_file": str(broker.ca_file),
        "password_file": str(secret),
        "heartbeat_s": 1.0,
        "reconnect_max_s": 1,
        "connect_timeout_s": 2,
    }


@pytest.fixture
def central(mosquitto: Mosquitto, postgres: str, tmp_path: Path) -> Iterator[RunningServer]:
    upgrade(postgres)
    engine = make_engine(postgres)
    UserStore(engine).add("nurse", "Nurse", Role.NURSE, "222222", datetime.now(UTC))
    engine.dispose()
    port = free_port()
    settings = StationSettings(
        clinic=CLINIC,
        broker_host=mosquitto.host,
        broker_port=mosquitto.port,
        ca_file=mosquitto.ca_file,
        password=mosquitto.users["central"],
        db_url=postgres,
        data_dir=tmp_path / "central",
        port=port,
        stale_after_s=5,
        escalate_after_s=600,
    )
    server = run_app(create_central_app(settings), port)
    yield server
    server.stop()


@pytest.fixture
def beds(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[dict[str, RunningServer]]:
    running: dict[str, RunningServer] = {}
    try:
        for bed in IN_PROCESS:
            settings = Settings(
                bed=bed, data_dir=tmp_path / bed, central=link(mosquitto, bed, tmp_path)
            )
            running[bed] = start_server(settings)
            running[bed].publish(TabletCount(1, datetime.now(UTC)))
        yield running
    finally:
        for server in running.values():
            server.stop()


@pytest.fixture
def separate_bed(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """bed-8 as its own `vigil serve` process, to be killed."""
    central = link(mosquitto, SEPARATE, tmp_path)
    config = tmp_path / "bed-8.toml"
    lines = [f'bed = "{SEPARATE}"', f"port = {free_port()}", f'data_dir = "{tmp_path / "b8"}"']
    lines.append("[central]")
    for key, value in central.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    config.write_text("\n".join(lines) + "\n")
    vigil = Path(sys.executable).with_name("vigil")
    log = (tmp_path / "bed-8.log").open("wb")
    process = subprocess.Popen([str(vigil), "serve", "--config", str(config)], stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    yield process
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def door(server: RunningServer, open_: bool) -> None:
    conditions = frozenset({PumpCondition.DOOR_OPEN}) if open_ else frozenset()
    now = server.app.state.runtime.clock.utcnow()
    server.publish(PumpReading("pump", now, PumpState.STANDBY, conditions=conditions))


def bed_alarms(server: RunningServer) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = server.login("nurse").get("/api/v1/alarms").json()
    return result


def overview(client: httpx.Client) -> dict[str, dict[str, Any]]:
    body = client.get("/api/v1/beds").json()
    beds = body["beds"] if isinstance(body, dict) else body
    return {b["bed"]: b for b in beds}


def test_a_clinic_of_eight_beds_and_one_central(
    mosquitto: Mosquitto,
    postgres: str,
    central: RunningServer,
    beds: dict[str, RunningServer],
    separate_bed: subprocess.Popen[bytes],
) -> None:
    nurse = httpx.Client(base_url=central.url, timeout=10)
    nurse.post("/api/v1/auth/login", json={"username": "nurse", "pin": "222222"}).raise_for_status()

    # Every bed appears, online.
    everyone = {*IN_PROCESS, SEPARATE}
    wait_for(lambda: {b for b, s in overview(nurse).items() if s["online"]} >= everyone, timeout=30)

    # An alarm at bed-3 reaches the overview.
    door(beds["bed-3"], True)
    seen = wait_for(
        lambda: [a for a in overview(nurse)["bed-3"]["alarms"] if a["key"].endswith("door_open")]
    )[0]
    assert seen["priority"] == "medium"

    # The central acknowledges; the bed has it under the nurse's name; the overview shows it.
    answer = nurse.post(f"/api/v1/beds/bed-3/alarms/{seen['id']}/acknowledge")
    assert answer.status_code == 202, answer.text
    wait_for(
        lambda: any(a["acknowledged_by"] == "nurse@central" for a in bed_alarms(beds["bed-3"]))
    )
    wait_for(lambda: any(a["signal"] == "acknowledged" for a in overview(nurse)["bed-3"]["alarms"]))

    # The broker stops: every bed says so and keeps alarming by itself.
    mosquitto.stop()
    for server in beds.values():
        wait_for(lambda s=server: any(a["key"] == "service:central" for a in bed_alarms(s)))
    door(beds["bed-5"], True)
    wait_for(lambda: any(a["key"].endswith("door_open") for a in bed_alarms(beds["bed-5"])))

    # It comes back: the backlog arrives, each event once, none missing.
    mosquitto.start()
    for server in beds.values():
        wait_for(lambda s=server: s.app.state.runtime.uplink.queued == 0, timeout=20)
    wait_for(
        lambda: any(a["key"].endswith("door_open") for a in overview(nurse)["bed-5"]["alarms"]),
        timeout=20,
    )
    engine = make_engine(postgres)

    def stored(bed: str) -> list[int]:
        with Session(engine) as session:
            return list(
                session.scalars(
                    select(EventRow.seq).where(EventRow.bed == bed).order_by(EventRow.seq)
                )
            )

    try:
        for bed, server in beds.items():
            sent = server.app.state.runtime.uplink.sent
            seqs = wait_for(lambda b=bed, n=sent: (s := stored(b)) and len(s) >= n and s)
            assert seqs == list(range(1, len(seqs) + 1)), bed  # no gap, no duplicate
        with Session(engine) as session:
            total = session.scalar(select(func.count()).select_from(EventRow))
        assert total and total >= 8 * 2  # at least each bed's link lost + restored
    finally:
        engine.dispose()

    # A bedside unit killed outright: offline at the central within 10 s (its last will).
    wait_for(lambda: overview(nurse)[SEPARATE]["online"], timeout=20)
    os.kill(separate_bed.pid, signal.SIGKILL)
    wait_for(lambda: not overview(nurse)[SEPARATE]["online"], timeout=10)
