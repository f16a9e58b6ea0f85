"""Philips IntelliVue Data Export over MIB/RS232: the transport frame (sans-I/O).

Authority: Philips *Data Export Interface Programming Guide* 4535 642 59271, as summarised in the
team's reference/protocols.md §1 and §8; layouts cross-checked with xeonfusion/VSCaptureMP
``Class3.cs``, derekmerck/PERSEUS ``RS232.py`` and mindleaving/patient-monitor-datalogger
``CrcCcittFcsAlgorithm.cs`` (facts only, no code copied). See docs/protocols/philips-intellivue.md.

A frame on the wire (115200 8N1)::

    C0 | escaped( 11 01 | length u16 BE | user data | FCS u16 LE ) | C1

* ``length`` counts the user data only (the session/presentation PDU);
* the FCS is RFC 1662 FCS-16 (CRC-16/X-25) over the header and the user data *before* escaping,
  sent low byte first;
* transparency covers everything between BOF and EOF, the FCS included (VSCaptureMP forgets the
  FCS: protocols.md §1): ``C0`` → ``7D E0``, ``C1`` → ``7D E1``, ``7D`` → ``7D 5D``;
* ``7D C1`` aborts the frame being sent.

Because ``C0`` and ``C1`` never appear inside an escaped frame, the decoder resynchronises by
itself. Faults a real cable produces, each handled and tested: garbage between frames (one
rejection per run), a start in the middle of a frame (its tail is garbage), a frame cut short by
a new BOF, an aborted frame (``7D C1``), a bad FCS, an invalid escape, a wrong header or length,
a frame that never ends (rejected once past ``MAX_WIRE_FRAME``, dropped up to the next BOF).
None of them raises while streaming: each becomes a ``FrameRejected``.
"""

from __future__ import annotations

import binascii
import struct
from collections import deque
from collections.abc import Iterator

from drivers.codecs.base import FrameRejected, preview
from drivers.codecs.framebuffer import FrameBuffer
from drivers.errors import DriverUsageError, ProtocolError

BOF = 0xC0
EOF = 0xC1
ESCAPE = 0x7D
_BOF_BYTE = b"\xc0"
_EOF_BYTE = b"\xc1"
_ESCAPED_BOF = b"\x7d\xe0"
_ESCAPED_EOF = b"\x7d\xe1"
_ESCAPED_ESCAPE = b"\x7d\x5d"
#: The transmitter's abort sequence (protocols.md §1).
ABORT_SEQUENCE = b"\x7d\xc1"

PROTOCOL_ID = 0x11  # Data Export
MESSAGE_TYPE = 0x01
HEADER = struct.Struct(">BBH")

#: Largest user data accepted. The guide caps the negotiated MTU at 1000 bytes on MIB/RS232 (the
#: MTU excludes the session and remote-operation headers); association PDUs are ~250 bytes.
MAX_USER_DATA = 4096
#: The most bytes a frame can have between BOF and EOF: every byte escaped.
MAX_WIRE_FRAME = 2 * (HEADER.size + MAX_USER_DATA + 2)

# CRC-16/X-25 is the bit-reflected form of the CRC that ``binascii.crc_hqx`` computes (poly
# 0x1021, MSB first): reflecting every input byte and the result turns one into the other, and
# keeps the per-byte loop in C.
_REFLECT = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reflect16(value: int) -> int:
    return (_REFLECT[value & 0xFF] << 8) | _REFLECT[value >> 8]


def fcs16(data: bytes) -> int:
    """RFC 1662 FCS-16 (CRC-16/X-25): init 0xFFFF, reflected 0x1021, final XOR 0xFFFF."""
    return _reflect16(binascii.crc_hqx(data.translate(_REFLECT), 0xFFFF)) ^ 0xFFFF


def escape(data: bytes) -> bytes:
    """Apply transparency; ``7D`` goes first so the escapes it adds are not escaped again."""
    return (
        data.replace(b"\x7d", _ESCAPED_ESCAPE)
        .replace(_BOF_BYTE, _ESCAPED_BOF)
        .replace(_EOF_BYTE, _ESCAPED_EOF)
    )


def unescape(data: bytes) -> bytes:
    """Undo transparency. Raises ``ProtocolError`` on a ``7D`` not followed by E0, E1 or 5D."""
    escapes = data.count(ESCAPE)
    if not escapes:
        return data
    # E0, E1 and 5D are never 7D, so the pairs that count() finds cannot overlap.
    pairs = data.count(_ESCAPED_BOF) + data.count(_ESCAPED_EOF) + data.count(_ESCAPED_ESCAPE)
    if pairs != escapes:
        raise ProtocolError("invalid escape sequence")
    return (
        data.replace(_ESCAPED_BOF, _BOF_BYTE)
        .replace(_ESCAPED_EOF, _EOF_BYTE)
        .replace(_ESCAPED_ESCAPE, b"\x7d")
    )


