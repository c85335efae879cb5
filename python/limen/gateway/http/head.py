"""The raw request head, checked before h11 reads it.

h11 is lenient where a proxy must not be: it unfolds obs-fold lines, merges
repeated equal ``Content-Length`` headers and lets ``Transfer-Encoding``
win over ``Content-Length``. A front end and a back end that read such a
request differently is how requests are smuggled, so :func:`check_head`
refuses (:class:`HeadError`, a ``400``; the request is never forwarded):

- a line folded onto the previous one (obs-fold: starts with SP or HTAB);
- a line not ended by CRLF (a bare LF or CR);
- ``Content-Length`` more than once (even with the same value), or a list;
- ``Transfer-Encoding`` and ``Content-Length`` together;
- ``Transfer-Encoding`` more than once, or other than ``chunked``;
- ``Host`` more than once;
- whitespace between a header name and its colon.

:func:`split_head` finds the end of the head (``CRLFCRLF``) in a buffer,
skipping the empty lines a client may send before a request line.
"""

from __future__ import annotations

from typing import Final

__all__ = ["HeadError", "check_head", "split_head"]

_END: Final = b"\r\n\r\n"


class HeadError(ValueError):
    """A request head limen refuses (400), with the reason for the client."""


def split_head(buf: bytes | bytearray, limit: int) -> tuple[int, int] | None:
    """``(start, end)`` of the first head in ``buf`` (``end`` past its
    CRLFCRLF), skipping leading CRLFs; None when it is not complete yet.
    :class:`HeadError` when it is longer than ``limit`` bytes."""
    start = 0
    while buf.startswith(b"\r\n", start):
        start += 2
    at = buf.find(_END, start)
    if at < 0:
        if len(buf) - start > limit:
            raise HeadError(f"the request head is longer than {limit} bytes")
        return None
    if at + 4 - start > limit:
        raise HeadError(f"the request head is longer than {limit} bytes")
    return start, at + 4


def check_head(head: bytes) -> None:
    """Refuses an ambiguous head (see the module docs); ``head`` ends with
    CRLFCRLF."""
    body = head[:-4]
    if b"\r" in body.replace(b"\r\n", b"") or b"\n" in body.replace(b"\r\n", b""):
        raise HeadError("a header line must end with CRLF (bare CR or LF)")
    lines = body.split(b"\r\n")
    counts: dict[bytes, int] = {}
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise HeadError("obsolete line folding (obs-fold) is not accepted")
        name, colon, value = line.partition(b":")
        if not colon:
            raise HeadError("a header line without a colon")
        if name != name.rstrip(b" \t"):
            raise HeadError("whitespace between a header name and its colon")
        key = name.lower()
        counts[key] = counts.get(key, 0) + 1
        if key == b"content-length" and b"," in value:
            raise HeadError("a Content-Length list is ambiguous")
        if key == b"transfer-encoding" and value.strip(b" \t").lower() != b"chunked":
            raise HeadError("the only Transfer-Encoding accepted is chunked")
    if counts.get(b"content-length", 0) > 1:
        raise HeadError("more than one Content-Length")
    if counts.get(b"transfer-encoding", 0) > 1:
        raise HeadError("more than one Transfer-Encoding")
    if counts.get(b"content-length") and counts.get(b"transfer-encoding"):
        raise HeadError("both Content-Length and Transfer-Encoding")
    if counts.get(b"host", 0) > 1:
        raise HeadError("more than one Host")
