"""Small parts of the HTTP driver without servers: the upstream URL, the
credential header of each ``http_auth``, the headers limen forwards and
records, and its problem documents."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen.config import Resource, Secret, load_config_text
from limen.gateway.http.headers import (
    head_text,
    request_headers,
    response_headers,
    secret_name,
    target_text,
)
from limen.gateway.http.problem import problem_bytes, unauthorized
from limen.gateway.http.upstream import credential_header, parse_target


@pytest.mark.parametrize(
    ("url", "tls", "host", "port", "base", "header"),
    [
        ("http://api.internal/v1/", False, "api.internal", 80, "/v1", b"api.internal"),
        ("https://api.example:8443", True, "api.example", 8443, "", b"api.example:8443"),
        ("https://api.example:443/x", True, "api.example", 443, "/x", b"api.example"),
        ("http://[::1]:8080/", False, "::1", 8080, "", b"[::1]:8080"),
    ],
)
def test_upstream_urls(url: str, tls: bool, host: str, port: int, base: str, header: bytes) -> None:
    target = parse_target(url)
    assert (target.tls, target.host, target.port, target.base, target.host_header) == (
        tls,
        host,
        port,
        base,
        header,
    )


def resource(auth: str | None, user: str | None = None) -> Resource:
    extra = (f'http_auth = "{auth}"\n' if auth else "") + (f'user = "{user}"\n' if user else "")
    config = load_config_text(
        f"""
[[resources]]
name = "api"
protocol = "http"
upstream = "https://api.example"
password_env = "X"
{extra}"""
    )
    return config.resources[0]


def test_each_http_auth_gives_its_header() -> None:
    secret = Secret("s3cr3t", "test")
    assert credential_header(resource(None), secret) == (b"authorization", b"Bearer s3cr3t")
    assert credential_header(resource("bearer"), secret) == (b"authorization", b"Bearer s3cr3t")
    basic = credential_header(resource("basic", "svc"), secret)
    assert basic is not None
    name, value = basic
    assert name == b"authorization"
    assert base64.b64decode(value.removeprefix(b"Basic ")) == b"svc:s3cr3t"
    assert credential_header(resource("header:X-Api-Key"), secret) == (b"x-api-key", b"s3cr3t")
    assert credential_header(resource("bearer"), None) is None


def test_forwarded_headers_lose_the_token_hop_by_hop_and_the_bots_credential() -> None:
    sent = [
        (b"authorization", b"Bearer bot-token"),
        (b"connection", b"keep-alive, x-private"),
        (b"x-private", b"1"),
        (b"x-api-key", b"bot-chosen"),
        (b"host", b"gw"),
        (b"expect", b"100-continue"),
        (b"accept-encoding", b"gzip"),
        (b"content-length", b"3"),
        (b"accept", b"application/json"),
    ]
    out = request_headers(
        sent,
        host=b"api.example",
        credential=(b"x-api-key", b"real"),
        content_length=b"3",
        chunked=False,
        masked=True,
    )
    assert out == [
        (b"host", b"api.example"),
        (b"accept", b"application/json"),
        (b"content-length", b"3"),
        (b"accept-encoding", b"identity"),
        (b"x-api-key", b"real"),
    ]
    back = response_headers(
        [(b"Content-Length", b"10"), (b"Transfer-Encoding", b"chunked"), (b"X-A", b"1")],
        masked=True,
    )
    assert back == [(b"x-a", b"1")]


def test_recorded_heads_redact_secrets() -> None:
    text = head_text(
        b"GET /x HTTP/1.1",
        [(b"authorization", b"Bearer t"), (b"cookie", b"a=b"), (b"x-api-key", b"k"), (b"a", b"1")],
        secret=b"x-api-key",
    )
    assert text == (
        b"GET /x HTTP/1.1\r\nauthorization: [redacted]\r\ncookie: [redacted]\r\n"
        b"x-api-key: [redacted]\r\na: 1\r\n\r\n"
    )


def test_a_401_says_how_to_get_a_token_and_a_head_answer_has_no_body() -> None:
    doc, headers = unauthorized('token refused (expired): "old"')
    data = problem_bytes(doc, headers, close=True)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"connection: close" in head
    assert b"error_description=\"token refused (expired): 'old'" in head
    assert json.loads(body)["hint"].startswith("send Authorization: Bearer TOKEN")
    head_only = problem_bytes(doc, headers, close=True, head=True)
    assert head_only.endswith(b"\r\n\r\n")
    assert f"content-length: {len(body)}".encode() in head_only


# -- what the recording keeps of a request target --------------------------------


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        (b"/a/b", b"/a/b"),
        (b"/a?page=2&sort=name", b"/a?page=2&sort=name"),
        (b"/a?token=t1&x=1", b"/a?token=[redacted]&x=1"),
        (b"/a?x=1;api_key=k1", b"/a?x=1;api_key=[redacted]"),
        (b"/a?Client%2DSecret=c1", b"/a?Client%2DSecret=[redacted]"),
        (b"/a?pass+word=p1", b"/a?pass+word=[redacted]"),
        (b"/a?X-Amz-Signature=abc&X-Amz-Date=1", b"/a?X-Amz-Signature=[redacted]&X-Amz-Date=1"),
    ],
)
def test_secret_query_values_are_redacted(target: bytes, kept: bytes) -> None:
    assert target_text(target) == kept


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["token", "api_key", "access-token", "password", "apiKey", "sig"]),
    value=st.text(alphabet="abcdefXYZ0123456789-._~%+", min_size=1, max_size=20),
    before=st.text(alphabet="abc=&;", max_size=10),
)
def test_a_secret_query_value_never_survives(name: str, value: str, before: str) -> None:
    planted = "PLANTED" + value
    target = f"/p?{before}&{name}={planted}&z=1".encode()
    assert b"PLANTED" not in target_text(target)


@given(st.lists(st.binary(max_size=24) | st.sampled_from([b"X-Api-Key", b"token", b"accept"])))
def test_remembered_secret_names_answer_as_computed(names: list[bytes]) -> None:
    """secret_name is memoised: the same answers as the function itself,
    whatever the order of the names (differential)."""
    for name in names * 2:
        assert secret_name(name) == secret_name.__wrapped__(name)
    assert secret_name(b"X-Api-Key")
    assert not secret_name(b"accept")
