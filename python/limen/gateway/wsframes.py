"""WebSocket frames (RFC 6455 §5.2), as the relays read them (the
Kubernetes exec relay, :mod:`limen.gateway.kube.exec`, and the HTTP
upgrade relay, :mod:`limen.gateway.http.upgrade`).

:class:`FrameReader` takes bytes as they arrive and gives whole frames:
FIN, opcode, payload (unmasked). Fail closed: reserved bits, an unknown
opcode, a control frame that is fragmented or longer than 125 bytes, a
64-bit length with the top bit set, a payload over ``limit``, or a frame
whose masking is not what its direction requires raise :class:`FrameError`
(the relay then closes the connection). :func:`encode` writes a frame
(unmasked: limen writes only towards the client, as a server).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "Frame",
    "FrameError",
    "FrameReader",
    "encode",
]

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
_OPCODES: Final = frozenset({CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG})


class FrameError(ValueError):
    """Bytes that are not a WebSocket frame limen accepts."""


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


class FrameReader:
    """Frames from one direction of a WebSocket connection."""

    def __init__(self, *, masked: bool, limit: int) -> None:
        self.masked = masked
        """Client-to-server frames are masked; server-to-client ones are not."""
        self.limit = limit
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes (:class:`FrameError`)."""
        self.buf += data
        out: list[Frame] = []
        while (frame := self._next()) is not None:
            out.append(frame)
        return out

    def _next(self) -> Frame | None:
        buf = self.buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        if b0 & 0x70:
            raise FrameError("reserved bits set (no extension was agreed)")
        opcode = b0 & 0x0F
        if opcode not in _OPCODES:
            raise FrameError(f"unknown opcode {opcode:#x}")
        fin = bool(b0 & 0x80)
        if bool(b1 & 0x80) != self.masked:
            raise FrameError("a frame's masking does not match its direction")
        length = b1 & 0x7F
        at = 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,) = struct.unpack_from("!H", buf, 2)
            at = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buf, 2)
            if length >> 63:
                raise FrameError("a 64-bit length with the top bit set")
            at = 10
        if opcode >= CLOSE and (not fin or length > 125):
            raise FrameError("a control frame is fragmented or longer than 125 bytes")
        if length > self.limit:
            raise FrameError(f"a frame of {length} bytes is over the limit of {self.limit}")
        key = b""
        if self.masked:
            if len(buf) < at + 4:
                return None
            key = bytes(buf[at : at + 4])
            at += 4
        if len(buf) < at + length:
            return None
        payload = bytes(buf[at : at + length])
        del buf[: at + length]
        if key:
            payload = _unmask(payload, key)
        return Frame(fin, opcode, payload)


def _unmask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return payload
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def encode(frame: Frame, mask_key: bytes | None = None) -> bytes:
    """``frame`` as bytes (masked with ``mask_key`` when given: tests)."""
    head = bytearray([(0x80 if frame.fin else 0) | frame.opcode])
    n = len(frame.payload)
    bit = 0x80 if mask_key is not None else 0
    if n < 126:
        head.append(bit | n)
    elif n < 1 << 16:
        head.append(bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", n)
    if mask_key is None:
        return bytes(head) + frame.payload
    return bytes(head) + mask_key + _unmask(frame.payload, mask_key)
