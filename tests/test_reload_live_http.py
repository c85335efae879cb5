"""A reload's masks reach live HTTP sessions (the gateway's reload,
:class:`limen.gateway.reload.Reloader`, on a real uvicorn app through a
kept-alive httpx connection and a wsproto WebSocket): the next response
(the next WebSocket message) is masked by the new masks, an unmasked one
after they leave the rules, on the same connection (one session)."""

from __future__ import annotations

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
