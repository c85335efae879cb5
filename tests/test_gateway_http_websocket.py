"""WebSocket through the HTTP gateway, after the handshake request was
judged (tests/http_app.py's /ws echo under uvicorn with wsproto; a wsproto
client over a Trio socket): messages both ways, the subprotocol agreed, the
upstream's answers masked per message and recorded as frames (payloads);
the credential replaces the token and no compression is offered upstream;
a denied handshake is a 403 and never reaches the upstream; an upgrade to
another protocol is refused when the session masks answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from http_app import AWS_KEY
from http_support import (
    UPSTREAM_KEY,
    App,
    HttpGw,
    Nginx,
    app,
    config_text,
    load,
    nginx,
    raw_exchange,
    start_http_gateway,
)

pytestmark = pytest.mark.integration
__all__ = ["app", "nginx"]


@pytest.fixture
async def gw(
    nursery: trio.Nursery,
    tmp_path: Path,
    app: App,
    nginx: Nginx,
    monkeypatch: pytest.MonkeyPatch,
) -> HttpGw:
    monkeypatch.setenv("LIMEN_TEST_API_KEY", UPSTREAM_KEY)
    app.reset()
    return await start_http_gateway(nursery, load(config_text(app.port, nginx), tmp_path))


class Client:
    """A wsproto client on a Trio TCP stream."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.events: list[Event] = []

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def next(self) -> Event:
        with trio.fail_after(20):
            while not self.events:
                data = await self.stream.receive_some(65536)
                self.ws.receive_data(data or None)
                self.events += list(self.ws.events())
        return self.events.pop(0)


async def connect(gw: HttpGw, path: str, token: str) -> tuple[Client, Event]:
    stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
    client = Client(stream)
    await client.send(
        Request(
            host="127.0.0.1",
            target=path,
            subprotocols=["chat"],
            extensions=[],
            extra_headers=[
                (b"authorization", f"Bearer {token}".encode()),
                (b"sec-websocket-extensions", b"permessage-deflate"),
            ],
        )
    )
    return client, await client.next()


def records(gw: HttpGw, kind: str) -> bytes:
    return b"".join(p for rec in gw.recorders for k, p in rec.records if k == kind)


def events(gw: HttpGw) -> list[dict[str, Any]]:
    return [json.loads(p) for rec in gw.recorders for k, p in rec.records if k == "event"]


async def test_messages_go_both_ways_and_answers_are_masked(gw: HttpGw, app: App) -> None:
    client, accepted = await connect(gw, "/r/api/ws", gw.token())
    assert isinstance(accepted, AcceptConnection)
    assert accepted.subprotocol == "chat"
    await client.send(TextMessage(data="hello"))
    echo = await client.next()
    assert isinstance(echo, TextMessage)
    assert echo.data == "echo:hello"
    await client.send(BytesMessage(data=b"\x00\x01bin"))
    got = await client.next()
    assert isinstance(got, BytesMessage)
    assert bytes(got.data) == b"echo:\x00\x01bin"
    await client.send(TextMessage(data="secret"))
    masked = await client.next()
    assert isinstance(masked, TextMessage)
    assert AWS_KEY not in masked.data
    assert masked.data.startswith("the key is [MASKED")
    await client.send(CloseConnection(code=1000))
    closing = await client.next()
    assert isinstance(closing, CloseConnection)
    await client.stream.aclose()

    (seen,) = app.seen()
    assert seen["method"] == "WEBSOCKET"
    headers: dict[str, str] = seen["headers"]  # type: ignore[assignment]
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "sec-websocket-extensions" not in headers  # no compression: frames stay readable
    with trio.fail_after(10):
        while not any(e["event"] == "http_upgrade_end" for e in events(gw)):
            await trio.sleep(0.05)
    c2u, u2c = records(gw, "c2u"), records(gw, "u2c")
    assert b"hello" in c2u
    assert b"secret" in c2u
    assert b"echo:hello" in u2c
    assert b"HTTP/1.1 101" in u2c
    assert AWS_KEY.encode() not in u2c
    assert UPSTREAM_KEY.encode() not in c2u + u2c
    assert {"event": "http_upgrade", "protocol": "websocket"} in events(gw)


async def test_a_denied_handshake_is_403_and_never_reaches_the_upstream(
    gw: HttpGw, app: App
) -> None:
    client, answer = await connect(gw, "/r/api/admin/ws", gw.token())  # admin: denied
    assert isinstance(answer, RejectConnection)
    assert answer.status_code == 403
    body = b""
    while answer.has_body:
        part = await client.next()
        assert isinstance(part, RejectData)
        body += part.data
        if part.body_finished:
            break
    assert json.loads(body)["class"] == "admin"
    await client.stream.aclose()
    assert app.seen() == []


async def test_another_upgrade_is_refused_when_answers_are_masked(gw: HttpGw, app: App) -> None:
    request = (
        "GET /r/api/tunnel HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"authorization: Bearer {gw.token()}\r\nconnection: upgrade, close\r\n"
        "upgrade: raw-tunnel/1\r\n\r\n"
    ).encode()
    out = await raw_exchange(gw.port, request)
    assert out.startswith(b"HTTP/1.1 403 ")
    assert b"cannot mask" in out
    assert app.seen() == []
