"""``python -m simulator`` (also ``vigil simulate``): emulated devices on pseudo-terminals."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from simulator.devices import catalogue
from simulator.runner import SimulatedDevice, Simulator, make_device
from simulator.scenario import ConstantScenario, FaultWindow

log = logging.getLogger("simulator")


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
        help="directory for stable device links (DIR/monitor, DIR/pump), like udev names",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="FAULT@T[+D][:DEVICE]",
        help="e.g. unplug@30+20 or garbage@10+5:monitor (repeatable)",
    )
    parser.add_argument("--spo2", type=float, default=98.0)
    parser.add_argument("--pulse", type=float, default=72.0)
    parser.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s simulator %(message)s")
    try:
        faults = [FaultWindow.parse(text) for text in args.fault]
    except ValueError as exc:
        print(f"vigil simulate: {exc}", file=sys.stderr)
        return 2
    scenario = ConstantScenario(faults=faults)
    scenario.vitals.spo2 = args.spo2
    scenario.vitals.pulse_rate = scenario.vitals.hr = args.pulse
    if args.link_dir is not None:
        args.link_dir.mkdir(parents=True, exist_ok=True)
    devices: list[SimulatedDevice] = []
    try:
        for role, driver in (("monitor", args.monitor), ("pump", args.pump)):
            if driver == "none":
                continue
            if role == "monitor" and driver not in catalogue.MONITORS:
                raise ValueError(f"{driver!r} is not a monitor; monitors: {catalogue.MONITORS}")
            if role == "pump" and driver not in catalogue.PUMPS:
                raise ValueError(f"{driver!r} is not a pump; pumps: {catalogue.PUMPS}")
            devices.append(make_device(role, driver, args.link_dir))
    except (ValueError, ImportError) as exc:
        print(f"vigil simulate: {exc}", file=sys.stderr)
        for device in devices:
            device.link.close()
        return 2
    for device in devices:
        print(f"{device.name} {device.emulator.driver}: {device.link.path}", flush=True)
    simulator = Simulator(scenario, devices, speed=args.speed)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(simulator, args.duration))
    return 0


async def _run(simulator: Simulator, duration: float | None) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(simulator.run())
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    if duration is not None:
        loop.call_later(duration, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
