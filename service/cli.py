"""The ``vigil`` command: serve, demo, simulate, replay, db, users, alarms, drivers."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drivers.errors import DriverUsageError
from drivers.registry import DRIVERS, driver_names
from service.platform import cli_devices

log = logging.getLogger("vigil")


def _settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    parser.add_argument(
        "--device",
        action="append",
        default=None,
        metavar="DRIVER=URL",
        help="a device to read, e.g. masimo-ascii=/dev/ttyUSB0 (repeatable)",
    )
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in --data-dir)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--bed", default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Vigil bedside infusion monitor")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bedside service")
    _settings_args(serve)

    demo = sub.add_parser("demo", help="run the service with emulated devices")
    demo.add_argument("--monitor", default="ge-dri", help="emulated monitor driver")
    demo.add_argument("--pump", default="bbraun-bcc", help="emulated pump driver, or 'none'")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--data-dir", type=Path, default=Path("data/demo"))

    simulate = sub.add_parser(
        "simulate", help="emulate devices on ptys (see 'vigil simulate --help')", add_help=False
    )
    simulate.add_argument("args", nargs=argparse.REMAINDER)

    replay = sub.add_parser("replay", help="decode a recorded byte stream to JSON readings")
    replay.add_argument("--driver", required=True, choices=driver_names())
    replay.add_argument("file", type=Path)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    for name in ("upgrade", "downgrade"):
        p = db_sub.add_parser(name)
        p.add_argument("revision", nargs="?", default="head" if name == "upgrade" else "-1")
        p.add_argument("--db", default=None)
        p.add_argument("--data-dir", type=Path, default=None)
        p.add_argument("--config", type=Path, default=None)
    backup = db_sub.add_parser("backup", help="online backup of the SQLite database")
    backup.add_argument("target", type=Path, help="backup file to write")
    backup.add_argument("--db", default=None)
    backup.add_argument("--data-dir", type=Path, default=None)
    backup.add_argument("--config", type=Path, default=None)

    users = sub.add_parser("users", help="manage users (sitter, nurse, admin)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add a user; asks for the PIN")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["sitter", "nurse", "admin"])
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin")
    listing = users_sub.add_parser("list", help="list users")
    disable = users_sub.add_parser("disable", help="disable a user")
    disable.add_argument("username")
    enable = users_sub.add_parser("enable", help="enable a user again (clears a lock-out)")
    enable.add_argument("username")
    for p in (add, listing, disable, enable):
        p.add_argument("--db", default=None)
        p.add_argument("--data-dir", type=Path, default=None)
        p.add_argument("--config", type=Path, default=None)

    alarms = sub.add_parser("alarms", help="alarm tools (docs/alarms.md)")
    alarms_sub = alarms.add_subparsers(dest="alarms_command", required=True)
    whatif = alarms_sub.add_parser(
        "what-if", help="what a limit change would do: alarms gained and lost, per rule"
    )
    whatif.add_argument("--limits", type=Path, required=True, help="TOML with the proposed limits")
    source = whatif.add_mutually_exclusive_group()
    source.add_argument("--since", default="30d", help="recorded readings of the last N d/h/min")
    source.add_argument("--session", type=int, default=None, help="one recorded infusion session")
    source.add_argument(
        "--cohort", type=int, default=None, metavar="N", help="N simulated sessions (checkout)"
    )
    whatif.add_argument("--seed", type=int, default=1, help="cohort seed")
    whatif.add_argument("--csv", action="store_true", help="one CSV line per rule and priority")
    whatif.add_argument("--db", default=None)
    whatif.add_argument("--data-dir", type=Path, default=None)
    whatif.add_argument("--config", type=Path, default=None)

    sub.add_parser("drivers", help="list the device drivers")
    cli_devices.add_parser(sub)

    central = sub.add_parser("central", help="run the clinic central station (docs/central.md)")
    central.add_argument("--config", type=Path, default=None, help="TOML settings file")
    central.add_argument("--clinic", default=None)
    central.add_argument("--broker-host", default=None)
    central.add_argument("--broker-port", type=int, default=None)
    central.add_argument("--ca-file", type=Path, default=None)
    central.add_argument("--password-file", type=Path, default=None)
    central.add_argument("--db", default=None, help="database URL (default: SQLite in --data-dir)")
    central.add_argument("--data-dir", type=Path, default=None)
    central.add_argument("--host", default=None)
    central.add_argument("--port", type=int, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("VIGIL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        handler = {
            "serve": _serve,
            "demo": _demo,
            "simulate": _simulate,
            "replay": _replay,
            "db": _db,
            "drivers": _drivers,
            "users": _users,
            "devices": cli_devices.run,
            "central": _central,
            "alarms": _alarms,
        }[args.command]
        return handler(args)
    except (DriverUsageError, FileNotFoundError, ValueError) as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2


def _load(args: argparse.Namespace, **extra: Any) -> Any:
    from pydantic import ValidationError

    from service.settings import load_settings

    overrides = {
        "devices": getattr(args, "device", None),
        "db_url": getattr(args, "db", None),
        "data_dir": getattr(args, "data_dir", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "bed": getattr(args, "bed", None),
        **extra,
    }
    try:
        return load_settings(getattr(args, "config", None), **overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"bad settings: {problems}") from None


def _duration(text: str) -> timedelta:
    units = {"d": 86400.0, "h": 3600.0, "min": 60.0, "m": 60.0, "s": 1.0}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return timedelta(seconds=float(text[: -len(unit)]) * units[unit])
    raise ValueError(f"--since {text!r}: a duration such as 30d, 12h or 90min")


def _alarms(args: argparse.Namespace) -> int:
    """``vigil alarms what-if``: the limits in force (the configuration, then every change a
    nurse stored) against the proposal, on recorded readings or a simulated cohort."""
    from service.alarms.limits import Limits
    from service.persistence.db import make_engine, upgrade
    from service.persistence.limits import stored_limits
    from service.whatif import proposed_limits, render, what_if_recorded

    settings = _load(args)
    upgrade(settings.database_url)
    db = make_engine(settings.database_url)
    current = Limits().changed(settings.alarm_limits)
    for name, value in sorted(stored_limits(db).items()):
        with contextlib.suppress(ValueError):  # skipped by the service too (it says so)
            current = current.changed({name: value})
    proposed, changes = proposed_limits(args.limits, current)
    if args.cohort is not None:
        db.dispose()
        return _what_if_cohort(args, current, changes)
    if args.session is not None:
        from service.infusions.store import InfusionStore

        record = InfusionStore(db).get(args.session)
        if record is None:
            raise ValueError(f"no session {args.session}")
        start, end = record.window(datetime.now(UTC))
    else:
        end = datetime.now(UTC)
        start = end - _duration(args.since)
    rows, sessions = what_if_recorded(db, start, end, current, proposed)
    db.dispose()
    extra = [f"Recorded readings from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC."]
    print(render(rows, changes, current, sessions=sessions, as_csv=args.csv, extra=extra), end="")
    return 0


def _what_if_cohort(args: argparse.Namespace, current: Any, changes: dict[str, float]) -> int:
    """A simulated cohort needs the simulator and the benchmark, which only a source checkout
    has (the service never imports the simulator): run it as its own program."""
    from importlib import util

    checkout = Path(__file__).resolve().parents[1]
    if (
        util.find_spec("simulator") is None
        or not (checkout / "bench" / "whatif_cohort.py").is_file()
    ):
        print("vigil alarms what-if --cohort needs a source checkout (bench/ and simulator/)")
        return 2
    command = [
        sys.executable,
        "-m",
        "bench.whatif_cohort",
        "--sessions",
        str(args.cohort),
        "--seed",
        str(args.seed),
        "--current",
        json.dumps(current.as_dict()),
        "--proposed",
        json.dumps(changes),
    ] + (["--csv"] if args.csv else [])
    return subprocess.call(command, cwd=checkout)


def _run_server(settings: Any) -> int:
    import uvicorn

    from service.api.app import create_app

    app = create_app(settings)
    url = f"http://{settings.host}:{settings.port}/"
    devices = ", ".join(settings.devices) or "none (configure with --device DRIVER=URL)"
    print(f"Vigil {settings.bed}: {url}  devices: {devices}", flush=True)
    # No permessage-deflate: the tablets are on the clinic's LAN, and compressing every small
    # message cost more CPU than anything else per tablet (docs/benchmarks.md).
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        ws_per_message_deflate=False,
    )
    uvicorn.Server(config).run()
    return 0


def _serve(args: argparse.Namespace) -> int:
    return _run_server(_load(args))


def _demo(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir
    link_dir = data_dir / "dev"
    for stale in ("monitor", "pump"):
        (link_dir / stale).unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "simulator",
        "--monitor",
        args.monitor,
        "--pump",
        args.pump,
        "--link-dir",
        str(link_dir),
    ]
    simulator = subprocess.Popen(command)
    try:
        wanted = ["monitor"] + ([] if args.pump == "none" else ["pump"])
        deadline = time.monotonic() + 10
        while not all((link_dir / name).exists() for name in wanted):
            if simulator.poll() is not None or time.monotonic() > deadline:
                print("vigil demo: the simulator did not start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        devices = [f"monitor:{args.monitor}={link_dir / 'monitor'}"]
        if args.pump != "none":
            devices.append(f"pump:{args.pump}={link_dir / 'pump'}")
        settings = _load(args, devices=devices, bed="demo")
        _demo_users(settings)
        print(f"Vigil demo: open http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
        print("  demo users: sitter / PIN 1111, nurse / PIN 222222, admin / PIN 999999", flush=True)
        print(
            "  the emulated pump runs the typical-responder plan: 72 kg, 0.5 mg/kg, 0.5 mg/mL,"
            " 40 min (108 mL/h); cuff readings at 1 and 5 min, the infusion starts at 10 min",
            flush=True,
        )
        return _run_server(settings)
    finally:
        simulator.terminate()
        try:
            simulator.wait(timeout=5)
        except subprocess.TimeoutExpired:
            simulator.kill()


def _simulate(args: argparse.Namespace) -> int:
    from importlib import import_module

    # The simulator is a separate package the service never imports; run it as its own module.
    if import_module("importlib.util").find_spec("simulator") is None:
        print("vigil simulate: the simulator package is not installed", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "simulator", *args.args])


def _replay(args: argparse.Namespace) -> int:
    from drivers.replay import replay_file

    try:
        summary = replay_file(args.driver, args.file, print)
        sys.stdout.flush()
    except BrokenPipeError:  # `vigil replay ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(
        f"{args.file}: {summary.frames_ok} frames decoded, {summary.frames_rejected} rejected, "
        f"{summary.readings} readings, {summary.bytes} bytes",
        file=sys.stderr,
    )
    for reason, count in sorted(summary.reasons.items(), key=lambda kv: -kv[1]):
        print(f"  rejected {count}×: {reason}", file=sys.stderr)
    return 0


def _db(args: argparse.Namespace) -> int:
    from service.persistence.db import downgrade, upgrade

    settings = _load(args)
    if args.db_command == "backup":
        from sqlalchemy.engine import make_url

        from service.infusions.backup import BackupError, backup

        url = make_url(settings.database_url)
        if url.get_backend_name() != "sqlite" or not url.database:
            raise ValueError("vigil db backup works on a SQLite database file")
        try:
            written = backup(Path(url.database), args.target)
        except BackupError as exc:
            print(f"vigil: backup failed: {exc}", file=sys.stderr)
            return 1
        print(f"database {url.database} backed up to {written}")
        return 0
    if args.db_command == "upgrade":
        upgrade(settings.database_url, args.revision)
    else:
        downgrade(settings.database_url, args.revision)
    print(f"database {settings.database_url}: {args.db_command} {args.revision} done")
    return 0


def _drivers(args: argparse.Namespace) -> int:
    for name in driver_names():
        print(json.dumps({"driver": name, "description": DRIVERS[name][2]}))
    return 0


def _user_store(args: argparse.Namespace) -> Any:
    from service.auth.users import UserStore
    from service.persistence.db import make_engine, upgrade

    settings = _load(args)
    from central.db import is_central_database  # `vigil users ... --db` of a central station

    if is_central_database(settings.database_url):
        from central.db import upgrade as upgrade_central

        upgrade_central(settings.database_url)
    else:
        upgrade(settings.database_url)
    return UserStore(make_engine(settings.database_url))


def _users(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from service.auth.users import Role

    store = _user_store(args)
    if args.users_command == "list":
        for user in store.all():
            state = "active" if user.active else "disabled"
            print(f"{user.username:20} {user.role.value:7} {state:8} {user.display_name}")
        return 0
    if args.users_command in ("disable", "enable"):
        user = store.set_active(args.username, args.users_command == "enable")
        print(f"{user.username}: {'active' if user.active else 'disabled'}")
        return 0
    if args.pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        import getpass

        pin = getpass.getpass(f"PIN or password for {args.username}: ")
        if getpass.getpass("again: ") != pin:
            print("vigil: the two entries differ", file=sys.stderr)
            return 2
    user = store.add(args.username, args.name, Role(args.role), pin, datetime.now(UTC))
    print(f"added {user.username} ({user.role.value})")
    return 0


DEMO_USERS = (
    ("sitter", "Demo sitter", "sitter", "1111"),
    ("nurse", "Demo nurse", "nurse", "222222"),
    ("admin", "Demo admin", "admin", "999999"),
)


def _demo_users(settings: Any) -> None:
    """The demo's own users (only in the demo's data directory)."""
    from datetime import UTC, datetime

    from service.auth.users import Role, UserStore
    from service.persistence.db import make_engine, upgrade

    upgrade(settings.database_url)
    store = UserStore(make_engine(settings.database_url))
    existing = {u.username for u in store.all()}
    for username, name, role, pin in DEMO_USERS:
        if username not in existing:
            store.add(username, name, Role(role), pin, datetime.now(UTC))


def _central(args: argparse.Namespace) -> int:
    """The clinic central station: settings, database migration, then the web server."""
    import uvicorn
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from central.app import create_central_app
    from central.db import upgrade
    from central.settings import load_station_settings

    settings = load_station_settings(
        args.config,
        clinic=args.clinic,
        broker_host=args.broker_host,
        broker_port=args.broker_port,
        ca_file=args.ca_file,
        password_file=args.password_file,
        db_url=args.db,
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
    )
    try:
        upgrade(settings.database_url)
    except (SQLAlchemyError, OSError) as exc:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        print(f"vigil central: database {shown}: {reason}", file=sys.stderr)
        return 1
    app = create_central_app(settings)
    print(
        f"Vigil central station of {settings.clinic}: http://{settings.host}:{settings.port}/"
        f"  broker {settings.broker_host}:{settings.broker_port}",
        flush=True,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        ws_per_message_deflate=False,
    )
    uvicorn.Server(config).run()
    return 0
