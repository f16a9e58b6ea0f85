"""Vigil device drivers: sans-I/O codecs, device handlers, serial transports and device links.

This package knows nothing of the service that uses it (see docs/architecture.md).
"""

from drivers.errors import DriverUsageError, ProtocolError

__all__ = ["DriverUsageError", "ProtocolError"]
