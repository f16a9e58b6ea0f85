"""Open a device link by URL through pyserial.

Accepted URLs are those of ``serial.serial_for_url``: ``/dev/ttyUSB0``, ``/dev/serial/by-id/…``,
``/dev/vigil/monitor``, a pseudo-terminal such as ``/dev/pts/7``, ``socket://host:port`` (a serial
server or B. Braun SpaceCom on TCP), ``spy://…`` to hex-dump traffic while capturing, ``rfc2217://``.

Each driver brings its own line settings (``SerialSettings``); they are applied even to ptys,
so the simulator exercises exactly what a real port is opened with.
"""

from __future__ import annotations

import termios
from dataclasses import dataclass
from typing import Literal, Protocol

import serial


class TransportError(Exception):
    """The link could not be opened, or failed while open."""


@dataclass(frozen=True, slots=True)
class SerialSettings:
    baudrate: int
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: Literal[1, 2] = 1
    rtscts: bool = False
    xonxoff: bool = False

    def describe(self) -> str:
        flow = " RTS/CTS" if self.rtscts else ""
        return f"{self.baudrate} {self.bytesize}{self.parity}{self.stopbits}{flow}"


class Transport(Protocol):
    """What a device session needs of an open port (a subset of ``serial.Serial``)."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def fileno(self) -> int: ...

    def close(self) -> None: ...


def open_url(url: str, settings: SerialSettings) -> Transport:
    """Open ``url`` non-blocking (reads return what is there), writes time out after 1 s."""
    try:
        port: Transport = serial.serial_for_url(
            url,
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            rtscts=settings.rtscts,
            xonxoff=settings.xonxoff,
            timeout=0,
            write_timeout=1.0,
            exclusive=True if "://" not in url else None,
        )
    # termios.error is not an OSError: tcsetattr on some ptys and adapters raises it.
    except (serial.SerialException, OSError, ValueError, termios.error) as exc:
        raise TransportError(f"cannot open {url}: {exc}") from exc
    return port
