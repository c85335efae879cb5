"""SPDY/3.1 frames, as the exec relay reads them (written from the SPDY
protocol draft 3 and its 3.1 amendment; kubectl's and the API server's
``spdystream`` speak it for ``exec``, ``attach`` and ``portforward``).

Frames (§2.2): a control frame is ``1 | version(15) | type(16) |
flags(8) | length(24) | payload``; a data frame is ``0 | stream id(31) |
flags(8) | length(24) | data``. :class:`FrameReader` takes bytes as they
arrive and gives whole frames with their raw bytes (the relay forwards
control frames exactly as they came). Fail closed: a version other than 3,
a frame type SPDY/3.1 does not have (CREDENTIAL is gone in 3.1), a flag
the type does not define, a fixed-size frame of another size, stream id 0
where a stream is needed, or a frame longer than ``limit`` raises
:class:`SpdyError`.

Header blocks (§2.6.10) are zlib streams, one per direction of a
connection, primed with the SPDY/3 dictionary (§2.6.10.1):
:class:`HeaderDecoder` inflates each block in order (bounded: a block
that inflates past ``limit`` is refused) and reads its name/value pairs
(lowercase names, no duplicates); :class:`HeaderEncoder` writes them (the
stand-in API server and tests use it).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DATA",
    "FLAG_FIN",
    "GOAWAY",
    "HEADERS",
    "PING",
    "RST_STREAM",
    "SETTINGS",
    "SYN_REPLY",
    "SYN_STREAM",
    "WINDOW_UPDATE",
    "Frame",
    "FrameReader",
    "HeaderDecoder",
    "HeaderEncoder",
    "SpdyError",
    "control",
    "data_frame",
]

VERSION: Final = 3
DATA: Final = 0
"""The type given to data frames (control types start at 1)."""
SYN_STREAM: Final = 1
SYN_REPLY: Final = 2
RST_STREAM: Final = 3
SETTINGS: Final = 4
PING: Final = 6
GOAWAY: Final = 7
HEADERS: Final = 8
WINDOW_UPDATE: Final = 9
FLAG_FIN: Final = 0x01
FLAG_UNIDIRECTIONAL: Final = 0x02
_FLAGS: Final = {
    DATA: FLAG_FIN,
    SYN_STREAM: FLAG_FIN | FLAG_UNIDIRECTIONAL,
    SYN_REPLY: FLAG_FIN,
    RST_STREAM: 0,
    SETTINGS: 0x01,  # FLAG_SETTINGS_CLEAR_SETTINGS
    PING: 0,
    GOAWAY: 0,
    HEADERS: FLAG_FIN,
    WINDOW_UPDATE: 0,
}
_FIXED: Final = {RST_STREAM: 8, PING: 4, GOAWAY: 8, WINDOW_UPDATE: 8}
_MINIMUM: Final = {SYN_STREAM: 10, SYN_REPLY: 4, HEADERS: 4, SETTINGS: 4}

#: The SPDY/3 header dictionary (§2.6.10.1): length-prefixed words, then text.
_WORDS: Final = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200_OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_TEXT: Final = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
    "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
    "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY: Final = b"".join(
    struct.pack("!I", len(w)) + w.replace("_", " ").encode() for w in _WORDS
) + (_TEXT.encode())


class SpdyError(ValueError):
    """Bytes that are not a SPDY/3.1 frame or header block limen accepts."""


@dataclass(frozen=True)
class Frame:
    """One frame: ``kind`` is :data:`DATA` or a control type; ``stream``
    the stream it is about (0: the session); ``payload`` the bytes after
    the 8-byte head; ``raw`` the whole frame as it came."""

    kind: int
    flags: int
    stream: int
    payload: bytes
    raw: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN) and self.kind in (DATA, SYN_STREAM, SYN_REPLY, HEADERS)

    def header_block(self) -> bytes:
        """The compressed header block of a SYN_STREAM, SYN_REPLY or HEADERS."""
        return self.payload[10:] if self.kind == SYN_STREAM else self.payload[4:]


class FrameReader:
    """Frames from one direction of a SPDY connection (see the module docs)."""

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes (:class:`SpdyError`)."""
        self.buf += data
        out: list[Frame] = []
        while (frame := self._next()) is not None:
            out.append(frame)
        return out

    def _next(self) -> Frame | None:
        buf = self.buf
        if len(buf) < 8:
            return None
        first, flags_length = struct.unpack_from("!II", buf)
        flags, length = flags_length >> 24, flags_length & 0xFFFFFF
        if length > self.limit:
            raise SpdyError(f"a frame of {length} bytes is over the limit of {self.limit}")
        if first & 0x80000000:
            version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
            if version != VERSION:
                raise SpdyError(f"a control frame of SPDY version {version}, not 3")
            if kind not in _FLAGS or kind == DATA:
                raise SpdyError(f"a control frame of unknown type {kind}")
            if kind in _FIXED and length != _FIXED[kind]:
                raise SpdyError(f"a control frame of type {kind} with {length} bytes")
            if length < _MINIMUM.get(kind, 0):
                raise SpdyError(f"a control frame of type {kind} too short ({length} bytes)")
        else:
            kind = DATA
        if flags & ~_FLAGS[kind]:
            raise SpdyError(f"flags {flags:#x} on a frame of type {kind}")
        if len(buf) < 8 + length:
            return None
        raw = bytes(buf[: 8 + length])
        del buf[: 8 + length]
        payload = raw[8:]
        stream = first & 0x7FFFFFFF if kind == DATA else _stream_of(kind, payload)
        if kind == SETTINGS and len(payload) != 4 + 8 * struct.unpack_from("!I", payload)[0]:
            raise SpdyError("a SETTINGS frame whose length is not its entries'")
        if kind in (DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS) and stream == 0:
            raise SpdyError(f"a frame of type {kind} on stream 0")
        return Frame(kind, flags, stream, payload, raw)


