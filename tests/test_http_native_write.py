"""The heads the native writer makes (``limen_wire::http::write_request_head``
and ``write_response_head``, through ``limen._native``) against the ones the
Python relay sends today: ``request_headers`` / ``response_headers`` and
then h11's writer (``parsed_request`` on the upstream's client connection,
``parsed_response`` on the client's server connection). Any head both read
alike (``test_http_native_heads.py``), with any credential, masked or not,
gives the same bytes and the same body framing."""

from __future__ import annotations

from typing import Any

import h11
import pytest
import trio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from http_native_support import COLONS, NAMES, VALUES
from limen import _native
from limen.gateway.http.deferred import (
    APPROVAL_HEADER,
    is_status_request,
    wants_async,
)
from limen.gateway.http.headers import (
    header_pairs,
    parsed_request,
    parsed_response,
    request_headers,
    response_headers,
)
from limen.gateway.http.reader import ClientReader
from limen.gateway.http.upgrade import upgrade_of


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.parts = [data]

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return self.parts.pop() if self.parts else b""


def python_upstream(
    head: bytes, target: bytes, host: bytes, credential: tuple[bytes, bytes] | None, masked: bool
) -> bytes:
    async def read() -> Any:
        return await ClientReader(_Bytes(head), 65536, 1 << 20).next_request()  # type: ignore[arg-type]

    req = trio.run(read)
    headers = request_headers(
        req.headers,
        host=host,
        credential=credential,
        content_length=req.header(b"content-length"),
        chunked=req.header(b"transfer-encoding") is not None,
        masked=masked,
    )
    conn = h11.Connection(h11.CLIENT)
    return conn.send(parsed_request(req.method, target, headers)) or b""


def python_client(
    head: bytes, method: bytes, masked: bool, length: int | None
) -> tuple[bytes, str, int | None]:
    up = h11.Connection(h11.CLIENT)
    up.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    up.send(h11.EndOfMessage())
    up.receive_data(head)
    event = up.next_event()
    assert isinstance(event, h11.Response)
    server = h11.Connection(h11.SERVER)
    server.receive_data(method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert isinstance(server.next_event(), h11.Request)
    headers = response_headers(header_pairs(event.headers), masked=masked)
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    out = server.send(parsed_response(event.status_code, headers, bytes(event.reason))) or b""
    writer = server._writer
    if isinstance(writer, h11._writers.ChunkedWriter):
        return out, "chunked", None
    assert isinstance(writer, h11._writers.ContentLengthWriter)
    return out, "length", writer._length


@st.composite
def keep_alive_requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"post", b"DELETE", b"HEAD"]))
    out = bytearray(method + b" /a?b=1 HTTP/1.1\r\nHost: client.example\r\n")
    names = st.one_of(
        NAMES,
        st.sampled_from(
            [
                b"Authorization",
                b"Expect",
                b"Limen-Approval",
                b"Keep-Alive",
                b"TE",
                b"Upgrade",
                b"X-Api-Key",
                b"Accept-Encoding",
                b"X-Drop",
            ]
        ),
    )
    for _ in range(draw(st.integers(0, 8))):
        name = draw(names)
        if name.lower() == b"connection":
            value = draw(st.sampled_from([b"keep-alive", b"x-drop, Keep-Alive", b" X-Api-Key "]))
        else:
            value = draw(VALUES)
        out += name + draw(COLONS) + value + b"\r\n"
    return bytes(out + b"\r\n")


CREDENTIALS = st.sampled_from(
    [None, (b"authorization", b"Bearer s3cret"), (b"x-api-key", b"k"), (b"x-drop", b"v a")]
)


