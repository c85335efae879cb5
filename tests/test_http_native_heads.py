"""The native HTTP/1.1 parsers (``limen_wire::http`` through
``limen._native``) against what the gateway's Python relay uses today:
the same bytes to both, the same verdict (accepted, refused, incomplete)
and the same fields.

- Request heads: the Python reader itself (``ClientReader.next_request``:
  ``split_head``, ``check_head``, then h11's server side) over a stream
  that gives the bytes and then ends.
- Response heads: h11's client side after a request was sent.
- Chunked bodies: h11's server side reading a chunked request body, both
  fed the same pieces (the incomplete-line cap depends on them).

The strategies build heads from parts chosen to hit the refusals
(smuggling shapes, bytes the grammar forbids, line ends, folds, limits)
and then mutate bytes at random."""

from __future__ import annotations

from typing import Any

import h11
import pytest
import trio
from h11._connection import _keep_alive
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from http_native_support import COLONS, EOLS, LEADS, NAMES, TAILS, VALUES, mutate
from limen import _native
from limen.gateway.http.head import HeadError, split_head
from limen.gateway.http.reader import ClientReader

LIMIT = 256
"""A small head limit, so that the strategies reach it."""


class _Bytes:
    """A stream that gives ``data`` and then ends (the reader's client)."""

    def __init__(self, data: bytes) -> None:
        self.parts = [data]

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return self.parts.pop() if self.parts else b""


def python_request(buf: bytes, limit: int) -> tuple[Any, ...]:
    try:
        if split_head(buf, limit) is None:
            return ("incomplete",)
    except HeadError:
        return ("refused",)

    async def read() -> Any:
        reader = ClientReader(_Bytes(buf), limit, 1 << 20)  # type: ignore[arg-type]
        return await reader.next_request()

    try:
        req = trio.run(read)
    except (HeadError, h11.RemoteProtocolError):
        return ("refused",)
    assert req is not None
    length = req.header(b"content-length")
    return (
        "ok",
        req.method,
        req.target,
        bytes(req.request.http_version),
        req.headers,
        None if length is None else int(length),
        req.header(b"transfer-encoding") is not None,
        req.keep_alive,
    )


def native_request(buf: bytes, limit: int) -> tuple[Any, ...]:
    try:
        got = _native.http_request_head(buf, limit)
    except _native.HttpHeadError:
        return ("refused",)
    if got is None:
        return ("incomplete",)
    _start, _end, method, target, version, headers, length, chunked, keep = got
    return (
        "ok",
        method.decode("ascii").upper(),
        target.decode("ascii"),
        version,
        [(k.lower(), v) for k, v in headers],
        length,
        chunked,
        keep,
    )


REQUEST_LINES = st.one_of(
    st.sampled_from(
        [
            b"GET / HTTP/1.1",
            b"POST /r/api/items?a=1 HTTP/1.1",
            b"get /x HTTP/1.0",
            b"GET / HTTP/2.0",
            b"GET  / HTTP/1.1",
            b"GET / http/1.1",
            b"GET /\x80 HTTP/1.1",
            b" GET / HTTP/1.1",
            b"G(T / HTTP/1.1",
            b"OPTIONS * HTTP/1.1",
            b"GET / HTTP/1.1 ",
            b"GET / HTTP/1.12",
            b"GET /",
            b"",
        ]
    ),
    st.builds(
        lambda m, t, v: m + b" " + t + b" HTTP/" + v,
        st.binary(min_size=0, max_size=4),
        st.binary(min_size=0, max_size=6),
        st.sampled_from([b"1.1", b"1.0", b"0.9", b"1.x", b"11"]),
    ),
)


@st.composite
def request_heads(draw: st.DrawFn) -> bytes:
    out = bytearray(draw(LEADS) + draw(REQUEST_LINES) + b"\r\n")
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 15)) == 0:
            out += draw(st.sampled_from([b" folded", b"\tfolded", b"no colon"])) + b"\r\n"
            continue
        out += draw(NAMES) + draw(COLONS) + draw(VALUES) + draw(EOLS)
    out += b"\r\n" + draw(TAILS)
    return bytes(mutate(draw, out))


SMUGGLING = [
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nHost: other\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 300 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 300,
    b"\r\n\r\n",
]


@pytest.mark.parametrize("head", SMUGGLING)
def test_the_smuggling_shapes_read_alike(head: bytes) -> None:
    assert native_request(head, LIMIT) == python_request(head, LIMIT)


