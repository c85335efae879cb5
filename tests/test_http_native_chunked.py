"""The native chunked decoder and encoder (``limen_wire::http`` through
``limen._native``) against h11, which reads and writes every chunked body
on the gateway's Python relay today: a chunked request body read by h11's
server side and by the native decoder, fed the same pieces (the cap on an
incomplete line depends on them), gives the same data, the same end (and
the same bytes left for the next message) or the same refusal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h11
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from http_native_support import TAILS, mutate
from limen import _native

CHUNKED_REQUEST = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def python_chunked(pieces: Sequence[bytes], limit: int) -> tuple[Any, ...]:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limit)
    conn.receive_data(CHUNKED_REQUEST)
    assert isinstance(conn.next_event(), h11.Request)
    data = bytearray()
    fed = 0
    for piece in pieces:
        conn.receive_data(piece)
        fed += len(piece)
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return ("refused",)
            if isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                return ("done", bytes(data), fed - len(conn.trailing_data[0]))
            else:
                assert event is h11.NEED_DATA
                break
    return ("incomplete", bytes(data))


def native_chunked(pieces: Sequence[bytes], limit: int) -> tuple[Any, ...]:
    decoder = _native.HttpChunkedDecoder(limit)
    data = bytearray()
    used = 0
    for piece in pieces:
        try:
            out, n = decoder.decode(piece)
        except _native.HttpHeadError:
            return ("refused",)
        data += out
        used += n
        if decoder.done:
            return ("done", bytes(data), used)
    return ("incomplete", bytes(data))


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    out = bytearray()
    for _ in range(draw(st.integers(0, 4))):
        data = draw(st.binary(min_size=1, max_size=20))
        spell = draw(st.sampled_from(["x", "X", "04x", "x", "x"]))  # chunk-size spellings
        size = format(len(data), spell)
        ext = draw(st.sampled_from([b"", b"", b";a=b", b";\r", b" ", b"\t ", b";a\nb", b"x"]))
        out += size.encode() + ext + b"\r\n" + data + draw(st.sampled_from([b"\r\n"] * 8 + [b"\n"]))
    out += b"0" + draw(st.sampled_from([b"", b";e", b" "])) + b"\r\n"
    out += draw(
        st.sampled_from(
            [
                b"\r\n",
                b"\n",
                b"X-T: 1\r\n\r\n",
                b"X-T: 1\n\n",
                b"X-T: 1\r\n fold\r\n\r\n",
                b" fold\r\n\r\n",
                b"Transfer-Encoding: gzip\r\n\r\n",
                b"Content-Length: 1, 2\r\n\r\n",
                b"Bad Name: 1\r\n\r\n",
                b"\r",
            ]
        )
    )
    out += draw(TAILS)
    return bytes(mutate(draw, out))


def _pieces(draw: st.DrawFn, body: bytes) -> list[bytes]:
    sizes = draw(st.lists(st.integers(1, 40), min_size=1, max_size=30))
    pieces, at, i = [], 0, 0
    while at < len(body):
        size = sizes[i % len(sizes)]
        pieces.append(body[at : at + size])
        at += size
        i += 1
    return pieces


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
@example(None)
def test_chunked_bodies_read_alike(data: st.DataObject | None) -> None:
    if data is None:  # a chunk size as long as h11 allows: never ends
        pieces = [b"FFFFFFFFFFFFFFFFFFFF\r\nabc"]
        limit = 64
    else:
        body = data.draw(chunked_bodies())
        pieces = data.draw(_pieces_of(body))
        limit = data.draw(st.sampled_from([16, 64, 1024]))
    assert native_chunked(pieces, limit) == python_chunked(pieces, limit)


def _pieces_of(body: bytes) -> st.SearchStrategy[list[bytes]]:
    return st.composite(lambda draw: _pieces(draw, body))()


def test_the_encoder_writes_what_h11_writes() -> None:
    conn = h11.Connection(h11.CLIENT)
    conn.send(
        h11.Request(
            method="POST", target="/", headers=[("Host", "x"), ("Transfer-Encoding", "chunked")]
        )
    )
    for data in [b"a", b"x" * 255, b"y" * 4096, b""]:
        assert _native.http_encode_chunk(data) == (conn.send(h11.Data(data=data)) or b"")
    assert _native.http_encode_last_chunk() == conn.send(h11.EndOfMessage())
