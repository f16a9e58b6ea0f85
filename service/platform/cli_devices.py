"""``vigil devices``: list USB-serial adapters; write the udev rule that names one.

Wiring (service/cli.py)::

    from service.platform import cli_devices
    cli_devices.add_parser(sub)                  # in build_parser(), after the other commands
    ... "devices": cli_devices.run,             # in main()'s handler table

Examples::

    vigil devices                                     # table: tty, vendor:product, serial, ...
    vigil devices --json                              # one JSON object per adapter
    sudo vigil devices --write-rule monitor --serial A10KXYZ1
    sudo vigil devices --write-rule pump --usb-path 1-1.3     # adapter without a serial number
    vigil devices --write-rule pump --serial A10KXYZ2 --dry-run   # print the line only
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from service.platform.devices import (
    DEFAULT_RULES_FILE,
    SerialAdapter,
    list_adapters,
    render_rule,
    rule_for,
    write_rule,
)

RELOAD_HINT = "udevadm control --reload-rules && udevadm trigger --subsystem-match=tty"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``devices`` sub-command to the ``vigil`` parser."""
    parser = subparsers.add_parser(
        "devices",
        help="list USB-serial adapters; write udev rules for stable names",
        description=(
            "Without options: list the USB-serial adapters attached now. With --write-rule: "
            "name one adapter /dev/vigil/ROLE through a udev rule (run as root)."
        ),
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per adapter")
    parser.add_argument(
        "--write-rule", metavar="ROLE", help="the role to name (monitor, pump): /dev/vigil/ROLE"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--serial", help="the adapter's USB serial number (from the list)")
    which.add_argument(
        "--usb-path", metavar="PATH", help="the USB port (e.g. 1-1.3), for adapters without serial"
    )
    parser.add_argument("--interface", metavar="NN", help="port of a multi-port chip (00, 01, ...)")
    parser.add_argument(
        "--rules-file",
        type=Path,
        default=DEFAULT_RULES_FILE,
        help=f"udev rules file to update (default {DEFAULT_RULES_FILE})",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the rule, write nothing")
    parser.add_argument("--sysfs", type=Path, default=Path("/sys"), help=argparse.SUPPRESS)
    parser.add_argument("--dev", type=Path, default=Path("/dev"), help=argparse.SUPPRESS)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``vigil devices``; returns the exit status (0 ok, 1 failed, 2 usage)."""
    out = out or sys.stdout
    err = err or sys.stderr
    adapters = list_adapters(args.sysfs, args.dev)
    if args.write_rule is None:
        if args.serial or args.usb_path or args.interface:
            print("vigil devices: --serial/--usb-path need --write-rule ROLE", file=err)
            return 2
        _list(adapters, args.json, out)
        return 0
    try:
        line = _rule(args, adapters, err)
    except ValueError as exc:
        print(f"vigil devices: {exc}", file=err)
        return 2
    if args.dry_run:
        print(line, file=out)
        return 0
    try:
        action = write_rule(args.rules_file, args.write_rule, line)
    except PermissionError:
        print(f"vigil devices: cannot write {args.rules_file}: run as root (sudo)", file=err)
        return 1
    except (OSError, ValueError) as exc:
        print(f"vigil devices: {exc}", file=err)
        return 1
    print(f"{action} the rule for /dev/vigil/{args.write_rule} in {args.rules_file}:", file=out)
    print(f"  {line}", file=out)
    print(f"now run: {RELOAD_HINT}", file=out)
    print(
        f"then check: ls -l /dev/vigil/   (the settings use /dev/vigil/{args.write_rule})", file=out
    )
    return 0


def _rule(args: argparse.Namespace, adapters: list[SerialAdapter], err: TextIO) -> str:
    role: str = args.write_rule
    if not args.serial and not args.usb_path:
        raise ValueError(
            "--write-rule needs --serial SERIAL or --usb-path PATH (see `vigil devices`)"
        )
    if args.serial:
        found = [a for a in adapters if a.serial == args.serial]
    else:
        found = [a for a in adapters if a.usb_path == args.usb_path]
    if args.interface is not None:
        found = [a for a in found if a.interface == args.interface]
    if not found:
        print(
            "vigil devices: warning: no attached adapter matches; the rule matches on "
            + ("the serial number" if args.serial else "the USB port")
            + " only",
            file=err,
        )
        return render_rule(
            role, serial=args.serial, usb_path=args.usb_path, interface=args.interface
        )
    if len(found) > 1:
        ports = ", ".join(f"{a.tty} (interface {a.interface})" for a in found)
        raise ValueError(f"several ttys match ({ports}): choose one with --interface NN")
    adapter = found[0]
    siblings = [a for a in adapters if a.usb_path == adapter.usb_path]
    return rule_for(
        adapter, role, by_port=args.usb_path is not None, multi_port=len(siblings) > 1 or None
    )


def _list(adapters: list[SerialAdapter], as_json: bool, out: TextIO) -> None:
    if as_json:
        for adapter in adapters:
            record = asdict(adapter)
            record.update(dev_path=adapter.dev_path, chip=adapter.chip, roles=adapter.roles)
            print(json.dumps(record), file=out)
        return
    if not adapters:
        print(
            "no USB-serial adapters found. Plug one in and look at `dmesg | tail` "
            "(it should say ttyUSB0 or ttyACM0).",
            file=out,
        )
        return
    rows = [("TTY", "VID:PID", "SERIAL", "CHIP / PRODUCT", "USB PATH", "NAMED")]
    for a in adapters:
        rows.append(
            (
                a.tty,
                f"{a.vendor_id}:{a.product_id}",
                a.serial or "(none)",
                a.chip or " ".join(filter(None, (a.manufacturer, a.product))) or "?",
                a.usb_path + (f" if{a.interface}" if a.interface not in (None, "00") else ""),
                ", ".join(f"/dev/vigil/{r}" for r in a.roles) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out
        )
    print(
        "\nname one: sudo vigil devices --write-rule monitor --serial SERIAL"
        "  (no serial: --usb-path USB_PATH)",
        file=out,
    )
