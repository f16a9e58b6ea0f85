"""``python -m simulator`` (also ``vigil simulate``): emulated devices on pseudo-terminals.

Each bed plays a scenario (``--scenario``, default typical-responder; ``constant`` keeps the
walking skeleton's steady values) from its own seed. One line per device is printed on stdout,
``<name> <driver>: <path>`` (prefixed with ``bed-N`` when ``--beds`` is given); logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from simulator.devices import catalogue
from simulator.runner import Scenario, SimulatedDevice, Simulator, make_device
from simulator.scenario import ConstantScenario, FaultWindow, KetamineScenario
from simulator.scenario_files import ScenarioError, list_scenarios, load_scenario

log = logging.getLogger("simulator")

DEFAULT_SCENARIO = "typical-responder"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil simulate",
        description="Emulate a monitor and a pump, byte for byte, on pseudo-terminals.",
    )
    parser.add_argument("--monitor", default="masimo-ascii", help="monitor driver to emulate")
    parser.add_argument("--pump", default="none", help="pump driver to emulate, or 'none'")
    parser.add_argument(
        "--link-dir",
        type=Path,
        default=None,
        help="directory for stable device links (DIR/monitor, DIR/pump; with --beds "
        "DIR/bed-N/monitor, DIR/bed-N/pump), like udev names",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument(
        "--scenario",
        default=None,
        metavar="NAME|PATH",
        help=f"scenario name or TOML file (default {DEFAULT_SCENARIO}; 'constant' for steady "
        "values; --spo2/--pulse alone imply constant); see --list-scenarios",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed (bed N uses SEED + N - 1); default 1"
    )
    parser.add_argument(
        "--beds", type=int, default=None, help="run N independent beds, each with its own seed"
    )
    parser.add_argument(
        "--list-scenarios", action="store_true", help="print the scenarios and exit"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="FAULT@T[+D][:DEVICE]",
        help="e.g. unplug@30+20 or garbage@10+5:monitor (repeatable; added to the scenario's)",
    )
    parser.add_argument("--spo2", type=float, default=None, help="constant scenario: SpO2 (98)")
    parser.add_argument("--pulse", type=float, default=None, help="constant scenario: pulse (72)")
    parser.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    return parser


def _scenario(args: argparse.Namespace, seed: int, faults: list[FaultWindow]) -> Scenario:
    constant_values = args.spo2 is not None or args.pulse is not None
    name = args.scenario or ("constant" if constant_values else DEFAULT_SCENARIO)
    scenario = load_scenario(name, seed)
    if isinstance(scenario, ConstantScenario):
        scenario.faults.extend(faults)
        scenario.vitals.spo2 = 98.0 if args.spo2 is None else args.spo2
        pulse = 72.0 if args.pulse is None else args.pulse
        scenario.vitals.pulse_rate = scenario.vitals.hr = pulse
        return scenario
    if constant_values:
        raise ScenarioError("--spo2 and --pulse only apply to --scenario constant")
    assert isinstance(scenario, KetamineScenario)
    scenario.faults.extend(faults)
    return scenario


def _devices(args: argparse.Namespace, link_dir: Path | None) -> list[SimulatedDevice]:
    devices: list[SimulatedDevice] = []
    try:
        for role, driver in (("monitor", args.monitor), ("pump", args.pump)):
            if driver == "none":
                continue
            if role == "monitor" and driver not in catalogue.MONITORS:
                raise ValueError(f"{driver!r} is not a monitor; monitors: {catalogue.MONITORS}")
            if role == "pump" and driver not in catalogue.PUMPS:
                raise ValueError(f"{driver!r} is not a pump; pumps: {catalogue.PUMPS}")
            devices.append(make_device(role, driver, link_dir))
    except BaseException:
        for device in devices:
            device.link.close()
        raise
    return devices


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_scenarios:
        for name, description in list_scenarios():
            print(f"{name:24s} {description}")
        return 0
    if args.beds is not None and args.beds < 1:
        parser.error("--beds must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s simulator %(message)s")
    beds = [None] if args.beds is None else [f"bed-{i}" for i in range(1, args.beds + 1)]
    simulators: list[Simulator] = []
    try:
        faults = [FaultWindow.parse(text) for text in args.fault]
        for index, bed in enumerate(beds):
            scenario = _scenario(args, args.seed + index, faults)
            link_dir = args.link_dir
            if link_dir is not None:
                link_dir = link_dir / bed if bed else link_dir
                link_dir.mkdir(parents=True, exist_ok=True)
            devices = _devices(args, link_dir)
            simulators.append(Simulator(scenario, devices, speed=args.speed))
            log.info(
                "%sscenario %s, seed %d",
                f"{bed}: " if bed else "",
                scenario.name,
                args.seed + index,
            )
    except (ValueError, ImportError, OSError) as exc:
        print(f"vigil simulate: {exc}", file=sys.stderr)
        for simulator in simulators:
            simulator.close()
        return 2
    for bed, simulator in zip(beds, simulators, strict=True):
        for device in simulator.devices:
            prefix = f"{bed} " if bed else ""
            print(f"{prefix}{device.name} {device.emulator.driver}: {device.link.path}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(simulators, args.duration))
    return 0


async def _run(simulators: list[Simulator], duration: float | None) -> None:
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(simulator.run()) for simulator in simulators]

    def stop() -> None:
        for task in tasks:
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    if duration is not None:
        loop.call_later(duration, stop)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
