"""Shared fixtures (helpers live in tests/support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings
from simulator.runner import Simulator, make_device
from simulator.scenario import ConstantScenario
from tests.support import RunningServer, RunningSimulator, start_server


@pytest.fixture
def simulated(tmp_path: Path) -> Iterator[Callable[..., RunningSimulator]]:
    """Factory: ``simulated(monitor="masimo-ascii", pump=None)`` runs emulators on ptys."""
    running: list[RunningSimulator] = []

    def start(monitor: str = "masimo-ascii", pump: str | None = None) -> RunningSimulator:
        link_dir = tmp_path / "dev"
        link_dir.mkdir(exist_ok=True)
        devices = {"monitor": make_device("monitor", monitor, link_dir)}
        if pump:
            devices["pump"] = make_device("pump", pump, link_dir)
        scenario = ConstantScenario()
        sim = RunningSimulator(Simulator(scenario, list(devices.values())), devices, scenario)
        sim.start()
        running.append(sim)
        return sim

    yield start
    for sim in running:
        sim.stop()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Factory: ``serve(devices=[...])`` runs a real uvicorn server on a free port."""
    servers: list[RunningServer] = []

    def start(
        devices: list[str] | None = None, port: int | None = None, **kw: Any
    ) -> RunningServer:
        settings = Settings(devices=devices or [], data_dir=tmp_path / "data", **kw)
        running = start_server(settings, port)
        servers.append(running)
        return running

    yield start
    for running in servers:
        running.stop()
