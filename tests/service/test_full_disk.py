"""A really full disk: the data directory on a 4 MB tmpfs filled to the last byte.

The storage failure must become a technical alarm while the physiological alarms keep working,
a nurse's action that cannot be stored must say so (and not pretend), and once space is freed
every reading kept in memory meanwhile reaches the database.

Needs root (mount); skipped elsewhere with the reason.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from drivers.readings import Metric, VitalReading
from service.alarms.model import TabletCount
from service.persistence.db import make_engine
from service.persistence.models import ReadingRow
from service.settings import Settings
from tests.support import start_server, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem has no byte left."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_a_technical_alarm_and_loses_nothing(small_disk: Path) -> None:
    server = start_server(Settings(data_dir=small_disk / "data"))
    try:
        runtime = server.app.state.runtime
        nurse = server.login("nurse")
        server.publish(TabletCount(1, runtime.clock.utcnow()))
        # The database exists and has its tables; now the disk fills up.
        filler = fill(small_disk)
        assert os.statvfs(small_disk).f_bavail == 0

        sent = 0
        for i in range(40):
            now = runtime.clock.utcnow()
            server.publish(VitalReading("monitor", Metric.HR, 70.0 + i % 5, now))
            sent += 1
        storage = wait_for(
            lambda: [
                a for a in nurse.get("/api/v1/alarms").json() if a["key"] == "service:storage"
            ],
            timeout=10,
        )[0]
        assert storage["kind"] == "technical" and "storage failing" in storage["message"]

        # Alarming does not wait for the disk: a severe BP is still a HIGH alarm at once.
        now = runtime.clock.utcnow()
        server.publish(
            VitalReading("monitor", Metric.NIBP_SYS, 205.0, now),
            VitalReading("monitor", Metric.NIBP_DIA, 125.0, now),
        )
        bp = wait_for(
            lambda: [
                a for a in nurse.get("/api/v1/alarms").json() if a["key"].startswith("bp_high")
            ]
        )[0]
        assert bp["priority"] == "high"
        # A nurse's action that must be on disk before its answer is refused, not faked.
        new = {"patient": "P-1", "weight_kg": 70, "dose_mg_per_kg": 0.5,
               "concentration_mg_ml": 1, "duration_min": 40}  # fmt: skip
        refused = nurse.post("/api/v1/sessions", json=new)
        assert refused.status_code == 503, refused.text
        assert "cannot write to its disk" in refused.json()["detail"]
        assert runtime.infusions.current is None

        # Space again: the alarm ends by itself and every queued reading is written.
        filler.unlink()
        wait_for(
            lambda: (
                not any(
                    a["key"] == "service:storage" and a["condition"] == "active"
                    for a in nurse.get("/api/v1/alarms").json()
                )
            ),
            timeout=15,
        )
        engine = make_engine(runtime.settings.database_url)

        def stored() -> int:
            with Session(engine) as s:
                return int(
                    s.scalar(
                        select(func.count())
                        .select_from(ReadingRow)
                        .where(ReadingRow.metric == "hr")
                    )
                    or 0
                )

        wait_for(lambda: stored() == sent, timeout=15)
        engine.dispose()
        assert nurse.post("/api/v1/sessions", json=new).status_code == 200
    finally:
        server.stop()
