"""HTTP policy without servers: path normalisation (examples and
properties), method/path routes, the raw head checks (against h11's own
reading), the request reader on any bytes (the parser boundary, fuzzed
with hypothesis), and the http keys of the config."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import h11
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from limen.config import ConfigError, load_config_text
from limen.gateway.http.head import HeadError, check_head, split_head
from limen.gateway.http.reader import ClientReader
from limen.policy.http import Path, PathError, classify, compile_route, normalise, paths
from limen.policy.http.routes import RouteError

# -- paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        ("/", "/", None),
        ("/a/b?x=1&y=%2F", "/a/b", "x=1&y=%2F"),
        ("/a/%2e%2e/b", "/b", None),
        ("/a/%2E%2e/b", "/b", None),
        ("/a//b///c", "/a/b/c", None),
        ("/a/./b/.", "/a/b", None),
        ("/a;x=1/b;y", "/a/b", None),
        ("/%61dmin", "/admin", None),
        ("/caf%C3%A9", "/caf%C3%A9", None),
        ("/a b", "/a%20b", None),
        ("/x/..", "/", None),
        ("/a?", "/a", ""),
    ],
)
def test_paths_normalise(target: str, path: str, query: str | None) -> None:
    got = normalise(target)
    assert got.path == path
    assert got.query == query


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("/a%2Fb", "encoded slash"),
        ("/a%2fb", "encoded slash"),
        ("/a%5Cb", "backslash"),
        ("/a\\b", "backslash"),
        ("/a%00", "control character"),
        ("/a%zz", "two hex digits"),
        ("/a%", "two hex digits"),
        ("/%252e%252e/x", "doubly encoded"),
        ("/%ff", "UTF-8"),
        ("/..", "above"),
        ("/a/../..", "above"),
        ("a/b", "not a path"),
        ("*", "not a path"),
        ("/a#f", "fragment"),
    ],
)
def test_ambiguous_paths_are_refused(target: str, why: str) -> None:
    with pytest.raises(PathError, match=why):
        normalise(target)


PIECES = ["a", "admin", "..", ".", "", "%2e", "%2E%2e", ";x=1", "%41", "%2F", "%25", "%", "~", "é"]


@given(st.lists(st.sampled_from(PIECES), max_size=8), st.booleans())
def test_normalising_is_idempotent_and_canonical(pieces: list[str], query: bool) -> None:
    target = "/" + "/".join(pieces) + ("?q=%2F" if query else "")
    try:
        first = normalise(target)
    except PathError:
        return
    again = normalise(first.target)
    assert again == first
    canonical = first.path
    assert "//" not in canonical
    assert ";" not in canonical
    assert "%2F" not in canonical.upper()
    assert ".." not in canonical.split("/")
    assert "." not in canonical.split("/")[1:]


def _reading(target: str, normaliser: Callable[[str], Path]) -> tuple[object, ...]:
    """What a normaliser makes of ``target``: the path, or the refusal."""
    try:
        got = normaliser(target)
    except PathError as exc:
        return ("refused", str(exc))
    fresh = "/" + "/".join(quote(s, safe=paths._SAFE) for s in got.segments)
    return (got.segments, got.query, got.path, got.target, fresh)


@given(
    st.lists(st.sampled_from(PIECES), max_size=8),
    st.sampled_from(["", "?", "?q=%2F", "#f"]),
    st.integers(min_value=0, max_value=600),
)
def test_remembered_paths_read_as_the_uncached_normaliser(
    pieces: list[str], tail: str, pad: int
) -> None:
    """The memo of :func:`normalise` (short targets) against the normaliser
    itself, asked first or second, on short and long targets alike."""
    target = "/" + "/".join(pieces) + "/" + "a" * pad + tail
    uncached = _reading(target, paths._normalise)
    assert _reading(target, normalise) == uncached
    assert _reading(target, normalise) == uncached  # remembered now (when short)
    assert _reading(target, paths._normalise) == uncached


# -- routes --------------------------------------------------------------------------


def test_routes_match_method_and_named_segments() -> None:
    routes = [
        compile_route(["delete"], "/**", "admin"),
        compile_route(["POST"], "/search/{index}", "read"),
        compile_route([], "/users/{id}/keys/**", "admin"),
        compile_route(["GET"], "/files/*/raw", "write"),
    ]
    search = classify("POST", ["search", "users"], routes)
    assert (search.klass, search.params) == ("read", {"index": "users"})
    assert search.classification.commands == ("POST /search/{index}",)
    assert classify("POST", ["search", "users", "more"], routes).klass == "write"  # default
    assert classify("DELETE", ["anything", "at", "all"], routes).klass == "admin"
    keys = classify("GET", ["users", "7", "keys"], routes)
    assert (keys.klass, keys.params) == ("admin", {"id": "7"})
    assert classify("GET", ["users", "7", "keys", "a", "b"], routes).klass == "admin"
    assert classify("GET", ["users", "7"], routes).klass == "read"
    assert classify("GET", ["files", "x", "raw"], routes).klass == "write"
    assert classify("HEAD", ["files", "x", "raw"], routes).klass == "read"
    assert classify("OPTIONS", [], routes).klass == "read"
    assert classify("PATCH", [], []).klass == "write"


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("users", "starts with /"),
        ("/a/**/b", "last segment"),
        ("/a/{x", "name"),
        ("/a/{1x}", "name"),
        ("/a/{x}/{x}", "twice"),
        ("/a/b*", "whole segments"),
        ("/a;b", "whole segments"),
    ],
)
def test_bad_route_patterns_are_refused(pattern: str, why: str) -> None:
    with pytest.raises(RouteError, match=why):
        compile_route([], pattern, "read")


# -- heads -------------------------------------------------------------------------


def test_split_head_skips_empty_lines_and_caps_the_size() -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert split_head(b"\r\n\r\n" + head + b"rest", 100) == (4, 4 + len(head))
    assert split_head(b"GET / HTTP/1.1\r\nHost: a\r\n", 100) is None
    with pytest.raises(HeadError, match="longer than 10"):
        split_head(b"GET /aaaaaaaaaaaaaaaa", 10)


HEADER_LINES = st.sampled_from(
    [
        b"Content-Length: 3",
        b"Content-Length: 4",
        b"Content-Length: 3, 3",
        b"Transfer-Encoding: chunked",
        b"Transfer-Encoding: identity",
        b"Host: a",
        b"Host: b",
        b" folded",
        b"\tfolded",
        b"X-A: 1",
        b"X-A : 1",
        b"X-B: 2\nX-C: 3",
    ]
)


@given(st.lists(HEADER_LINES, max_size=6))
def test_an_accepted_head_has_one_reading(lines: list[bytes]) -> None:
    """Whatever check_head accepts, h11 reads with one framing header at
    most, and one Host: no second reading for a back end to pick."""
    head = b"\r\n".join([b"POST /r/api/x HTTP/1.1", *lines]) + b"\r\n\r\n"
    try:
        check_head(head)
    except HeadError:
        return
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(head)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return  # h11 refuses it too (no Host, ...)
    assert isinstance(event, h11.Request)
    names = [bytes(k) for k, _v in event.headers]
    framing = names.count(b"content-length") + names.count(b"transfer-encoding")
    assert framing <= 1
    assert names.count(b"host") == 1
    raw_lines = head[:-4].split(b"\r\n")[1:]
    assert len(raw_lines) == len(event.headers)  # nothing folded or merged


# -- config ------------------------------------------------------------------------

BASE = """
[listeners]
http = "127.0.0.1:0"
[[rules]]
name = "r"
groups = ["ci"]
resources = ["api"]
allow = ["read"]
"""


def resource(extra: str, protocol: str = "http", upstream: str = "https://api.example/v1") -> str:
    return (
        BASE
        + f"""
