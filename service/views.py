"""What the bed shows: the live snapshot (a tablet's first message) and the health answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from service.live import LiveState
from service.persistence.writer import PersistenceWriter


class Counted(Protocol):
    """A device link with frame counters (drivers' DeviceLink)."""

    source: str

    @property
    def stats(self) -> Any: ...


class LinkStatus(Protocol):
    connected: bool
    queued: int
    sent: int
    dropped: int


class BedViews:
    def __init__(
        self,
        bed: str,
        live: LiveState,
        writer: PersistenceWriter,
        links: Sequence[Counted],
        infusion: Callable[[], dict[str, Any] | None],
        clients: Callable[[], int],
        uplink: Callable[[], LinkStatus | None],
        now: Callable[[], datetime],
    ) -> None:
        self.bed, self.live, self.writer, self.links = bed, live, writer, links
        self._infusion, self._clients, self._uplink, self._now = infusion, clients, uplink, now

    def _device_stats(self) -> None:
        """Copy frame counters into the device list when someone looks (not per reading)."""
        for link in self.links:
            status = self.live.devices.get(link.source)
            if status is not None:
                status.frames_ok = link.stats.frames_ok
                status.frames_rejected = link.stats.frames_rejected

    def snapshot(self) -> dict[str, Any]:
        self._device_stats()
        snap = self.live.snapshot(self._now())
        snap["infusion"] = self._infusion()
        return snap

    def health(self) -> dict[str, Any]:
        self._device_stats()
        devices = self.live.device_list()
        writer = self.writer
        ok = all(d["availability"] == "connected" for d in devices) and not writer.failing
        uplink = self._uplink()
        return {
            "status": "ok" if ok else "degraded",
            "bed": self.bed,
            "server_time": self.snapshot()["server_time"],
            "devices": devices,
            "storage": {
                "ok": not writer.failing,
                "written": writer.written,
                "queued": len(writer.sub),
                "last_error": writer.last_error,
            },
            "clients": self._clients(),
            "active_alarms": len(self.live.alarms),
            "central": None
            if uplink is None
            else {
                "connected": uplink.connected,
                "queued": uplink.queued,
                "sent": uplink.sent,
                "dropped": uplink.dropped,
            },
        }
