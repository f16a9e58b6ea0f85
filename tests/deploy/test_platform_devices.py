"""service.platform.devices and `vigil devices` against a fake sysfs tree laid out like the
kernel's: /sys/class/tty/<tty> -> ../../devices/.../<usb>/<usb>:1.0/[ttyUSB0/]tty/<tty>."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
from pathlib import Path

import pytest

from service.platform import cli_devices
from service.platform.devices import list_adapters, render_rule, rule_for, write_rule
from tests.deploy.conftest import DEPLOY

USB_BUS = "devices/pci0000:00/0000:00:14.0/usb1"


def link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(os.path.relpath(target, path.parent))


def add_usb_tty(
    sys: Path,
    tty: str,
    usb_path: str,
    vid: str,
    pid: str,
    *,
    serial: str | None = None,
    manufacturer: str | None = None,
    product: str | None = None,
    interface: str = "00",
    acm: bool = False,
    driver: str = "ftdi_sio",
) -> None:
    usb = sys / USB_BUS / usb_path
    usb.mkdir(parents=True, exist_ok=True)
    attrs = {"idVendor": vid, "idProduct": pid, "serial": serial}
    attrs |= {"manufacturer": manufacturer, "product": product}
    for name, value in attrs.items():
        if value is not None:
            (usb / name).write_text(value + "\n")
    intf = usb / f"{usb_path}:1.{int(interface)}"
    intf.mkdir(exist_ok=True)
    (intf / "bInterfaceNumber").write_text(interface + "\n")
    port = intf if acm else intf / tty  # usb-serial has a port device between
    classdev = port / "tty" / tty
    classdev.mkdir(parents=True)
    link(classdev / "device", port)
    bus = "usb" if acm else "usb-serial"
    (sys / "bus" / bus / "drivers" / driver).mkdir(parents=True, exist_ok=True)
    link(port / "driver", sys / "bus" / bus / "drivers" / driver)
    link(sys / "class/tty" / tty, classdev)


@pytest.fixture
def fake_sys(tmp_path: Path) -> Path:
    sys = tmp_path / "sys"
    # A USB root hub has idVendor too: it must never be mistaken for an adapter.
    (sys / USB_BUS).mkdir(parents=True)
    (sys / USB_BUS / "idVendor").write_text("1d6b\n")
    add_usb_tty(sys, "ttyUSB0", "1-1.2", "0403", "6001", serial="A10KXYZ1",
                manufacturer="FTDI", product="FT232R USB UART")  # fmt: skip
    add_usb_tty(sys, "ttyUSB1", "1-1.3", "067b", "2303", manufacturer="Prolific Technology Inc.",
                product="USB-Serial Controller", driver="pl2303")  # fmt: skip
    add_usb_tty(sys, "ttyACM0", "1-1.4", "2341", "0043", serial="75833353035351F0B0A1",
                acm=True, driver="cdc_acm")  # fmt: skip
    # A two-port FT2232: same serial, interfaces 00 and 01.
    add_usb_tty(sys, "ttyUSB2", "1-1.1", "0403", "6010", serial="FT2PORT", interface="00")
    add_usb_tty(sys, "ttyUSB3", "1-1.1", "0403", "6010", serial="FT2PORT", interface="01")
    # A platform UART and a virtual console: not USB adapters.
    uart = sys / "devices/platform/serial8250"
    (uart / "tty/ttyS0").mkdir(parents=True)
    link(uart / "tty/ttyS0/device", uart)
    link(sys / "class/tty/ttyS0", uart / "tty/ttyS0")
    (sys / "devices/virtual/tty/tty1").mkdir(parents=True)
    link(sys / "class/tty/tty1", sys / "devices/virtual/tty/tty1")
    return sys


@pytest.fixture
def fake_dev(tmp_path: Path) -> Path:
    dev = tmp_path / "dev"
    (dev / "vigil").mkdir(parents=True)
    (dev / "vigil/monitor").symlink_to("../ttyUSB0")
    (dev / "serial/by-id").mkdir(parents=True)
    (dev / "serial/by-id/usb-FTDI_FT232R_USB_UART_A10KXYZ1-if00-port0").symlink_to("../../ttyUSB0")
    return dev


def test_lists_usb_adapters_only_with_their_attributes(fake_sys: Path, fake_dev: Path) -> None:
    adapters = {a.tty: a for a in list_adapters(fake_sys, fake_dev)}
    assert list(adapters) == ["ttyACM0", "ttyUSB0", "ttyUSB1", "ttyUSB2", "ttyUSB3"]
    ftdi = adapters["ttyUSB0"]
    assert (ftdi.vendor_id, ftdi.product_id, ftdi.serial) == ("0403", "6001", "A10KXYZ1")
    assert (ftdi.manufacturer, ftdi.product) == ("FTDI", "FT232R USB UART")
    assert (ftdi.usb_path, ftdi.interface, ftdi.driver) == ("1-1.2", "00", "ftdi_sio")
    assert ftdi.chip == "FTDI FT232R" and ftdi.dev_path == "/dev/ttyUSB0"
    assert ftdi.roles == ("monitor",)
    assert "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KXYZ1-if00-port0" in ftdi.links
    prolific = adapters["ttyUSB1"]
    assert prolific.serial is None and prolific.chip == "Prolific PL2303"
    assert prolific.driver == "pl2303" and prolific.roles == ()
    acm = adapters["ttyACM0"]
    assert (acm.usb_path, acm.serial, acm.driver) == ("1-1.4", "75833353035351F0B0A1", "cdc_acm")
    assert adapters["ttyUSB3"].interface == "01"


def test_no_sysfs_means_no_adapters(tmp_path: Path) -> None:
    assert list_adapters(tmp_path / "nothing", tmp_path) == []


def test_rule_by_serial_number(fake_sys: Path) -> None:
    ftdi = next(a for a in list_adapters(fake_sys) if a.tty == "ttyUSB0")
    assert rule_for(ftdi, "monitor") == (
        'SUBSYSTEM=="tty", ATTRS{idVendor}=="0403", ATTRS{idProduct}=="6001", '
        'ATTRS{serial}=="A10KXYZ1", SYMLINK+="vigil/monitor", GROUP="dialout", MODE="0660"'
    )


def test_rule_by_port_for_an_adapter_without_serial(fake_sys: Path) -> None:
    prolific = next(a for a in list_adapters(fake_sys) if a.tty == "ttyUSB1")
    assert rule_for(prolific, "pump") == (
        'SUBSYSTEM=="tty", KERNELS=="1-1.3", ATTRS{idVendor}=="067b", '
        'ATTRS{idProduct}=="2303", SYMLINK+="vigil/pump", GROUP="dialout", MODE="0660"'
    )


def test_rule_for_a_multi_port_chip_names_the_interface(fake_sys: Path) -> None:
    second = next(a for a in list_adapters(fake_sys) if a.tty == "ttyUSB3")
    assert 'ATTRS{serial}=="FT2PORT", ENV{ID_USB_INTERFACE_NUM}=="01", ' in rule_for(second, "pump")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"serial": 'A1"; RUN+="/bin/sh'}, "cannot be matched safely"),
        ({"serial": "A*"}, "cannot be matched safely"),
        ({"serial": "A1", "usb_path": "1-1"}, "exactly one"),
        ({}, "exactly one"),
        ({"usb_path": "../1"}, "is not like 1-1.2"),
        ({"serial": "A1", "vendor_id": "xyz"}, "hexadecimal"),
    ],
)
def test_render_rule_refuses_unsafe_values(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        render_rule("monitor", **kwargs)


def test_render_rule_refuses_bad_roles() -> None:
    with pytest.raises(ValueError, match="role"):
        render_rule("../etc", serial="A1")


UDEV_KEY = re.compile(
    r'^(SUBSYSTEM|KERNELS|ATTRS\{\w+\}|ENV\{\w+\})=="[^"*?\[\]]*"$'
    r'|^(SYMLINK\+|GROUP|MODE)="[^"]*"$'
)


def assert_udev_syntax(text: str) -> None:
    """Every rule: comma-separated KEY=="value" matches then assignments (udev(7) syntax)."""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keys = [k.strip() for k in line.split(", ")]
        assert all(UDEV_KEY.match(k) for k in keys), line
        assert keys[0] == 'SUBSYSTEM=="tty"' and keys[-1] == 'MODE="0660"', line


def test_the_shipped_template_is_valid_and_has_both_roles() -> None:
    text = (DEPLOY / "99-vigil.rules").read_text()
    assert_udev_syntax(text)
    assert 'SYMLINK+="vigil/monitor"' in text and 'SYMLINK+="vigil/pump"' in text


def test_write_rule_replaces_the_role_and_keeps_the_rest(tmp_path: Path) -> None:
    rules = tmp_path / "99-vigil.rules"
    rules.write_text((DEPLOY / "99-vigil.rules").read_text())
    line = render_rule("monitor", serial="A10KXYZ1", vendor_id="0403", product_id="6001")
    assert write_rule(rules, "monitor", line) == "replaced"
    text = rules.read_text()
    assert line in text and "REPLACE-WITH-MONITOR" not in text
    assert "REPLACE-WITH-PUMP" in text and text.startswith("# Vigil")
    assert write_rule(rules, "monitor", line) == "replaced"
    assert rules.read_text() == text  # idempotent
    assert write_rule(rules, "spare", render_rule("spare", serial="B2")) == "added"
    assert_udev_syntax(rules.read_text())
    assert oct(rules.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["99-vigil.rules"]  # no temp file left


def test_write_rule_refuses_one_adapter_for_two_roles(tmp_path: Path) -> None:
    rules = tmp_path / "99-vigil.rules"
    write_rule(rules, "monitor", render_rule("monitor", serial="A1"))
    with pytest.raises(ValueError, match="already vigil/monitor"):
        write_rule(rules, "pump", render_rule("pump", serial="A1"))


# -- the command ------------------------------------------------------------------------------


def cli(fake_sys: Path, fake_dev: Path, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="vigil")
    cli_devices.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["devices", "--sysfs", str(fake_sys), "--dev", str(fake_dev), *argv])
    out, err = io.StringIO(), io.StringIO()
    status = cli_devices.run(args, out, err)
    return status, out.getvalue(), err.getvalue()


def test_cli_lists_a_table(fake_sys: Path, fake_dev: Path) -> None:
    status, out, _ = cli(fake_sys, fake_dev)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TTY", "VID:PID", "SERIAL", "CHIP", "/", "PRODUCT", "USB", "PATH",
                                "NAMED"]  # fmt: skip
    usb0 = next(line for line in lines if line.startswith("ttyUSB0"))
    assert "0403:6001" in usb0 and "A10KXYZ1" in usb0 and "/dev/vigil/monitor" in usb0
    assert "(none)" in next(line for line in lines if line.startswith("ttyUSB1"))


def test_cli_json(fake_sys: Path, fake_dev: Path) -> None:
    status, out, _ = cli(fake_sys, fake_dev, "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and len(records) == 5
    assert records[1]["tty"] == "ttyUSB0" and records[1]["roles"] == ["monitor"]


def test_cli_with_nothing_attached(tmp_path: Path) -> None:
    status, out, _ = cli(tmp_path / "sys", tmp_path / "dev")
    assert status == 0 and "no USB-serial adapters found" in out


def test_cli_writes_a_rule(fake_sys: Path, fake_dev: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.d/99-vigil.rules"
    status, out, _ = cli(fake_sys, fake_dev, "--write-rule", "pump", "--serial", "A10KXYZ1",
                         "--rules-file", str(rules))  # fmt: skip
    assert status == 0, out
    assert 'ATTRS{serial}=="A10KXYZ1", SYMLINK+="vigil/pump"' in rules.read_text()
    assert "udevadm control --reload-rules" in out


def test_cli_by_usb_path_and_dry_run(fake_sys: Path, fake_dev: Path, tmp_path: Path) -> None:
    rules = tmp_path / "99-vigil.rules"
    status, out, _ = cli(fake_sys, fake_dev, "--write-rule", "pump", "--usb-path", "1-1.3",
                         "--rules-file", str(rules), "--dry-run")  # fmt: skip
    assert status == 0 and out.startswith('SUBSYSTEM=="tty", KERNELS=="1-1.3"')
    assert not rules.exists()


def test_cli_multi_port_needs_the_interface(fake_sys: Path, fake_dev: Path) -> None:
    status, _, err = cli(fake_sys, fake_dev, "--write-rule", "pump", "--serial", "FT2PORT",
                         "--dry-run")  # fmt: skip
    assert status == 2 and "--interface" in err
    status, out, _ = cli(fake_sys, fake_dev, "--write-rule", "pump", "--serial", "FT2PORT",
                         "--interface", "01", "--dry-run")  # fmt: skip
    assert status == 0 and 'ENV{ID_USB_INTERFACE_NUM}=="01"' in out


def test_cli_adapter_not_attached_warns_but_writes(fake_sys: Path, fake_dev: Path) -> None:
    status, out, err = cli(fake_sys, fake_dev, "--write-rule", "monitor", "--serial", "ZZZ",
                           "--dry-run")  # fmt: skip
    assert status == 0 and "no attached adapter matches" in err
    assert out.strip() == render_rule("monitor", serial="ZZZ")


@pytest.mark.parametrize(
    "argv",
    [
        ["--write-rule", "monitor"],
        ["--serial", "A10KXYZ1"],
        ["--write-rule", "Bad Role", "--serial", "A1"],
    ],
)
def test_cli_usage_errors(fake_sys: Path, fake_dev: Path, argv: list[str]) -> None:
    status, _, err = cli(fake_sys, fake_dev, *argv)
    assert status == 2 and err.startswith("vigil devices:")


def test_cli_unwritable_rules_file(fake_sys: Path, fake_dev: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # a file where the rules directory should be
    status, _, err = cli(fake_sys, fake_dev, "--write-rule", "monitor", "--serial", "A10KXYZ1",
                         "--rules-file", str(tmp_path / "file/x.rules"))  # fmt: skip
    assert status == 1 and "vigil devices:" in err