@settings(
    max_examples=400, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(keep_alive_requests(), CREDENTIALS, st.booleans())
@example(
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\nConnection: x-a\r\nX-A: 1\r\n\r\n",
    None,
    True,
)
def test_upstream_requests_are_written_alike(
    head: bytes, credential: tuple[bytes, bytes] | None, masked: bool
) -> None:
    try:
        got = _native.http_request_head(head, 65536)
    except _native.HttpHeadError:
        got = None
    if got is None or not got[8]:  # refused, or not kept alive: not the native path's
        return
    head = head[: got[1]]  # what follows the head is the next request's, not this one's
    target = b"/base/a?b=1"
    host = b"api.example:8443"
    native = _native.http_upstream_request(head, target, host, credential, masked)
    assert native == python_upstream(head, target, host, credential, masked)


@pytest.mark.parametrize(
    "credential", [(b"host", b"x"), (b"content-length", b"1"), (b"x-a", b"a\r\nb"), (b"x a", b"v")]
)
def test_a_credential_the_writer_cannot_send_is_refused(credential: tuple[bytes, bytes]) -> None:
    with pytest.raises(ValueError, match="upstream header"):
        _native.http_upstream_request(
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b"/", b"h", credential, False
        )


RESPONSES = st.builds(
    lambda status, fields: status + b"".join(n + b": " + v + b"\r\n" for n, v in fields) + b"\r\n",
    st.sampled_from(
        [b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 204 No\r\n", b"HTTP/1.1 304 \r\n", b"HTTP/1.0 404\r\n"]
    ),
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    b"Content-Length",
                    b"Transfer-Encoding",
                    b"Connection",
                    b"Keep-Alive",
                    b"Set-Cookie",
                    b"X-Gone",
                    b"Host",
                    b"Content-Type",
                ]
            ),
            st.sampled_from([b"12", b"0", b"chunked", b"close, X-Gone", b"a=b", b"text/plain"]),
        ),
        max_size=6,
    ),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    RESPONSES,
    st.sampled_from([b"GET", b"HEAD", b"POST"]),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 70000)),
)
def test_client_responses_are_written_alike(
    head: bytes, method: bytes, masked: bool, length: int | None
) -> None:
    try:
        parsed = _native.http_response_head(head, 16384, method)
    except _native.HttpHeadError:
        return  # h11 refuses it too (test_http_native_heads.py): never written
    assert parsed is not None
    if not masked:
        length = None  # only a masked body is buffered and given a new length
    native = _native.http_client_response(head, method, masked, length)
    assert native == python_client(head, method, masked, length)


# -- which requests the native relay hands back --------------------------------------------


@st.composite
def any_requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"connect", b"POST"]))
    target = draw(
        st.sampled_from(
            [b"/a", b"/.well-known/limen/approvals/x?y", b"/r/api/.well-known/limen/", b"*"]
        )
    )
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.0"]))
    out = bytearray(method + b" " + target + b" HTTP/" + version + b"\r\nHost: h\r\n")
    fields = st.tuples(
        st.sampled_from(
            [b"Connection", b"Upgrade", b"Expect", b"Prefer", b"Limen-Approval", b"X-A"]
        ),
        st.sampled_from(
            [
                b"close",
                b"Upgrade, keep-alive",
                b"keep-alive",
                b"websocket",
                b"100-continue",
                b"respond-async, wait=5",
                b"wait=5",
                b"ap-1",
                b"",
            ]
        ),
    )
    for name, value in draw(st.lists(fields, max_size=4)):
        out += name + b": " + value + b"\r\n"
    return bytes(out + b"\r\n")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(any_requests())
@example(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
def test_what_python_treats_apart_is_handed_back(head: bytes) -> None:
    async def read() -> Any:
        return await ClientReader(_Bytes(head), 65536, 1 << 20).next_request()  # type: ignore[arg-type]

    req = trio.run(read)
    special = (
        not req.keep_alive
        or req.method == "CONNECT"
        or upgrade_of(req) is not None
        or req.conn.they_are_waiting_for_100_continue
        or req.header(b"expect") is not None
        or wants_async(req)
        or req.header(APPROVAL_HEADER) is not None
        or is_status_request(req)
    )
    reason = _native.http_hand_back_reason(head)
    if special:
        assert reason is not None
    if head == b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n":
        assert reason is None  # the plain exchange is the native relay's
