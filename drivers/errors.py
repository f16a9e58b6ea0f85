"""The two error types of every driver (after h11's Remote/LocalProtocolError split).

* ``ProtocolError``: the peer sent bytes that break the protocol. Codecs turn these into
  ``FrameRejected`` events while streaming; a strict one-shot decode function raises it.
* ``DriverUsageError``: the calling code misused the API (a wrong device spec, an encoder asked to
  build a message the protocol cannot carry). A bug or a configuration mistake, never the device.
"""


class ProtocolError(Exception):
    """The device sent something the protocol does not allow."""


class DriverUsageError(Exception):
    """The driver API was called in a way it does not support."""
