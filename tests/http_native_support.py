"""Strategies shared by the native-parser differential tests
(``test_http_native_heads.py``, ``test_http_native_chunked.py``): header
parts chosen to hit the refusals, and a byte mutator."""

from __future__ import annotations

from hypothesis import strategies as st

NAMES = st.sampled_from(
    [
        b"Host",
        b"host",
        b"Content-Length",
        b"content-length",
        b"Transfer-Encoding",
        b"Connection",
        b"Expect",
        b"X-A",
        b"Bad Name",
        b"Host ",
        b"",
        b"X\x00",
        b"\xc3\xa9",
        b"X:Y",
    ]
)
VALUES = st.one_of(
    st.sampled_from(
        [
            b"1",
            b"0",
            b"007",
            b"+1",
            b"1,1",
            b"1, 2",
            b"chunked",
            b" chunked ",
            b"Chunked",
            b"gzip, chunked",
            b"chunked, chunked",
            b"close",
            b"keep-alive, Close",
            b"100-continue",
            b"",
            b" a b ",
            b"a\tb",
            b"\x01",
            b"\x0b",
            b"\x0c",
            b"\x00",
            b"\x7f\x80",
            b"12345678901234567890",
            b"123456789012345678901",
        ]
    ),
    st.binary(max_size=8),
)
COLONS = st.sampled_from([b":", b": ", b":\t", b" :", b""])
EOLS = st.sampled_from([b"\r\n"] * 12 + [b"\n", b"\r", b"\r\r\n", b"\r\n "])
LEADS = st.sampled_from([b"", b"", b"", b"\r\n", b"\r\n\r\n", b"\n"])
TAILS = st.sampled_from([b"", b"", b"abc", b"GET / HTTP/1.1\r\nHost: y\r\n\r\n"])


def mutate(draw: st.DrawFn, out: bytearray) -> bytearray:
    """Sometimes changes, inserts or removes a byte, or cuts the end off."""
    for _ in range(draw(st.integers(0, 2))):
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        kind = draw(st.integers(0, 3))
        byte = draw(st.sampled_from([0, 9, 10, 13, 32, 44, 58, 59, 0x0B, 0x7F, 0x80, 65]))
        if kind == 0:
            out[at] = byte
        elif kind == 1:
            out.insert(at, byte)
        elif kind == 2:
            del out[at]
        else:
            del out[at:]
    return out
