"""The heads limen sends without h11's per-header regexes
(:func:`limen.gateway.http.headers.parsed_request` and ``parsed_response``)
against the ones h11 makes with them, and the headers as limen reads them
from h11's events (``header_pairs``) against h11's own iteration: any
head h11's parser accepts from a client (or an upstream), framed again the
way the relay does, gives the same bytes and pairs both ways; and the
values that do not come from a parser (the upstream's Host, the
credential) are checked once, when the session opens its upstream, so a
bad one never reaches a request."""

from __future__ import annotations

import os

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from limen.config import load_config_text
from limen.gateway import JsonLog, Services
from limen.gateway.http.headers import (
    checked_header,
    header_pairs,
    parsed_request,
    parsed_response,
    request_headers,
    response_headers,
)
from limen.gateway.http.upstream import Upstream
from limen.gateway.session import SessionEnd
from limen.identity import Authenticator, StaticKeys

NAMES = st.sampled_from(
    [
        b"Accept",
        b"X-Trace",
        b"content-length",
        b"Transfer-Encoding",
        b"Connection",
        b"X-Api-Key",
        b"Authorization",
        b"Expect",
        b"Te",
        b"Keep-Alive",
        b"Cookie",
        b"x_under",
        b"Bad Name",
        b"",
    ]
)
VALUES = st.one_of(
    st.sampled_from([b"1", b"0", b"chunked", b"close", b"keep-alive, x-trace", b"", b" a b "]),
    st.binary(max_size=12),
)
HEAD_LINES = st.lists(st.tuples(NAMES, VALUES), max_size=8)


def _parse(role: type[h11.SERVER] | type[h11.CLIENT], head: bytes) -> h11.Event | None:
    """What h11's parser makes of ``head``; None when it refuses it."""
    conn = h11.Connection(role)
    if role is h11.CLIENT:
        conn.send(h11.Request(method=b"GET", target=b"/", headers=[(b"host", b"x")]))
    conn.receive_data(head)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    return event if isinstance(event, (h11.Request, h11.Response)) else None


def _bytes_of(role: type[h11.CLIENT] | type[h11.SERVER], event: h11.Event) -> bytes:
    conn = h11.Connection(role)
    if role is h11.SERVER:
        conn.receive_data(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        conn.next_event()
    return conn.send(event) or b""


def _lines(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(k + b": " + v + b"\r\n" for k, v in pairs)


@given(HEAD_LINES, st.sampled_from([b"/a?b=1", b"/%41/b", b"*", b"/x y"]), st.booleans())
def test_a_parsed_request_is_sent_as_h11_would_send_it(
    pairs: list[tuple[bytes, bytes]], target: bytes, masked: bool
) -> None:
    head = b"GET " + target + b" HTTP/1.1\r\nHost: c\r\n" + _lines(pairs) + b"\r\n"
    parsed = _parse(h11.SERVER, head)
    if not isinstance(parsed, h11.Request):
        return  # the reader refuses it: it never reaches the relay
    assert header_pairs(parsed.headers) == [(bytes(k), bytes(v)) for k, v in parsed.headers]
    headers = request_headers(
        [(bytes(k), bytes(v)) for k, v in parsed.headers],
        host=b"upstream.example:8080",
        credential=(b"x-api-key", b"k-123"),
        content_length=None,
        chunked=any(k == b"transfer-encoding" for k, _ in parsed.headers),
        masked=masked,
    )
    up_target = b"/base" + bytes(parsed.target)
    try:
        checked = h11.Request(method=b"GET", target=up_target, headers=headers)
    except h11.LocalProtocolError as exc:
        with pytest.raises(h11.LocalProtocolError, match=str(exc)[:20]):
            parsed_request("GET", up_target, headers)
        return
    fast = parsed_request("GET", up_target, headers)
    assert _bytes_of(h11.CLIENT, fast) == _bytes_of(h11.CLIENT, checked)
    assert list(fast.headers) == list(checked.headers)


@given(HEAD_LINES, st.sampled_from([200, 204, 301, 404, 500]), st.booleans())
def test_a_parsed_response_is_sent_as_h11_would_send_it(
    pairs: list[tuple[bytes, bytes]], status: int, masked: bool
) -> None:
    head = f"HTTP/1.1 {status} Some Reason\r\n".encode() + _lines(pairs) + b"\r\n"
    parsed = _parse(h11.CLIENT, head)
    if not isinstance(parsed, h11.Response):
        return  # the upstream's head is refused: a 502, nothing relayed
    assert header_pairs(parsed.headers) == [(bytes(k), bytes(v)) for k, v in parsed.headers]
    headers = response_headers(parsed.headers, masked=masked)
    if masked:
        headers.append((b"content-length", b"42"))
    reason = bytes(parsed.reason)
    try:
        checked = h11.Response(status_code=status, headers=headers, reason=reason)
    except h11.LocalProtocolError as exc:
        with pytest.raises(h11.LocalProtocolError, match=str(exc)[:20]):
            parsed_response(status, headers, reason)
        return
    fast = parsed_response(status, headers, reason)
    assert _bytes_of(h11.SERVER, fast) == _bytes_of(h11.SERVER, checked)


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        (b"x-api-key", b"k-123", True),
        (b"authorization", b"Bearer abc.def", True),
        (b"host", b"upstream.example:8080", True),
        (b"x-api-key", b"k\r\nX-Injected: 1", False),
        (b"x-api-key", b"k\n", False),
        (b"x-api-key", b"k\x00", False),
        (b"x api key", b"k", False),
        (b"host", b"a\r\nb", False),
    ],
)
def test_values_from_the_config_are_checked_once(name: bytes, value: bytes, ok: bool) -> None:
    if ok:
        checked_header(name, value)
    else:
        with pytest.raises(h11.LocalProtocolError):
            checked_header(name, value)


def test_an_upstream_whose_credential_is_not_a_header_value_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_config_text(
        """
        [[resources]]
        name = "api"
        protocol = "http"
        upstream = "http://127.0.0.1:9/base"
        password_env = "LIMEN_TEST_BAD_KEY"
        http_auth = "header:X-Api-Key"
        """
    )
    log = JsonLog(open(os.devnull, "w"))  # noqa: SIM115
    services = Services(config, Authenticator([], StaticKeys(())), log=log)
    resource = config.resource("api")
    assert resource is not None
    monkeypatch.setenv("LIMEN_TEST_BAD_KEY", "good-key")
    assert Upstream(services, resource).credential == (b"x-api-key", b"good-key")
    monkeypatch.setenv("LIMEN_TEST_BAD_KEY", "bad\rX-Injected: 1")
    with pytest.raises(SessionEnd) as info:
        Upstream(services, resource)
    assert info.value.code == "08006"
    assert "Injected" not in str(info.value)