def wrap(body: bytes) -> bytes:
    """BOF, escaped ``body`` + FCS (low byte first), EOF. ``body`` is everything the FCS covers."""
    return _BOF_BYTE + escape(body + struct.pack("<H", fcs16(body))) + _EOF_BYTE


def unwrap(inner: bytes) -> bytes:
    """The FCS-checked body of one frame's bytes between BOF and EOF (FCS removed)."""
    if len(inner) > MAX_WIRE_FRAME:
        raise ProtocolError(f"frame longer than {MAX_WIRE_FRAME} bytes")
    data = unescape(inner)
    if len(data) < 3:
        raise ProtocolError(f"frame of {len(data)} bytes has no room for an FCS")
    body = data[:-2]
    (received,) = struct.unpack_from("<H", data, len(data) - 2)
    computed = fcs16(body)
    if received != computed:
        raise ProtocolError(f"FCS {received:#06x}, computed {computed:#06x}")
    return body


def encode_frame(user_data: bytes) -> bytes:
    """A complete frame carrying ``user_data``."""
    if len(user_data) > MAX_USER_DATA:
        raise DriverUsageError(f"user data of {len(user_data)} bytes exceeds {MAX_USER_DATA}")
    return wrap(HEADER.pack(PROTOCOL_ID, MESSAGE_TYPE, len(user_data)) + user_data)


def decode_frame(inner: bytes) -> bytes:
    """Strict one-shot decode of the bytes between BOF and EOF: the user data."""
    body = unwrap(inner)
    if len(body) < HEADER.size:
        raise ProtocolError(f"frame of {len(body)} bytes is shorter than its header")
    protocol_id, message_type, length = HEADER.unpack_from(body)
    if protocol_id != PROTOCOL_ID or message_type != MESSAGE_TYPE:
        raise ProtocolError(f"header {protocol_id:#04x} {message_type:#04x}, not 11 01")
    if length != len(body) - HEADER.size:
        raise ProtocolError(f"length field {length}, user data {len(body) - HEADER.size}")
    return body[HEADER.size :]


class FrameDecoder:
    """Streaming frame layer: feed bytes in any chunking, read user data or ``FrameRejected``."""

    def __init__(self) -> None:
        # Past MAX_WIRE_FRAME without an EOF: rejected once, dropped up to the next BOF or EOF.
        self._buffer = FrameBuffer(MAX_WIRE_FRAME)
        self._in_frame = False  # the buffer starts just after a BOF
        self._garbage = bytearray()  # a preview of bytes seen outside any frame
        self._garbage_count = 0
        self._out: deque[bytes | FrameRejected] = deque()

    def receive(self, data: bytes) -> None:
        buffer = self._buffer
        fresh = len(buffer)  # inside a frame, what is already buffered holds no BOF and no EOF
        buffer += data
        while buffer.pos < len(buffer):
            if not self._in_frame:
                self._outside(buffer.resync(BOF))
                if buffer.pos == len(buffer):
                    break
                self._flush_garbage()
                buffer.skip()  # the BOF
                self._in_frame, buffer.hunting = True, False
                continue
            scan = max(buffer.pos, fresh)
            end_at = buffer.find(EOF, scan)
            bof_at = buffer.find(BOF, scan)
            if bof_at >= 0 and (end_at < 0 or bof_at < end_at):
                cut = buffer.take(bof_at)
                if cut and not buffer.hunting:
                    self._reject("frame cut short by a new BOF", cut)
                buffer.hunting = False
                buffer.skip()  # the new BOF
                continue
            if end_at < 0:
                break
            inner = buffer.take(end_at)
            buffer.skip()  # the EOF
            self._in_frame = False
            if buffer.hunting:
                buffer.hunting = False  # the tail of a frame already rejected as too long
                continue
            self._frame(inner)
        dropped = buffer.commit()
        if dropped is not None:
            self._reject(buffer.too_long, dropped)

    def _frame(self, inner: bytes) -> None:
        if not inner:
            self._reject("empty frame", inner)
        elif inner[-1] == ESCAPE:
            self._reject("frame aborted by the sender (7D C1)", inner)
        else:
            try:
                self._out.append(decode_frame(inner))
            except ProtocolError as exc:
                self._reject(str(exc), inner)

    def _outside(self, data: bytes) -> None:
        if data:
            self._garbage_count += len(data)
            if len(self._garbage) < 64:
                self._garbage += data[: 64 - len(self._garbage)]

    def _flush_garbage(self) -> None:
        if self._garbage_count:
            reason = f"{self._garbage_count} byte(s) outside a frame (started mid-frame?)"
            self._reject(reason, bytes(self._garbage))
            self._garbage.clear()
            self._garbage_count = 0

    def _reject(self, reason: str, data: bytes) -> None:
        self._out.append(FrameRejected(reason, preview(data)))

    def frames(self) -> Iterator[bytes | FrameRejected]:
        while self._out:
            yield self._out.popleft()
