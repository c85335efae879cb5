"""A held request with a body, approved after the upstream closed the idle
keep-alive connection: limen sends it on a fresh connection (a request with
a body cannot be sent again once half-sent on a dead one). The upstream is
tests/http_app.py under uvicorn with a 1 s keep-alive timeout; the wait is
real time because the timer that closes the connection is uvicorn's."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from http_support import (
    TESTS,
    UPSTREAM_KEY,
    App,
    Nginx,
    config_text,
    free_port,
    load,
    nginx,
    start_http_gateway,
    wait_port,
)
from limen.approvals import ApprovalHub
from limen.store import open_store

pytestmark = pytest.mark.integration
__all__ = ["nginx"]


@pytest.fixture(scope="module")
def short_keepalive_app() -> Iterator[App]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--app-dir", str(TESTS),
            "--host", "127.0.0.1", "--port", str(port), "--http", "h11",
            "--timeout-keep-alive", "1", "--log-level", "warning", "http_app:app",
        ]
    )  # fmt: skip
    try:
        wait_port(port, proc)
        yield App(port)
    finally:
        proc.terminate()
        proc.wait(10)


async def test_a_held_post_goes_on_a_fresh_connection_after_the_upstream_closed_the_idle_one(
    nursery: trio.Nursery,
    tmp_path: Path,
    short_keepalive_app: App,
    nginx: Nginx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = short_keepalive_app
    monkeypatch.setenv("LIMEN_TEST_API_KEY", UPSTREAM_KEY)
    app.reset()
    config = load(config_text(app.port, nginx), tmp_path)
    hub = ApprovalHub(open_store(config.gateway.state, tmp_path), poll_interval=0.05)
    await nursery.start(hub.run)
    gw = await start_http_gateway(nursery, config, approvals=hub)
    token = gw.token(subject="careful-bot", groups=("careful",))
    body = b'{"name": "after a long hold"}'
    result: list[httpx.Response] = []

    def session() -> None:
        """One client connection: a GET (the upstream connection is kept),
        then the held POST on the same connection."""
        with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
            assert client.get(gw.url("/r/api/echo")).status_code == 200
            result.append(client.post(gw.url("/r/api/items"), content=body))

    async with trio.open_nursery() as inner:
        inner.start_soon(trio.to_thread.run_sync, session)
        with trio.fail_after(15):
            while not (reqs := await trio.to_thread.run_sync(hub.store.approvals)):
                await trio.sleep(0.05)
        await trio.sleep(2.5)  # uvicorn closes the idle upstream connection after 1 s
        hub.store.approval_vote(reqs[0].id, approver="sam", approve=True, now=time.time())
    (resp,) = result
    assert resp.status_code == 200, resp.text
    assert [(r["method"], r["body_len"]) for r in app.seen()] == [("GET", 0), ("POST", len(body))]