def _stream_of(kind: int, payload: bytes) -> int:
    if kind in (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE, GOAWAY):
        stream: int = struct.unpack_from("!I", payload)[0] & 0x7FFFFFFF
        return stream
    return 0


def control(kind: int, flags: int, payload: bytes) -> bytes:
    """A control frame's bytes."""
    return struct.pack("!II", 0x80000000 | VERSION << 16 | kind, flags << 24 | len(payload)) + (
        payload
    )


def data_frame(stream: int, flags: int, data: bytes) -> bytes:
    """A data frame's bytes."""
    return struct.pack("!II", stream & 0x7FFFFFFF, flags << 24 | len(data)) + data


Headers = dict[str, list[str]]


class HeaderDecoder:
    """The header blocks of one direction, inflated in order."""

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self.zlib = zlib.decompressobj(zdict=DICTIONARY)

    def decode(self, block: bytes) -> Headers:
        """The name/value pairs of ``block`` (values split at NUL)."""
        try:
            plain = self.zlib.decompress(block, self.limit + 1)
        except zlib.error as exc:
            raise SpdyError(f"a header block that does not inflate: {exc}") from None
        if len(plain) > self.limit or self.zlib.unconsumed_tail:
            raise SpdyError(f"a header block over {self.limit} bytes inflated")
        if self.zlib.eof:
            raise SpdyError("a header block that ends the compression stream")
        return _pairs(plain)


def _pairs(plain: bytes) -> Headers:
    at = 0

    def take() -> bytes:
        nonlocal at
        if at + 4 > len(plain):
            raise SpdyError("a header block cut short")
        (n,) = struct.unpack_from("!I", plain, at)
        if at + 4 + n > len(plain):
            raise SpdyError("a header block cut short")
        at += 4 + n
        return plain[at - n : at]

    if len(plain) < 4:
        raise SpdyError("a header block cut short")
    (count,) = struct.unpack_from("!I", plain)
    at = 4
    out: Headers = {}
    for _ in range(count):
        name = take().decode("latin-1")
        value = take().decode("latin-1")
        if not name or name != name.lower() or name in out:
            raise SpdyError(f"a header name that is empty, not lowercase or twice: {name!r}")
        out[name] = value.split("\0")
    if at != len(plain):
        raise SpdyError("bytes after a header block's pairs")
    return out


class HeaderEncoder:
    """Header blocks of one direction (stand-in and tests)."""

    def __init__(self) -> None:
        self.zlib = zlib.compressobj(zdict=DICTIONARY)

    def encode(self, headers: Headers) -> bytes:
        plain = struct.pack("!I", len(headers))
        for name, values in headers.items():
            value = "\0".join(values).encode("latin-1")
            plain += struct.pack("!I", len(name)) + name.encode("latin-1")
            plain += struct.pack("!I", len(value)) + value
        return self.zlib.compress(plain) + self.zlib.flush(zlib.Z_SYNC_FLUSH)
