"""A reload's masks reach live HTTP sessions (the gateway's reload,
:class:`limen.gateway.reload.Reloader`, on a real uvicorn app through a
kept-alive httpx connection and a wsproto WebSocket): the next response
(the next WebSocket message) is masked by the new masks, an unmasked one
after they leave the rules, on the same connection (one session)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import httpx
import pytest
import trio
from wsproto.events import AcceptConnection, TextMessage

from http_app import AWS_KEY, EMAIL
from http_support import UPSTREAM_KEY, App, HttpGw, app, config_text, load, start_http_gateway
from limen.gateway.reload import Reloader
from test_gateway_http_websocket import connect

pytestmark = pytest.mark.integration
__all__ = ["app"]

BUILTIN = 'mask = ["builtin"]'


def _text(app: App, mask: str) -> str:
    text = config_text(app.port).replace(BUILTIN, mask)
    return text.replace('["api", "static", "tls", "tls-unknown-ca"]', '["api"]')


async def _gateway(
    nursery: trio.Nursery, tmp_path: Path, app: App, monkeypatch: pytest.MonkeyPatch
) -> tuple[HttpGw, Path, Reloader]:
    monkeypatch.setenv("LIMEN_TEST_API_KEY", UPSTREAM_KEY)
    app.reset()
    path = tmp_path / "limen.toml"
    path.write_text(_text(app, "mask = []"))
    gw = await start_http_gateway(nursery, load(path.read_text(), tmp_path))
    services = gw.gateway.services
    return gw, path, Reloader(path, services, [gw.gateway], log=services.log)


async def test_a_kept_alive_http_session_takes_reloaded_masks(
    nursery: trio.Nursery, tmp_path: Path, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, path, reloader = await _gateway(nursery, tmp_path, app, monkeypatch)
    client = httpx.Client(headers={"authorization": f"Bearer {gw.token()}"}, timeout=20)

    async def echo() -> str:
        return await trio.to_thread.run_sync(lambda: client.get(gw.url("/r/api/echo")).text)

    try:
        before = await echo()
        path.write_text(_text(app, 'mask = ["builtin"]'))
        added = reloader.reload()
        masked = await echo()
        path.write_text(_text(app, "mask = []"))
        removed = reloader.reload()
        after = await echo()
    finally:
        await trio.to_thread.run_sync(client.close)
    assert EMAIL in before
    assert AWS_KEY in before
    assert added.ok
    assert added.sessions == 1
    assert EMAIL not in masked
    assert AWS_KEY not in masked
    assert "[MASKED:" in masked
    assert removed.ok
    assert removed.sessions == 1
    assert EMAIL in after
    assert AWS_KEY in after
    assert len(gw.recorders) == 1  # one connection, one session throughout
    recorded = b"".join(p for k, p in gw.recorders[0].records if k == "u2c")
    assert recorded.count(EMAIL.encode()) == 2  # before and after, not while masked


async def test_a_websocket_takes_reloaded_masks_at_its_next_message(
    nursery: trio.Nursery, tmp_path: Path, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, path, reloader = await _gateway(nursery, tmp_path, app, monkeypatch)
    client, accepted = await connect(gw, "/r/api/ws", gw.token())
    assert isinstance(accepted, AcceptConnection)

    async def secret() -> str:
        await client.send(TextMessage(data="secret"))
        got = await client.next()
        assert isinstance(got, TextMessage)
        return str(got.data)

    before = await secret()
    path.write_text(_text(app, 'mask = ["builtin"]'))
    assert reloader.reload().sessions == 1
    after = await secret()
    await client.stream.aclose()
    assert AWS_KEY in before
    assert AWS_KEY not in after
    assert "[MASKED:" in after
    assert len(gw.recorders) == 1


async def _tunnel_upstream(stream: trio.SocketStream) -> None:
    """An upstream that switches to ``raw-tunnel/1`` and echoes."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await stream.receive_some(4096)
        if not chunk:
            return
        head += chunk
    await stream.send_all(
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: raw-tunnel/1\r\n\r\n"
    )
    while data := await stream.receive_some(4096):
        await stream.send_all(data)


async def test_a_raw_upgrade_is_ended_when_a_reload_adds_masks(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, _tunnel_upstream, 0, host="127.0.0.1")
    )
    port = listeners[0].socket.getsockname()[1]
    text = """
[identity.dev]
enabled = true
[[resources]]
name = "tunnel"
protocol = "http"
upstream = "http://127.0.0.1:{port}"
[[rules]]
name = "ci"
groups = ["ci"]
resources = ["tunnel"]
allow = ["read", "write"]
{mask}
"""
    path = tmp_path / "limen.toml"
    path.write_text(text.format(port=port, mask="mask = []"))
    gw = await start_http_gateway(nursery, load(path.read_text(), tmp_path))
    services = gw.gateway.services
    reloader = Reloader(path, services, [gw.gateway], log=services.log)
    stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
    await stream.send_all(
        f"GET /r/tunnel/ HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {gw.token()}\r\n"
        "connection: upgrade\r\nupgrade: raw-tunnel/1\r\n\r\n".encode()
    )
    got = b""
    with trio.fail_after(20):
        while b"\r\n\r\n" not in got:
            got += await stream.receive_some(4096)
        assert got.startswith(b"HTTP/1.1 101 ")  # unmasked rules: let through
        await stream.send_all(b"ping " + AWS_KEY.encode())
        echoed = b""
        while not echoed.endswith(AWS_KEY.encode()):
            echoed += await stream.receive_some(4096)
        path.write_text(text.format(port=port, mask='mask = ["builtin"]'))
        assert reloader.reload().ok
        rest = b""
        while chunk := await stream.receive_some(4096):  # limen closes it
            rest += chunk
        while not gw.recorders[0].closed:  # the close comes before the recording's end
            await trio.sleep(0.01)
    assert AWS_KEY.encode() not in rest
    events = [json.loads(e) for r in gw.recorders for k, e in r.records if k == "event"]
    assert {"event": "end", "reason": "57P01"} in events  # CHANGED, not the client leaving
