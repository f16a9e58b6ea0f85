"""Vigil device drivers: sans-I/O codecs, serial transports and device sessions.

This package knows nothing of the service that uses it (see docs/architecture.md).
"""

from drivers.errors import DriverUsageError, ProtocolError

__all__ = ["DriverUsageError", "ProtocolError"]