def test_the_refusals_are_refusals() -> None:
    """Not both accepting: the curated refusals are refused by both."""
    refused = [h for h in SMUGGLING[:11] if python_request(h, LIMIT) == ("refused",)]
    assert len(refused) == 11
    assert all(native_request(h, LIMIT) == ("refused",) for h in refused)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(request_heads())
@example(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 007\r\n\r\n")
@example(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ChunKed \r\n\r\n")
def test_request_heads_read_alike(head: bytes) -> None:
    assert native_request(head, LIMIT) == python_request(head, LIMIT)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_read_alike(buf: bytes) -> None:
    assert native_request(buf, LIMIT) == python_request(buf, LIMIT)


# -- responses -------------------------------------------------------------------------


def python_response(buf: bytes, method: bytes) -> tuple[Any, ...]:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    if buf:  # h11 reads no bytes as the connection's end
        conn.receive_data(buf)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return ("refused",)
    if event is h11.NEED_DATA:
        return ("incomplete",)
    assert isinstance(event, (h11.Response, h11.InformationalResponse))
    fields = (
        "ok",
        bytes(event.http_version),
        event.status_code,
        bytes(event.reason),
        [(k.lower(), v) for k, v in event.headers.raw_items()],
        len(buf) - len(conn.trailing_data[0]),
    )
    if isinstance(event, h11.InformationalResponse):
        return fields
    reader = conn._reader
    if isinstance(reader, h11._readers.ChunkedReader):
        framing: tuple[str, int | None] = ("chunked", None)
    elif isinstance(reader, h11._readers.ContentLengthReader):
        framing = ("length", reader._length)
    else:
        framing = ("close", None)
    return (*fields, framing, _keep_alive(event))


def native_response(buf: bytes, method: bytes) -> tuple[Any, ...]:
    try:
        got = _native.http_response_head(buf, 16384, method)
    except _native.HttpHeadError:
        return ("refused",)
    if got is None:
        return ("incomplete",)
    end, version, status, reason, headers, framing, length, keep = got
    fields = ("ok", version, status, reason, [(k.lower(), v) for k, v in headers], end)
    if status < 200:
        return fields
    return (*fields, (framing, length), keep)


STATUS_LINES = st.one_of(
    st.sampled_from(
        [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.0 204",
            b"HTTP/1.1 304 ",
            b"HTTP/1.1 100 Continue",
            b"HTTP/1.1 099 Low",
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 200 O\x0bK",
            b"HTTP/1.1 200\tOK",
            b"HTTP/2 200",
            b"http/1.1 200 OK",
            b"HTTP/1.1 999 Z",
            b"HTTP/1.1 200 \x80\x01\x7f",
            b" HTTP/1.1 200 OK",
            b"",
        ]
    ),
    st.builds(
        lambda v, s, r: b"HTTP/" + v + b" " + s + r,
        st.sampled_from([b"1.1", b"1.0", b"2.0"]),
        st.sampled_from([b"200", b"101", b"404", b"2x0", b"1000"]),
        st.one_of(st.just(b""), st.binary(max_size=6).map(lambda r: b" " + r)),
    ),
)


@st.composite
def response_heads(draw: st.DrawFn) -> bytes:
    eol = st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r", b"\r\r\n"])
    out = bytearray(draw(STATUS_LINES) + draw(eol))
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 10)) == 0:
            out += draw(st.sampled_from([b" folded", b"\t more", b"  "])) + draw(eol)
            continue
        out += draw(NAMES) + draw(COLONS) + draw(VALUES) + draw(eol)
    out += draw(st.sampled_from([b"\r\n", b"\n"])) + draw(TAILS)
    return bytes(mutate(draw, out))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(response_heads(), st.sampled_from([b"GET", b"HEAD", b"POST"]))
@example(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", b"GET")
@example(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nTransfer-Encoding: chunked\r\n\r\n", b"GET")
@example(b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", b"GET")
def test_response_heads_read_alike(head: bytes, method: bytes) -> None:
    assert native_response(head, method) == python_response(head, method)


def test_a_long_incomplete_response_head_is_refused_by_both() -> None:
    head = b"HTTP/1.1 200 OK\r\nX: " + b"a" * 17000
    assert native_response(head, b"GET") == python_response(head, b"GET") == ("refused",)
