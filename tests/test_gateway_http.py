"""The HTTP gateway against real servers: the ASGI app of tests/http_app.py
under uvicorn and Debian's nginx (plain and TLS), with curl, httpx and raw
sockets as clients: tokens, the upstream credential, method/path policy,
holds, masking as the body streams, chunked bodies both ways, smuggling
and path-normalisation cases, keep-alive, and what is recorded."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from http_support import (
    UPSTREAM_KEY,
    App,
    HttpGw,
    Nginx,
    app,
    config_text,
    gw,
    load,
    make_certs,
    nginx,
    raw_exchange,
    start_http_gateway,
)
from limen.approvals import ApprovalHub
from limen.recording import C2U, EVENT, U2C
from limen.store import open_store

pytestmark = pytest.mark.integration
__all__ = ["app", "gw", "nginx"]

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


async def get(gw: HttpGw, path: str, token: str | None, **kw: Any) -> httpx.Response:
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    method = kw.pop("method", "GET")

    def call() -> httpx.Response:
        return httpx.request(method, gw.url(path), headers=headers, timeout=20, **kw)

    return await trio.to_thread.run_sync(call)


async def test_secret_query_parameters_and_headers_are_redacted_in_the_recording(
    gw: HttpGw,
) -> None:
    query = "/r/api/echo?page=2&api_key=qk-91f2&Access%5FToken=qt-77ab&sig=sg-3c4d"
    resp = await get(
        gw, query, gw.token(), headers={"x-api-key": "hk-5e6f", "private-token": "hk-8a9b"}
    )
    assert resp.status_code == 200
    everything = b"".join(p for _k, p in recorded(gw))
    for secret in (b"qk-91f2", b"qt-77ab", b"sg-3c4d", b"hk-5e6f", b"hk-8a9b"):
        assert secret not in everything, secret
    c2u = [p for k, p in recorded(gw) if k == C2U]
    assert c2u[0].startswith(
        b"GET /r/api/echo?page=2&api_key=[redacted]&Access%5FToken=[redacted]&sig=[redacted]"
        b" HTTP/1.1\r\n"
    )
    assert b"x-api-key: [redacted]" in c2u[0]


async def curl(*args: str, stdin: bytes | None = None) -> tuple[int, str, bytes]:
    """curl -sS -i: the status, the response head, the body."""
    proc = await trio.run_process(
        ["curl", "-sS", "-i", "--http1.1", "--max-time", "20", *args],
        capture_stdout=True,
        capture_stderr=True,
        stdin=stdin,
        check=False,
    )
    out = proc.stdout
    head, _, body = out.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, head.decode("latin-1").lower(), body


def recorded(gw: HttpGw) -> list[tuple[str, bytes]]:
    return [r for rec in gw.recorders for r in rec.records]


# -- identity --------------------------------------------------------------------


async def test_no_token_and_a_bad_token_get_401_with_a_challenge(gw: HttpGw, app: App) -> None:
    status, head, body = await curl(gw.url("/r/api/echo"))
    assert status == 401
    assert 'www-authenticate: bearer realm="limen"' in head
    assert "limen token" in head
    assert "application/problem+json" in head
    assert json.loads(body)["status"] == 401
    status, head, body = await curl(gw.url("/r/api/echo"), "-H", "Authorization: Bearer nope")
    assert status == 401
    assert "token refused" in json.loads(body)["detail"]
    assert app.seen() == []


async def test_the_credential_replaces_the_token_and_the_answer_is_masked(
    gw: HttpGw, app: App
) -> None:
    token = gw.token()
    resp = await get(gw, "/r/api/echo", token)
    assert resp.status_code == 200
    assert AWS_KEY not in resp.text
    assert "alice@example.com" not in resp.text
    assert resp.json()["user"] == "alice"  # still JSON, only the secrets changed
    (seen,) = app.seen()
    assert seen["path"] == "/base/echo"
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert token not in json.dumps(seen)
    assert headers["host"] == f"127.0.0.1:{app.port}"


async def test_a_header_credential_replaces_what_the_bot_sends(gw: HttpGw) -> None:
    token = gw.token()
    status, _head, body = await curl(
        gw.url("/r/static/whoami"), "-H", f"Authorization: Bearer {token}", "-H", "X-Api-Key: mine"
    )
    assert status == 200
    assert body == b"key accepted\n"
    # what the bot sent in the credential's header is not recorded in clear
    (head,) = [p for k, p in recorded(gw) if k == C2U and p.startswith(b"GET ")]
    assert b"x-api-key: [redacted]" in head
    assert b"mine" not in head


async def test_a_host_name_names_the_resource(gw: HttpGw, app: App) -> None:
    token = gw.token()
    status, _head, body = await curl(
        gw.url("/echo"), "-H", "Host: api.gateway.test", "-H", f"Authorization: Bearer {token}"
    )
    assert status == 200
    assert json.loads(body)["user"] == "alice"
    status, _head, _body = await curl(
        gw.url("/items/1"),
        "-H",
        "Host: api.gateway.test",
        "-X",
        "DELETE",
        "-H",
        f"Authorization: Bearer {token}",
    )
    assert status == 403
    status, _head, _body = await curl(
        gw.url("/echo"), "-H", "Host: nope.gateway.test", "-H", f"Authorization: Bearer {token}"
    )
    assert status == 404
    assert [s["path"] for s in app.seen()] == ["/base/echo"]


# -- policy ----------------------------------------------------------------------


async def test_delete_is_denied_with_a_problem_and_the_connection_goes_on(
    gw: HttpGw, app: App
) -> None:
    token = gw.token()

    def both() -> tuple[httpx.Response, httpx.Response]:
        with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=20) as client:
            denied = client.delete(gw.url("/r/api/items/1"))
            after = client.get(gw.url("/r/api/items/1"))
            return denied, after

    denied, after = await trio.to_thread.run_sync(both)
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    doc = denied.json()
    assert doc["rule"] == "ci-api"
    assert doc["class"] == "admin"
    assert doc["approvable"] is False
    assert "cannot be approved" in doc["hint"]
    assert "read" in doc["hint"]  # what is allowed here
    assert after.status_code == 200
    assert len(gw.recorders) == 1  # one connection, one session
    assert [s["method"] for s in app.seen()] == ["GET"]


async def test_a_route_with_a_named_segment_makes_a_post_a_read(gw: HttpGw, app: App) -> None:
    careful = gw.token(groups=("careful",))  # writes are held for this group
    resp = await get(gw, "/r/api/search/users", careful, method="POST", json={"q": "x"})
    assert resp.status_code == 200
    assert [s["path"] for s in app.seen()] == ["/base/search/users"]
    decisions = [json.loads(p) for k, p in recorded(gw) if k == EVENT and b"decision" in p]
    assert decisions[0]["commands"] == ["POST /search/{index}"]


@pytest.mark.parametrize(
    "path",
    [
        "/r/api/admin/users",
        "/r/api/public/%2e%2e/admin/users",
        "/r/api/public/%2E%2E/admin/users",
        "/r/api//admin//users",
        "/r/api/admin;v=1/users",
        "/r/api/./admin/users",
        "/r/api/%61dmin/users",
    ],
)
async def test_an_encoded_path_cannot_slip_past_a_rule(gw: HttpGw, app: App, path: str) -> None:
    status, _head, body = await curl(
        "--path-as-is", gw.url(path), "-H", f"Authorization: Bearer {gw.token()}"
    )
    assert status == 403
    assert json.loads(body)["class"] == "admin"
    assert app.seen() == []


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/r/api/a/%2e%2e/items", "/base/items"),
        ("/r/api//x//y", "/base/x/y"),
        ("/r/api/x;jsessionid=1/y", "/base/x/y"),
        ("/r/api/x/./y/../z", "/base/x/z"),
    ],
)
async def test_paths_go_upstream_normalised(gw: HttpGw, app: App, path: str, upstream: str) -> None:
    status, _head, _body = await curl(
        "--path-as-is", gw.url(path), "-H", f"Authorization: Bearer {gw.token()}"
    )
    assert status == 200
    assert [s["raw_path"] for s in app.seen()] == [upstream]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/r/api/a%2Fb", 400),
        ("/r/api/a%5Cb", 400),
        ("/r/api/a%00b", 400),
        ("/r/api/%252e%252e/admin", 400),
        ("/r/../../x", 400),
        ("/r/api/../../x", 404),
        ("/r/api/../other/x", 404),
        ("/r/nope/x", 404),
    ],
)
async def test_ambiguous_paths_are_refused(gw: HttpGw, app: App, path: str, status: int) -> None:
    got, head, body = await curl(
        "--path-as-is", gw.url(path), "-H", f"Authorization: Bearer {gw.token()}"
    )
    assert got == status
    assert "application/problem+json" in head
    assert json.loads(body)["status"] == status
    assert app.seen() == []


# -- holds -----------------------------------------------------------------------


@pytest.fixture
async def held(
    nursery: trio.Nursery, tmp_path: Path, app: App, nginx: Nginx, monkeypatch: pytest.MonkeyPatch
) -> tuple[HttpGw, ApprovalHub]:
    monkeypatch.setenv("LIMEN_TEST_API_KEY", UPSTREAM_KEY)
    app.reset()
    config = load(config_text(app.port, nginx), tmp_path)
    store = open_store(config.gateway.state, tmp_path)
    hub = ApprovalHub(store, poll_interval=0.05)
    await nursery.start(hub.run)
    return await start_http_gateway(nursery, config, approvals=hub), hub


async def pending_id(hub: ApprovalHub) -> str:
    with trio.fail_after(15):
        while True:
            reqs = await trio.to_thread.run_sync(hub.store.approvals)
            if reqs:
                return reqs[0].id
            await trio.sleep(0.05)


async def test_a_held_post_waits_then_goes_through_once_approved(
    held: tuple[HttpGw, ApprovalHub], app: App
) -> None:
    gw, hub = held
    careful = gw.token(subject="careful-bot", groups=("careful",))
    body = b'{"name": "new item"}'
    result: list[httpx.Response] = []
    async with trio.open_nursery() as nursery:

        async def post() -> None:
            result.append(await get(gw, "/r/api/items", careful, method="POST", content=body))

        nursery.start_soon(post)
        approval = await pending_id(hub)
        req = await trio.to_thread.run_sync(hub.store.approval, approval)
        assert req.statement == "POST /r/api/items"
        assert req.protocol == "http"
        assert app.seen() == []  # nothing upstream while it waits
        hub.store.approval_vote(approval, approver="sam", approve=True, now=time.time())
    (resp,) = result
    assert resp.status_code == 200
    (seen,) = app.seen()
    assert seen["method"] == "POST"
    assert seen["body_len"] == len(body)
    events = [json.loads(p) for k, p in recorded(gw) if k == EVENT]
    assert [e["event"] for e in events if e["event"] in ("hold", "approval")] == [
        "hold",
        "approval",
    ]


async def test_a_held_post_that_is_denied_gets_403_with_the_approval_id(
    held: tuple[HttpGw, ApprovalHub], app: App
) -> None:
    gw, hub = held
    careful = gw.token(subject="careful-bot", groups=("careful",))
    result: list[httpx.Response] = []
    async with trio.open_nursery() as nursery:

        async def post() -> None:
            result.append(await get(gw, "/r/api/items", careful, method="POST", json={"a": 1}))

        nursery.start_soon(post)
        approval = await pending_id(hub)
        hub.store.approval_vote(
            approval, approver="sam", approve=False, now=time.time(), reason="not today"
        )
    (resp,) = result
    assert resp.status_code == 403
    doc = resp.json()
    assert doc["approval"] == approval
    assert doc["rule"] == "careful-api"
    assert doc["class"] == "write"
    assert "not today" in doc["detail"]
    assert app.seen() == []


# -- bodies ------------------------------------------------------------------------


async def test_a_chunked_answer_is_masked_across_chunks(gw: HttpGw) -> None:
    status, head, body = await curl(
        gw.url("/r/api/stream"), "-H", f"Authorization: Bearer {gw.token()}"
    )
    assert status == 200
    assert "transfer-encoding: chunked" in head
    lines = body.decode().splitlines()
    assert len(lines) == 51
    assert AWS_KEY not in body.decode()
    assert "AKIA" not in lines[-1]  # the key cut across two chunks is masked whole


async def test_a_long_content_length_answer_is_masked_and_sent_chunked(
    gw: HttpGw, nginx: Nginx
) -> None:
    resp = await get(gw, "/r/static/big.txt", gw.token())
    assert resp.status_code == 200
    assert resp.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in resp.headers
    direct = (nginx.root / "big.txt").read_text()
    assert len(resp.text.splitlines()) == len(direct.splitlines())
    assert AWS_KEY not in resp.text
    assert "bob@example.org" not in resp.text
    u2c = b"".join(p for k, p in recorded(gw) if k == U2C)
    assert AWS_KEY.encode() not in u2c


async def test_a_short_content_length_answer_gets_its_new_length(gw: HttpGw) -> None:
    resp = await get(gw, "/r/static/hello.txt", gw.token())
    assert resp.text == "hello from nginx\n"
    assert int(resp.headers["content-length"]) == len(resp.content)
    assert "transfer-encoding" not in resp.headers


async def test_a_chunked_upload_reaches_nginx_whole(gw: HttpGw, nginx: Nginx) -> None:
    data = (f"upload {AWS_KEY} ".encode() + bytes(range(32, 127))) * 2000
    status, _head, _body = await curl(
        "-T",
        "-",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        f"Authorization: Bearer {gw.token()}",
        gw.url("/r/static/upload/file.bin"),
        stdin=data,
    )
    assert status == 201
    assert (nginx.root / "upload" / "file.bin").read_bytes() == data
    c2u = b"".join(p for k, p in recorded(gw) if k == C2U)
    assert AWS_KEY.encode() not in c2u  # the recording's copy is masked


async def test_keep_alive_serves_many_requests_on_one_session(gw: HttpGw, app: App) -> None:
    token = gw.token()

    def many() -> list[int]:
        with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=20) as client:
            return [client.get(gw.url(f"/r/api/items/{i}")).status_code for i in range(20)]

    assert await trio.to_thread.run_sync(many) == [200] * 20
    assert len(gw.recorders) == 1
    assert len(app.seen()) == 20


async def test_head_keeps_the_upstream_length_and_sends_no_body(gw: HttpGw, nginx: Nginx) -> None:
    resp = await get(gw, "/r/static/hello.txt", gw.token(), method="HEAD")
    assert resp.status_code == 200
    assert resp.headers["content-length"] == str(len("hello from nginx\n"))
    assert resp.content == b""


async def test_another_resource_on_the_same_connection_is_421(gw: HttpGw) -> None:
    token = gw.token()

    def two() -> tuple[int, int]:
        with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=20) as client:
            return (
                client.get(gw.url("/r/api/items/1")).status_code,
                client.get(gw.url("/r/static/hello.txt")).status_code,
            )

    assert await trio.to_thread.run_sync(two) == (200, 421)


async def test_the_listener_speaks_tls_with_its_certificate(
    nursery: trio.Nursery,
    tmp_path: Path,
    app: App,
    nginx: Nginx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIMEN_TEST_API_KEY", UPSTREAM_KEY)
    app.reset()
    certs = make_certs(tmp_path)
    text = config_text(app.port, nginx).replace(
        "[listeners]\n",
        f'[listeners]\ntls_cert = "{certs.cert}"\ntls_key = "{certs.key}"\n',
    )
    gw = await start_http_gateway(nursery, load(text, tmp_path))
    status, _head, body = await curl(
        "--cacert",
        str(certs.ca),
        f"https://localhost:{gw.port}/r/api/echo",
        "-H",
        f"Authorization: Bearer {gw.token()}",
    )
    assert status == 200
    assert json.loads(body)["user"] == "alice"
    refused, _head, _body = await curl(f"https://localhost:{gw.port}/r/api/echo")
    assert refused == 0  # curl does not trust the listener without the CA
    assert len(app.seen()) == 1
    # A client that drops its kept-alive TLS connection without close_notify
    # ends its own session only: the listener still answers.
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    raw = await trio.open_tcp_stream("127.0.0.1", gw.port)
    tls = trio.SSLStream(raw, ctx, server_hostname="localhost")
    request = (
        f"GET /r/api/echo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {gw.token()}\r\n\r\n"
    )
    await tls.send_all(request.encode())
    assert b"200" in await tls.receive_some(65536)
    await trio.aclose_forcefully(raw)  # no close_notify
    await trio.sleep(0.2)
    status, _head, body = await curl(
        "--cacert",
        str(certs.ca),
        f"https://localhost:{gw.port}/r/api/echo",
        "-H",
        f"Authorization: Bearer {gw.token()}",
    )
    assert status == 200


# -- TLS upstream -----------------------------------------------------------------


async def test_an_https_upstream_is_verified_with_the_ca_file(gw: HttpGw) -> None:
    ok = await get(gw, "/r/tls/hello.txt", gw.token())
    assert ok.status_code == 200
    assert ok.text == "hello from nginx\n"
    unknown = await get(gw, "/r/tls-unknown-ca/hello.txt", gw.token())
    assert unknown.status_code == 502
    assert "TLS" in unknown.json()["detail"]


# -- smuggling ---------------------------------------------------------------------


def request(token: str, *lines: str, body: bytes = b"") -> bytes:
    head = [*lines[:1], "Host: limen", f"Authorization: Bearer {token}", *lines[1:]]
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("lines", "body", "why"),
    [
        (
            ["POST /r/api/items HTTP/1.1", "Content-Length: 4", "Transfer-Encoding: chunked"],
            b"0\r\n\r\n",
            "both Content-Length and Transfer-Encoding",
        ),
        (
            ["POST /r/api/items HTTP/1.1", "Content-Length: 4", "Content-Length: 4"],
            b"abcd",
            "more than one Content-Length",
        ),
        (["POST /r/api/items HTTP/1.1", "Content-Length: 4, 4"], b"abcd", "Content-Length list"),
        (["GET /r/api/items HTTP/1.1", "X-A: 1", " folded"], b"", "obs-fold"),
        (["GET /r/api/items HTTP/1.1", "Host: other"], b"", "more than one Host"),
        (
            ["POST /r/api/items HTTP/1.1", "Transfer-Encoding: gzip, chunked"],
            b"0\r\n\r\n",
            "only Transfer-Encoding accepted",
        ),
        (["GET /r/api/items HTTP/1.1", "X-A : 1"], b"", "whitespace between"),
        (
            ["POST /r/api/items HTTP/1.1", "Transfer-Encoding: chunked"],
            b"zz\r\nabc\r\n0\r\n\r\n",
            "request body is refused",
        ),
    ],
)
async def test_ambiguous_requests_are_refused_and_never_forwarded(
    gw: HttpGw, app: App, lines: list[str], body: bytes, why: str
) -> None:
    answer = await raw_exchange(gw.port, request(gw.token(), *lines, body=body))
    assert answer.startswith(b"HTTP/1.1 400 ")
    _head, _, doc = answer.partition(b"\r\n\r\n")
    assert why in json.loads(doc)["detail"]
    assert app.seen() == []


async def test_a_bare_lf_head_is_refused(gw: HttpGw, app: App) -> None:
    data = f"GET /r/api/items HTTP/1.1\nHost: x\nAuthorization: Bearer {gw.token()}\r\n\r\n"
    answer = await raw_exchange(gw.port, data.encode())
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert app.seen() == []


async def test_a_pipelined_second_request_is_checked_too(gw: HttpGw, app: App) -> None:
    token = gw.token()
    good = request(token, "GET /r/api/items/1 HTTP/1.1")
    bad = request(token, "GET /r/api/items/2 HTTP/1.1", "X-A: 1", "\tfolded")
    answer = await raw_exchange(gw.port, good + bad)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 400 " in answer
    assert [s["path"] for s in app.seen()] == ["/base/items/1"]


# -- recording ---------------------------------------------------------------------


async def test_the_recording_holds_the_exchange_without_the_token(gw: HttpGw) -> None:
    token = gw.token()
    resp = await get(gw, "/r/api/echo?x=1", token, headers={"cookie": "c=jar"})
    assert resp.status_code == 200
    assert resp.reason_phrase == "OK"  # the upstream's reason phrase, passed on
    (rec,) = gw.recorders
    records = rec.records
    everything = b"".join(p for _k, p in records)
    assert token.encode() not in everything
    assert UPSTREAM_KEY.encode() not in everything
    assert b"c=jar" not in everything
    assert b"s3cr3t" not in everything  # Set-Cookie
    assert AWS_KEY.encode() not in everything
    c2u = [p for k, p in records if k == C2U]
    assert c2u[0].startswith(b"GET /r/api/echo?x=1 HTTP/1.1\r\n")
    assert b"authorization: [redacted]" in c2u[0]
    u2c = [p for k, p in records if k == U2C]
    assert u2c[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"set-cookie: [redacted]" in u2c[0]
    assert b'"user": "alice"' in u2c[1]
    events = [json.loads(p) for k, p in records if k == EVENT]
    decision = next(e for e in events if e["event"] == "decision")
    assert decision["action"] == "allow"
    assert decision["class"] == "read"
    assert decision["protocol"] == "http"
    response = next(e for e in events if e["event"] == "http_response")
    assert response["status"] == 200
    assert response["masked"] >= 2
