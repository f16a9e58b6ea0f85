"""USB-serial adapters, read from sysfs, and udev rules that give them stable names.

Usage::

    from service.platform.devices import list_adapters, rule_for, write_rule

    for adapter in list_adapters():                 # list_adapters(Path("/tmp/fake-sys")) in tests
        print(adapter.tty, adapter.vendor_id, adapter.product_id, adapter.serial)
    line = rule_for(adapter, "monitor")             # SUBSYSTEM=="tty", ... SYMLINK+="vigil/monitor"
    write_rule(Path("/etc/udev/rules.d/99-vigil.rules"), "monitor", line)

The kernel shows each tty in ``/sys/class/tty/<name>``; a USB adapter's ``device`` link leads to
the USB interface (``1-1.2:1.0``) and, one or two levels up, to the USB device (``1-1.2``) that
holds ``idVendor``, ``idProduct``, ``serial``, ``manufacturer`` and ``product``. udev's ``ATTRS``
keys match exactly those attributes, so a rule keyed on the serial number names the adapter the
same way whatever port it is plugged into (``/dev/vigil/monitor``, ``/dev/vigil/pump``).
The command-line front end is ``service.platform.cli_devices`` (``vigil devices``).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: (idVendor, idProduct) -> chip, for the adapters Vigil's documentation names and common others.
KNOWN_CHIPS: dict[tuple[str, str], str] = {
    ("0403", "6001"): "FTDI FT232R",
    ("0403", "6015"): "FTDI FT230X/FT231X",
    ("0403", "6010"): "FTDI FT2232 (2 ports)",
    ("0403", "6011"): "FTDI FT4232 (4 ports)",
    ("0403", "6014"): "FTDI FT232H",
    ("067b", "2303"): "Prolific PL2303",
    ("067b", "23a3"): "Prolific PL2303G",
    ("10c4", "ea60"): "Silicon Labs CP210x",
    ("1a86", "7523"): "QinHeng CH340 (no serial number)",
    ("1a86", "55d4"): "QinHeng CH9102",
}

DEFAULT_RULES_FILE = Path("/etc/udev/rules.d/99-vigil.rules")
ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
#: Characters safe inside a udev match value: no quotes, no glob (``*?[]|``), no escapes.
VALUE_RE = re.compile(r"^[A-Za-z0-9 ._:+/-]{1,126}$")
USB_PATH_RE = re.compile(r"^\d+-\d+(\.\d+)*$")

RULES_HEADER = """\
# Vigil: stable names for the bedside unit's serial adapters (written by `vigil devices`).
# After a change: udevadm control --reload-rules && udevadm trigger --subsystem-match=tty
"""


@dataclass(frozen=True, slots=True)
class SerialAdapter:
    """One tty of a USB-serial adapter as sysfs describes it."""

    tty: str  # ttyUSB0, ttyACM0
    vendor_id: str  # "0403"
    product_id: str  # "6001"
    serial: str | None  # None: the adapter has no serial number (match it by usb_path)
    manufacturer: str | None
    product: str | None
    usb_path: str  # kernel name of the USB device, i.e. the port: "1-1.2"
    interface: str | None = None  # bInterfaceNumber, "00"; matters for multi-port chips
    driver: str | None = None  # ftdi_sio, pl2303, cdc_acm, ...
    #: Other names for the same tty: /dev/serial/by-id/…, /dev/vigil/<role>.
    links: tuple[str, ...] = field(default=())

    @property
    def dev_path(self) -> str:
        return f"/dev/{self.tty}"

    @property
    def chip(self) -> str:
        return KNOWN_CHIPS.get((self.vendor_id, self.product_id), "")

    @property
    def roles(self) -> tuple[str, ...]:
        """The Vigil roles (udev ``vigil/<role>`` links) that name this tty now."""
        return tuple(link.rsplit("/", 1)[1] for link in self.links if "/vigil/" in link)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip() or None
    except OSError:
        return None


def _usb_device(start: Path, stop: Path) -> Path | None:
    """The nearest ancestor of ``start`` (itself included) that is a USB device."""
    for candidate in (start, *start.parents):
        if candidate == stop or candidate == candidate.parent:
            return None
        if (candidate / "idVendor").is_file():
            return candidate
    return None


def _links_to(tty: str, dev: Path) -> tuple[str, ...]:
    found: list[str] = []
    for folder in (dev / "serial" / "by-id", dev / "vigil"):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                target = os.readlink(entry)
            except OSError:
                continue
            if Path(target).name == tty:
                found.append(f"/dev/{entry.relative_to(dev).as_posix()}")
    return tuple(found)


def list_adapters(sysfs: Path = Path("/sys"), dev: Path = Path("/dev")) -> list[SerialAdapter]:
    """Every tty that belongs to a USB device, sorted by name. Platform UARTs (ttyS*, ttyAMA*)
    and virtual terminals are left out: they have no USB ancestor."""
    tty_class = sysfs / "class" / "tty"
    try:
        entries = sorted(tty_class.iterdir(), key=lambda p: _natural(p.name))
    except OSError:
        return []
    adapters: list[SerialAdapter] = []
    for entry in entries:
        device = entry / "device"
        if not device.exists():
            continue
        port = device.resolve()
        usb = _usb_device(port, sysfs.resolve())
        if usb is None:
            continue
        interface = None
        for candidate in (port, *port.parents):
            if candidate == usb:
                break
            interface = _read(candidate / "bInterfaceNumber") or interface
            if interface:
                break
        driver_link = port / "driver"
        driver = driver_link.resolve().name if driver_link.exists() else None
        adapters.append(
            SerialAdapter(
                tty=entry.name,
                vendor_id=(_read(usb / "idVendor") or "").lower(),
                product_id=(_read(usb / "idProduct") or "").lower(),
                serial=_read(usb / "serial"),
                manufacturer=_read(usb / "manufacturer"),
                product=_read(usb / "product"),
                usb_path=usb.name,
                interface=interface,
                driver=driver,
                links=_links_to(entry.name, dev),
            )
        )
    return adapters


def _natural(name: str) -> tuple[str, int]:
    match = re.match(r"^(.*?)(\d+)$", name)
    return (match.group(1), int(match.group(2))) if match else (name, -1)


def check_role(role: str) -> str:
    if not ROLE_RE.match(role):
        raise ValueError(f"role {role!r}: use lower-case letters, digits, - or _ (e.g. monitor)")
    return role


def _check_value(what: str, value: str) -> str:
    if not VALUE_RE.match(value):
        raise ValueError(
            f"{what} {value!r} cannot be matched safely by udev "
            "(letters, digits, space and ._:+/- only)"
        )
    return value


def render_rule(
    role: str,
    *,
    serial: str | None = None,
    usb_path: str | None = None,
    vendor_id: str | None = None,
    product_id: str | None = None,
    interface: str | None = None,
) -> str:
    """One udev rule line naming a tty ``/dev/vigil/<role>``.

    Matched by ``serial`` (preferred: follows the adapter to any port) or by ``usb_path`` (the
    USB port, for adapters without a serial number); ``vendor_id``/``product_id`` narrow the
    match, ``interface`` picks one port of a multi-port chip (FT2232/FT4232).
    """
    check_role(role)
    if (serial is None) == (usb_path is None):
        raise ValueError("give exactly one of a serial number or a USB path")
    keys = ['SUBSYSTEM=="tty"']
    if usb_path is not None:
        if not USB_PATH_RE.match(usb_path):
            raise ValueError(f"USB path {usb_path!r} is not like 1-1.2 (see `vigil devices`)")
        keys.append(f'KERNELS=="{usb_path}"')
    for attr, value in (("idVendor", vendor_id), ("idProduct", product_id)):
        if value is not None:
            if not re.fullmatch(r"[0-9a-fA-F]{4}", value):
                raise ValueError(f"{attr} {value!r} is not four hexadecimal digits")
            keys.append(f'ATTRS{{{attr}}}=="{value.lower()}"')
    if serial is not None:
        keys.append(f'ATTRS{{serial}}=="{_check_value("serial number", serial)}"')
    if interface is not None:
        if not re.fullmatch(r"[0-9a-fA-F]{2}", interface):
            raise ValueError(f"interface {interface!r} is not two hexadecimal digits (00, 01)")
        keys.append(f'ENV{{ID_USB_INTERFACE_NUM}}=="{interface}"')
    keys += [f'SYMLINK+="vigil/{role}"', 'GROUP="dialout"', 'MODE="0660"']
    return ", ".join(keys)


MULTI_PORT_CHIPS = {("0403", "6010"), ("0403", "6011")}


def rule_for(
    adapter: SerialAdapter, role: str, *, by_port: bool = False, multi_port: bool | None = None
) -> str:
    """The rule for an attached adapter: by serial number, or by USB port when it has none
    (or ``by_port``). The interface number is added for a multi-port chip (``multi_port``;
    by default guessed from the chip and the interface number)."""
    if multi_port is None:
        multi_port = (adapter.vendor_id, adapter.product_id) in MULTI_PORT_CHIPS or (
            adapter.interface not in (None, "00")
        )
    use_port = by_port or adapter.serial is None
    return render_rule(
        role,
        serial=None if use_port else adapter.serial,
        usb_path=adapter.usb_path if use_port else None,
        vendor_id=adapter.vendor_id or None,
        product_id=adapter.product_id or None,
        interface=adapter.interface if multi_port else None,
    )


def _role_of(line: str) -> str | None:
    match = re.search(r'SYMLINK\+="vigil/([^"]+)"', line)
    return match.group(1) if match and not line.lstrip().startswith("#") else None


def _match_keys(line: str) -> str:
    """The matching part of a rule (everything before SYMLINK), to spot one adapter twice."""
    return line.split('SYMLINK+="', 1)[0].strip()


def write_rule(rules_file: Path, role: str, line: str) -> str:
    """Put ``line`` in ``rules_file`` as the rule for ``role``: replaces that role's line, keeps
    every other line and comment, writes atomically. Returns ``"replaced"`` or ``"added"``.

    Refuses (``ValueError``) when the same adapter is already another role's.
    """
    check_role(role)
    if _role_of(line) != role or "\n" in line:
        raise ValueError(f"not a one-line rule for vigil/{role}: {line!r}")
    try:
        lines = rules_file.read_text().splitlines()
    except FileNotFoundError:
        lines = RULES_HEADER.splitlines()
    for other in lines:
        other_role = _role_of(other)
        if other_role not in (None, role) and _match_keys(other) == _match_keys(line):
            raise ValueError(
                f"that adapter is already vigil/{other_role} in {rules_file}: "
                f"remove or rewrite that rule first"
            )
    action = "added"
    out: list[str] = []
    for existing in lines:
        if _role_of(existing) == role:
            if action == "added":
                out.append(line)
            action = "replaced"
            continue
        out.append(existing)
    if action == "added":
        out.append(line)
    rules_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".99-vigil.", dir=rules_file.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(out) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, rules_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return action
