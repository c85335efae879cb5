"""`Expect: 100-continue` through the HTTP gateway (tests/http_app.py under
uvicorn, raw sockets and curl): limen says `100 Continue` only once the
request is judged and allowed, so a denied request never sends its body (a
403, no 100, the connection closed) and a held one sends it only after a
human approved; the upstream gets the request without the `Expect`."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import trio

from http_support import (
    UPSTREAM_KEY,
    App,
    HttpGw,
    Nginx,
    app,
    config_text,
    load,
    nginx,
    start_http_gateway,
)
from limen.approvals import ApprovalHub
from limen.store import open_store

pytestmark = pytest.mark.integration
__all__ = ["app", "nginx"]

BODY = b'{"name": "new item", "n": 1}'


@pytest.fixture
async def gw(
    nursery: trio.Nursery, tmp_path: Path, app: App, nginx: Nginx, monkeypatch: pytest.MonkeyPatch
) -> tuple[HttpGw, ApprovalHub]:
    monkeypatch.setenv("LIMEN_TEST_API_KEY", UPSTREAM_KEY)
    app.reset()
    config = load(config_text(app.port, nginx), tmp_path)
    hub = ApprovalHub(open_store(config.gateway.state, tmp_path), poll_interval=0.05)
    await nursery.start(hub.run)
    return await start_http_gateway(nursery, config, approvals=hub), hub


def head(method: str, path: str, token: str) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(BODY)}\r\n"
        "expect: 100-continue\r\n\r\n"
    ).encode()


async def read_head(stream: trio.SocketStream, buf: bytearray) -> bytes:
    """The next response head from ``stream`` (what follows stays in ``buf``)."""
    while b"\r\n\r\n" not in buf:
        data = await stream.receive_some(65536)
        if not data:
            raise AssertionError(f"closed before a head: {bytes(buf)!r}")
        buf += data
    got, _, rest = bytes(buf).partition(b"\r\n\r\n")
    buf[:] = rest
    return got


async def read_to_close(stream: trio.SocketStream, buf: bytearray) -> bytes:
    while data := await stream.receive_some(65536):
        buf += data
    return bytes(buf)


async def test_an_allowed_request_gets_100_then_its_answer(
    gw: tuple[HttpGw, ApprovalHub], app: App
) -> None:
    http, _hub = gw
    with trio.fail_after(20):
        stream = await trio.open_tcp_stream("127.0.0.1", http.port)
        async with stream:
            buf = bytearray()
            await stream.send_all(head("POST", "/r/api/items", http.token()))
            assert await read_head(stream, buf) == b"HTTP/1.1 100 Continue"
            assert app.seen() == []
            await stream.send_all(BODY)
            final = await read_head(stream, buf)
            assert final.startswith(b"HTTP/1.1 200")
    (seen,) = app.seen()
    assert seen["body_sha"] == hashlib.sha256(BODY).hexdigest()
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert "expect" not in headers


async def test_a_denied_request_never_sends_its_body(
    gw: tuple[HttpGw, ApprovalHub], app: App
) -> None:
    http, _hub = gw
    with trio.fail_after(20):
        stream = await trio.open_tcp_stream("127.0.0.1", http.port)
        async with stream:
            buf = bytearray()
            await stream.send_all(head("DELETE", "/r/api/items/3", http.token()))
            answer = await read_to_close(stream, buf)  # limen closes: no body was asked for
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"100 Continue" not in answer
    assert b"connection: close" in answer
    doc = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert (doc["action"], doc["class"]) == ("deny", "admin")
    assert app.seen() == []


async def test_a_held_request_is_asked_for_its_body_only_once_approved(
    gw: tuple[HttpGw, ApprovalHub], app: App
) -> None:
    http, hub = gw
    token = http.token(subject="careful-bot", groups=("careful",))
    with trio.fail_after(30):
        stream = await trio.open_tcp_stream("127.0.0.1", http.port)
        async with stream:
            buf = bytearray()
            await stream.send_all(head("POST", "/r/api/items", token))
            while not (reqs := await trio.to_thread.run_sync(hub.store.approvals)):
                await trio.sleep(0.05)
            assert buf == bytearray()  # nothing said while it waits: no 100 yet
            with trio.move_on_after(0.3):
                buf += await stream.receive_some(65536)
            assert buf == bytearray()
            hub.store.approval_vote(reqs[0].id, approver="sam", approve=True, now=time.time())
            assert await read_head(stream, buf) == b"HTTP/1.1 100 Continue"
            await stream.send_all(BODY)
            assert (await read_head(stream, buf)).startswith(b"HTTP/1.1 200")
    (seen,) = app.seen()
    assert (seen["method"], seen["body_len"]) == ("POST", len(BODY))


async def test_curl_sends_a_large_body_with_expect(
    gw: tuple[HttpGw, ApprovalHub], app: App
) -> None:
    http, _hub = gw
    big = b"x" * 200_000  # with -H curl waits for the 100 before it sends the body
    proc = await trio.run_process(
        [
            "curl", "-sS", "--http1.1", "--max-time", "20",
            "-H", f"Authorization: Bearer {http.token()}",
            "-H", "Expect: 100-continue",
            "--data-binary", "@-",
            http.url("/r/api/upload"),
        ],
        stdin=big,
        capture_stdout=True,
    )  # fmt: skip
    echoed = json.loads(proc.stdout)
    assert echoed["body_sha"] == hashlib.sha256(big).hexdigest()
    assert [r["path"] for r in app.seen()] == ["/base/upload"]
