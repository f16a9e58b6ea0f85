"""Byte transports opened by URL (pyserial ``serial_for_url``); no protocol knowledge here."""

from drivers.transports.serial_url import SerialSettings, Transport, TransportError, open_url

__all__ = ["SerialSettings", "Transport", "TransportError", "open_url"]
