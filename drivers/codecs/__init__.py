"""Sans-I/O codecs, one module per real protocol.

Every codec follows the same shape (after h11 / wsproto):

* ``receive(data: bytes)`` buffers bytes as they arrive, in any chunking;
* ``events()`` yields typed, frozen events, including ``FrameRejected`` for every frame or line
  that was corrupt, so a caller can count them; a codec never raises while streaming;
* ``encode_*(...) -> bytes`` builds what the driver must send (handshakes, polls).

Codecs import only the standard library and never read a clock.
"""

from drivers.codecs.base import FrameRejected

__all__ = ["FrameRejected"]
