"""Sans-I/O codecs, one module per real protocol.

Every codec follows the same shape (after h11 / wsproto):

* ``receive(data: bytes)`` buffers bytes as they arrive, in any chunking;
* ``events()`` yields typed, frozen events, including ``FrameRejected`` for every frame or line
  that was corrupt, so a caller can count them; a codec never raises while streaming;
* ``encode_*(...) -> bytes`` builds what the driver must send (handshakes, polls).

Every streaming codec keeps its bytes in one ``FrameBuffer`` (``framebuffer``): a parse position
with commit and rollback, a size cap with one clear rejection, hunting and resync. The Philips
IntelliVue codec is a package of its own (``philips_intellivue``), the others one module each.

Codecs import only the standard library and never read a clock.
"""

from drivers.codecs.base import FrameRejected
from drivers.codecs.framebuffer import FrameBuffer

__all__ = ["FrameBuffer", "FrameRejected"]