[[resources]]
name = "api"
protocol = "{protocol}"
upstream = "{upstream}"
password_env = "API_KEY"
{extra}
"""
    )


def test_http_keys_are_accepted() -> None:
    config = load_config_text(
        resource(
            'http_auth = "header:X-Api-Key"\n'
            '[[resources.http_routes]]\nmethods = ["DELETE"]\npath = "/users/{id}"\nclass = "admin"'
        )
    )
    (res,) = config.resources
    assert res.http_auth == "header:X-Api-Key"
    assert res.http_routes[0].klass == "admin"
    assert res.http_routes[0].methods == ["DELETE"]


@pytest.mark.parametrize(
    ("extra", "protocol", "upstream", "why"),
    [
        ('http_auth = "digest"', "http", "https://a/b", "http_auth"),
        ('http_auth = "basic"', "http", "https://a/b", "user"),
        ('http_auth = "header:Bad Name"', "http", "https://a/b", "header name"),
        ('http_auth = "bearer"', "postgres", "127.0.0.1:5432", "only http resources"),
        (
            '[[resources.http_routes]]\npath = "/a/**/b"\nclass = "read"',
            "http",
            "https://a",
            "last segment",
        ),
        (
            '[[resources.http_routes]]\npath = "/a"\nclass = "sometimes"',
            "http",
            "https://a",
            "class",
        ),
    ],
)
def test_bad_http_keys_are_refused(extra: str, protocol: str, upstream: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        load_config_text(resource(extra, protocol, upstream))


# -- the reader on any bytes ---------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        b"GET /r/api/x HTTP/1.1\r\n",
        b"POST /r/api/x HTTP/1.1\r\n",
        b"GET /r/api/x HTTP/1.0\r\n",
        b"Host: a\r\n",
        b"Content-Length: 3\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b" folded\r\n",
        b"X: y\n",
        b"\r\n",
        b"abc",
        b"3\r\nabc\r\n",
        b"0\r\n\r\n",
        b"zz\r\n",
        b"\x00\xff",
    ]
)


@given(st.lists(FRAGMENTS, max_size=12), st.integers(min_value=1, max_value=7))
def test_the_reader_refuses_or_reads_any_bytes(fragments: list[bytes], cut: int) -> None:
    """Whatever a client sends, in whatever pieces, the reader returns
    requests whose heads passed the raw checks, or refuses with HeadError
    or h11's RemoteProtocolError: no other exception."""
    data = b"".join(fragments)

    async def run() -> None:
        client, server = trio.testing.memory_stream_pair()
        for i in range(0, len(data), cut):
            await client.send_all(data[i : i + cut])
        await client.send_eof()
        reader = ClientReader(server, 256, 1024)
        try:
            while (req := await reader.next_request()) is not None:
                assert req.method in ("GET", "POST")
                async for _chunk in reader.body(req):
                    pass
        except (HeadError, h11.RemoteProtocolError):
            return

    trio.run(run)
