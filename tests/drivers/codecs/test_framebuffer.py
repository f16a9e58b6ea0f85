"""The receive buffer every codec stands on: parse position, commit/rollback, cap, hunting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.codecs.framebuffer import FrameBuffer

STX, ETX = 0x02, 0x03


def test_take_and_skip_consume_commit_forgets_rollback_returns() -> None:
    buffer = FrameBuffer(100)
    buffer += b"\x02abc\x03rest"
    assert (buffer.pos, buffer.pending) == (0, 9)
    end = buffer.find(ETX, buffer.pos)
    buffer.skip()  # the STX
    assert buffer.take(end) == b"abc" and buffer.pos == 4
    buffer.skip()  # the ETX
    assert buffer.pending == 4
    buffer.rollback()  # nothing committed yet: everything is back
    assert buffer.pending == 9 and buffer.take(1) == b"\x02"
    buffer.skip(4)
    assert buffer.commit() is None
    assert buffer.pos == 0 and bytes(buffer) == b"rest"
    buffer.rollback()
    assert buffer.take(len(buffer)) == b"rest"  # committed bytes never come back


def test_resync_drops_up_to_the_next_marker_or_everything() -> None:
    buffer = FrameBuffer(100)
    buffer += b"noise\x02frame"
    assert buffer.resync(STX) == b"noise" and buffer.take(buffer.pos + 1) == b"\x02"
    assert buffer.resync(STX) == b"frame" and buffer.pending == 0
    assert buffer.resync(STX) == b""


def test_commit_rejects_past_the_cap_once_then_hunts_until_the_codec_stops_it() -> None:
    buffer = FrameBuffer(4, unit="line")
    assert buffer.too_long == "line longer than 4 bytes"
    buffer += b"abcd"
    assert buffer.commit() is None and buffer.pending == 4  # at the cap is not past it
    buffer += b"e"
    assert buffer.commit() == b"abcde" and len(buffer) == 0 and buffer.hunting
    buffer += b"fghijk"
    assert buffer.commit() is None and len(buffer) == 0  # dropped silently while hunting
    buffer.hunting = False  # the codec found its next marker
    buffer += b"lmnopq"
    assert buffer.commit() == b"lmnopq"


def test_without_hunting_every_overflow_is_rejected_and_only_unconsumed_bytes_count() -> None:
    buffer = FrameBuffer(3, hunt=False)
    buffer += b"\x02ab\x03xyz"
    buffer.skip(4)
    assert buffer.commit() is None and bytes(buffer) == b"xyz"
    buffer += b"!"
    assert buffer.commit() == b"xyz!" and not buffer.hunting and len(buffer) == 0
    buffer += b"more"
    assert buffer.commit() == b"more"


def frames_of(chunks: list[bytes], limit: int) -> list[bytes | str]:
    """A small STX..ETX framer on the buffer, the shape every codec has."""
    buffer = FrameBuffer(limit, hunt=False)
    found: list[bytes | str] = []
    for chunk in chunks:
        buffer += chunk
        while buffer.find(STX, buffer.pos) >= 0:  # bytes outside a frame wait for a start
            if buffer.resync(STX):
                found.append("junk")
            end = buffer.find(ETX, buffer.pos + 1)
            if end < 0:
                break
            buffer.skip()
            found.append(buffer.take(end))
            buffer.skip()
        if buffer.commit() is not None:
            found.append(buffer.too_long)
    return found


@given(st.lists(st.sampled_from([b"\x02", b"\x03", b"a", b"bc", b"\x02abc\x03"]), max_size=30))
def test_any_chunking_gives_the_same_frames(parts: list[bytes]) -> None:
    stream = b"".join(parts)
    whole = frames_of([stream], 1000)
    assert frames_of([bytes([b]) for b in stream], 1000) == whole
    for cut in range(len(stream) + 1):
        assert frames_of([stream[:cut], stream[cut:]], 1000) == whole
