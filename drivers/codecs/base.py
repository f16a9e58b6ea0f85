"""Pieces shared by every codec."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """A frame (or line) that could not be decoded; the codec has resynchronised past it."""

    reason: str
    #: The offending bytes, truncated to a sensible length for logs.
    data: bytes = b""


def preview(data: bytes, limit: int = 64) -> bytes:
    """The first ``limit`` bytes of ``data`` for an error report."""
    return data if len(data) <= limit else data[:limit]
