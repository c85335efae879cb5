"""`Prefer: respond-async` through the HTTP gateway (tests/http_app.py under
uvicorn; httpx and curl as clients; the real `limen approvals` CLI as the
human): a held POST is answered 202 with its approval and status URL at
once, nothing goes upstream; the status URL answers its requester only;
once the CLI approved it, the client's retry with `Limen-Approval` runs it
exactly once, even when two retries race; a denial or another request is
refused."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
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
    load,
    nginx,
    start_http_gateway,
)
from limen.approvals import ApprovalHub
from limen.store import open_store

pytestmark = pytest.mark.integration
__all__ = ["app", "nginx"]

BODY = b'{"name": "new item", "n": 3}'


@pytest.fixture
async def gw(
    nursery: trio.Nursery,
    tmp_path: Path,
    app: App,
    nginx: Nginx,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[HttpGw, Path]:
    monkeypatch.setenv("LIMEN_TEST_API_KEY", UPSTREAM_KEY)
    app.reset()
    text = config_text(app.port, nginx)
    path = tmp_path / "limen.toml"
    path.write_text(text)
    config = load(text, tmp_path)
    hub = ApprovalHub(open_store(config.gateway.state, tmp_path), poll_interval=0.05)
    await nursery.start(hub.run)
    return await start_http_gateway(nursery, config, approvals=hub), path


async def call(
    gw: HttpGw, method: str, path: str, subject: str = "careful-bot", **kw: Any
) -> httpx.Response:
    token = gw.token(subject=subject, groups=("careful",))
    headers = {"authorization": f"Bearer {token}", **kw.pop("headers", {})}

    def run() -> httpx.Response:
        return httpx.request(method, gw.url(path), headers=headers, timeout=20, **kw)

    return await trio.to_thread.run_sync(run)


async def cli(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "limen", "approvals", *args, "--config", str(config)]
    return await trio.run_process(cmd, capture_stdout=True, capture_stderr=True, check=False)


def events(gw: HttpGw) -> list[dict[str, Any]]:
    return [json.loads(p) for rec in gw.recorders for k, p in rec.records if k == "event"]


async def ask(gw: HttpGw) -> str:
    resp = await call(
        gw, "POST", "/r/api/items", content=BODY, headers={"prefer": "respond-async, wait=5"}
    )
    assert resp.status_code == 202, resp.text
    doc = resp.json()
    assert doc["status"] == "pending"
    assert resp.headers["preference-applied"] == "respond-async"
    assert resp.headers["location"] == f"/.well-known/limen/approvals/{doc['approval']}"
    assert doc["request"] == "POST /r/api/items"
    return str(doc["approval"])


async def test_respond_async_then_the_cli_approves_and_one_retry_runs_it(
    gw: tuple[HttpGw, Path], app: App
) -> None:
    http, config = gw
    approval = await ask(http)
    assert app.seen() == []  # nothing upstream while it waits
    status_url = f"/.well-known/limen/approvals/{approval}"

    status = await call(http, "GET", status_url)
    assert (status.status_code, status.json()["status"]) == (200, "pending")
    assert status.headers["retry-after"] == "1"
    other = await call(http, "GET", status_url, subject="someone-else")
    assert other.status_code == 404  # another subject's approval is unknown to it

    early = await call(
        http, "POST", "/r/api/items", content=BODY, headers={"limen-approval": approval}
    )
    assert early.status_code == 403
    assert "still pending" in early.json()["detail"]

    approved = await cli(config, "approve", approval, "--as", "alice", "--reason", "ok")
    assert approved.returncode == 0, approved.stderr

    curl = shutil.which("curl")
    if curl is not None:  # the status through curl too
        token = http.token(subject="careful-bot", groups=("careful",))
        out = await trio.run_process(
            [curl, "-sS", "-H", f"authorization: Bearer {token}", http.url(status_url)],
            capture_stdout=True,
        )
        polled = json.loads(out.stdout)
        assert polled["status"] == "approved"
        assert polled["decided_by"] == "alice"
        assert "Limen-Approval" in polled["hint"]

    wrong = await call(
        http, "POST", "/r/api/other", content=BODY, headers={"limen-approval": approval}
    )
    assert wrong.status_code == 403
    assert "another request" in wrong.json()["detail"]

    results: list[httpx.Response] = []
    async with trio.open_nursery() as nursery:
        for _ in range(2):

            async def retry() -> None:
                results.append(
                    await call(
                        http,
                        "POST",
                        "/r/api/items",
                        content=BODY,
                        headers={"limen-approval": approval},
                    )
                )

            nursery.start_soon(retry)
    assert sorted(r.status_code for r in results) == [200, 403]
    (ok,) = [r for r in results if r.status_code == 200]
    assert ok.json()["body_sha"] == hashlib.sha256(BODY).hexdigest()
    (refused,) = [r for r in results if r.status_code == 403]
    assert "used already" in refused.json()["detail"]
    seen = app.seen()
    assert [(s["method"], s["path"]) for s in seen] == [("POST", "/base/items")]  # exactly once
    assert "limen-approval" not in seen[0]["headers"]  # type: ignore[operator]

    final = await call(http, "GET", status_url)
    assert final.json()["status"] == "used"
    kinds = [e["event"] for e in events(http)]
    assert kinds.count("approval_used") == 1
    (hold,) = [e for e in events(http) if e["event"] == "hold"]
    assert hold["async"] is True
    assert hold["approval"] == approval


async def test_a_denied_async_request_is_refused_on_retry(
    gw: tuple[HttpGw, Path], app: App
) -> None:
    http, config = gw
    approval = await ask(http)
    denied = await cli(config, "deny", approval, "--as", "alice", "--reason", "not today")
    assert denied.returncode == 0, denied.stderr
    status = await call(http, "GET", f"/.well-known/limen/approvals/{approval}")
    assert status.json()["status"] == "denied"
    assert status.json()["reason"] == "not today"
    retry = await call(
        http, "POST", "/r/api/items", content=BODY, headers={"limen-approval": approval}
    )
    assert retry.status_code == 403
    assert retry.json()["approval"] == approval
    assert "denied" in retry.json()["detail"]
    assert app.seen() == []


async def test_an_allowed_request_ignores_prefer_and_a_read_needs_no_approval(
    gw: tuple[HttpGw, Path], app: App
) -> None:
    http, _config = gw
    resp = await call(http, "GET", "/r/api/items", headers={"prefer": "respond-async"})
    assert resp.status_code == 200
    assert "preference-applied" not in resp.headers
    assert [s["method"] for s in app.seen()] == ["GET"]
