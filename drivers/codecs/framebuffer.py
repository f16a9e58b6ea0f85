"""The receive buffer under every codec: a parse position, a size cap, hunting and resync.

After wsproto's ``Buffer``: bytes are appended as they arrive (``buffer += data``); a codec
*consumes* them by moving the parse position ``pos`` (``take``, ``skip``, ``resync``), and
``commit`` forgets what was consumed, once per ``receive`` rather than once per frame.
``rollback`` returns the parse position to the last commit, for a parser that consumed part of
a frame and then finds it incomplete (the codecs here never need it: each finds a frame's end
marker before consuming the frame, and leaves a partial frame unconsumed).

A real cable produces frames that never end (a lost end marker, line noise without markers).
``limit`` caps what a codec may hold unconsumed after a ``receive``: past it ``commit`` drops
those bytes and returns them, once, for one ``FrameRejected`` (``too_long`` is the reason for
an over-long frame). With ``hunt`` (the default) the buffer then *hunts*: later overflows drop
silently until the codec finds its next marker and clears ``hunting`` — one rejection per
over-long frame, however long it runs. ``resync(marker)`` drops everything before the next
start marker: the way back into step after garbage or a start in the middle of a frame.

``FrameBuffer`` is a ``bytearray``, so that appending (``+=``), searching (``find``) and the
length stay C calls on the hot path of every codec (a 64-byte read mostly holds no marker); it
must be consumed through its own methods only, never shortened with ``del``. ``len()`` counts
every byte held, consumed or not; ``pending`` counts the unconsumed ones.
"""

from __future__ import annotations


class FrameBuffer(bytearray):
    """Bytes received, the parse position ``pos`` in them, and a size cap."""

    __slots__ = ("hunt", "hunting", "limit", "pos", "unit")

    def __init__(self, limit: int, unit: str = "frame", *, hunt: bool = True) -> None:
        super().__init__()
        #: The first byte not yet consumed; bytes before it go at the next ``commit``.
        self.pos = 0
        #: Most bytes held unconsumed after a ``receive``.
        self.limit = limit
        #: What a frame is called in the rejection reason: frame, line, block.
        self.unit = unit
        #: After an overflow, drop silently until the codec finds its next marker.
        self.hunt = hunt
        #: Dropping the rest of an over-long frame; the codec clears it at its next marker.
        self.hunting = False

    @property
    def pending(self) -> int:
        """Bytes not yet consumed."""
        return len(self) - self.pos

    @property
    def too_long(self) -> str:
        """The rejection reason for a frame past the cap."""
        return f"{self.unit} longer than {self.limit} bytes"

    # -- consuming -------------------------------------------------------------------------

    def take(self, end: int) -> bytes:
        """Consume the bytes from ``pos`` up to offset ``end`` (excluded, at most ``len``) and
        return them."""
        chunk = bytes(self[self.pos : end])
        self.pos = end
        return chunk

    def skip(self, count: int = 1) -> None:
        """Consume ``count`` bytes unseen (a marker already found, so never past the end)."""
        self.pos += count

    def resync(self, marker: int) -> bytes:
        """Consume the bytes before the next ``marker`` (all of them if there is none) and return
        them: the unconsumed bytes then start at the marker, or there are none."""
        at = self.find(marker, self.pos)
        return self.take(len(self) if at < 0 else at)

    def rollback(self) -> None:
        """Un-consume everything since the last ``commit``."""
        self.pos = 0

    def commit(self) -> bytes | None:
        """Forget the consumed bytes, then apply the cap: if more than ``limit`` bytes wait
        unconsumed, drop them and return them to be rejected — once: while ``hunting`` they are
        dropped silently. None when nothing is to be rejected."""
        if self.pos:
            del self[: self.pos]
            self.pos = 0
        if len(self) <= self.limit:
            return None
        dropped = None if self.hunting else bytes(self)
        self.clear()
        self.hunting = self.hunt
        return dropped
