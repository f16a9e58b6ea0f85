"""Device sessions: one transport + one codec, with handshake, polling, staleness and reconnect."""

from drivers.sessions.base import DeviceSession, Handler, HandlerOutput
from drivers.sessions.link import LinkMonitor, LinkTimings

__all__ = ["DeviceSession", "Handler", "HandlerOutput", "LinkMonitor", "LinkTimings"]
