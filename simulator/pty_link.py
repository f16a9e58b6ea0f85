"""A serial cable made of a pseudo-terminal.

The emulator writes to the pty master; the service opens the slave path exactly as it opens
``/dev/ttyUSB0``. A stable symlink (``link_path``) plays the part of a udev name: "unplugging"
closes the pty (the driver's reads fail, as with a pulled USB adapter) and "plugging in" makes a
new pty and points the symlink at it.

Writes never block: a real device keeps transmitting whether or not anybody listens, so bytes the
kernel cannot take are dropped (and counted).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tty
from pathlib import Path


class PtyLink:
    def __init__(self, link_path: Path | None = None) -> None:
        self.link_path = link_path
        self._master = -1
        self._slave = -1
        self.slave_path = ""
        self.dropped = 0
        self.plug()

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    @property
    def path(self) -> str:
        """The path a driver should open: the stable link if any, else the pty itself."""
        return str(self.link_path) if self.link_path else self.slave_path

    def plug(self) -> None:
        if self.plugged:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: bytes pass unchanged
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_path)
            tmp.replace(self.link_path)

    def unplug(self) -> None:
        """Pull the cable: the open port on the other side fails on its next read, and the
        stable name disappears (as udev removes a by-id link), so nobody opens a recycled pty."""
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def write(self, data: bytes) -> int:
        """Write what the line can take now; return the number of bytes written."""
        if not self.plugged:
            self.dropped += len(data)
            return 0
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            if exc.errno not in (errno.EIO, errno.EAGAIN):
                raise
            written = 0
        self.dropped += len(data) - written
        return written

    def read(self, size: int = 4096) -> bytes:
        """Bytes the driver sent to the device (handshakes, polls); b'' if none."""
        if not self.plugged:
            return b""
        try:
            return os.read(self._master, size)
        except (BlockingIOError, OSError):
            return b""

    def fileno(self) -> int:
        return self._master

    def close(self) -> None:
        self.unplug()

    def __enter__(self) -> PtyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
