"""JSON body fields in HTTP policy rules, through the gateway (tests/http_app.py
under uvicorn; httpx and curl as clients): a POST whose `$.action` is
`delete` is admin (denied), the same route with another action is a write
(allowed); a body that cannot be judged (not JSON, a member twice, too
long) is refused and never reaches the upstream; a request no body route
applies to still streams (chunked, not read whole)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
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

pytestmark = pytest.mark.integration
__all__ = ["app", "nginx"]

ROUTES = """
[[resources.http_routes]]
methods = ["POST"]
path = "/jobs"
body = ['$.action == "delete"']
class = "admin"

[[resources.http_routes]]
methods = ["POST"]
path = "/jobs"
body = ['$.action in ["purge", "drop"]', "$.force"]
class = "admin"

"""


def body_config(app_port: int, nginx: Nginx, limit: str = "2KiB") -> str:
    text = config_text(app_port, nginx)
    first = text.index("[[resources.http_routes]]")
    text = text[:first] + ROUTES + text[first:]
    return text.replace("[gateway]\n", f'[gateway]\nmax_judged_body = "{limit}"\n', 1)


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
    return await start_http_gateway(nursery, load(body_config(app.port, nginx), tmp_path))


def post(gw: HttpGw, path: str, content: bytes | Iterator[bytes], **kw: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {gw.token()}", "content-type": "application/json"}
    return httpx.post(gw.url(path), content=content, headers=headers, timeout=20, **kw)


def events(gw: HttpGw) -> list[dict[str, Any]]:
    return [json.loads(p) for rec in gw.recorders for k, p in rec.records if k == "event"]


def seen_paths(app: App) -> list[str]:
    return [str(s["path"]) for s in app.seen()]


async def test_a_body_field_makes_a_post_admin_and_it_is_denied(gw: HttpGw, app: App) -> None:
    body = json.dumps({"action": "delete", "id": 7}).encode()
    resp = await trio.to_thread.run_sync(lambda: post(gw, "/r/api/jobs", body))
    assert resp.status_code == 403
    assert resp.headers["content-type"] == "application/problem+json"
    doc = resp.json()
    assert (doc["class"], doc["rule"], doc["action"]) == ("admin", "ci-api", "deny")
    assert "/base/jobs" not in seen_paths(app)
    (decision,) = [e for e in events(gw) if e["event"] == "decision"]
    assert decision["commands"] == ['POST /jobs [$.action == "delete"]']


@pytest.mark.parametrize(
    "obj",
    [
        {"action": "list"},
        {"action": "DELETE"},  # strings compare exactly
        {"action": "purge"},  # the second route needs $.force too
        {"actions": "delete"},
        {"action": ["delete"]},
    ],
)
async def test_other_bodies_are_writes_and_go_upstream_whole(
    gw: HttpGw, app: App, obj: dict[str, object]
) -> None:
    body = json.dumps(obj).encode()
    resp = await trio.to_thread.run_sync(lambda: post(gw, "/r/api/jobs", body))
    assert resp.status_code == 200, resp.text
    assert resp.json()["body_sha"] == hashlib.sha256(body).hexdigest()
    (seen,) = app.seen()
    assert seen["headers"]["content-length"] == str(len(body))  # type: ignore[index]


async def test_both_conditions_of_a_route_must_hold(gw: HttpGw, app: App) -> None:
    body = json.dumps({"action": "drop", "force": False}).encode()
    resp = await trio.to_thread.run_sync(lambda: post(gw, "/r/api/jobs", body))
    assert resp.status_code == 403
    assert resp.json()["class"] == "admin"
    assert app.seen() == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"action=delete", "not JSON"),
        (b"", "empty"),
        (b'{"action": "list", "action": "delete"}', "twice"),
        (b'{"action": "list"} {"action": "delete"}', "not JSON"),
        (b'{"action": NaN}', "NaN"),
        (b'{"action": "\xff"}', "UTF-8"),
    ],
)
async def test_a_body_that_cannot_be_judged_is_refused_and_the_connection_goes_on(
    gw: HttpGw, app: App, body: bytes, why: str
) -> None:
    def run() -> tuple[httpx.Response, httpx.Response]:
        headers = {"authorization": f"Bearer {gw.token()}"}
        with httpx.Client(headers=headers, timeout=20) as client:
            first = client.post(gw.url("/r/api/jobs"), content=body)
            second = client.get(gw.url("/r/api/items"))
            return first, second

    first, second = await trio.to_thread.run_sync(run)
    assert first.status_code == 403
    doc = first.json()
    assert doc["type"].endswith("/unjudgeable-body")
    assert why in doc["detail"]
    assert doc["approvable"] is False
    assert second.status_code == 200  # same connection, still served
    assert seen_paths(app) == ["/base/items"]


async def test_a_body_over_the_limit_is_413_and_never_forwarded(gw: HttpGw, app: App) -> None:
    body = json.dumps({"action": "list", "pad": "x" * 4000}).encode()
    resp = await trio.to_thread.run_sync(lambda: post(gw, "/r/api/jobs", body))
    assert resp.status_code == 413
    assert "max_judged_body" in resp.json()["hint"]
    assert app.seen() == []


async def test_a_request_no_body_route_applies_to_still_streams(gw: HttpGw, app: App) -> None:
    parts = [b"x" * 3000 for _ in range(10)]  # over the judged-body limit: never read whole

    def gen() -> Iterator[bytes]:
        yield from parts

    resp = await trio.to_thread.run_sync(lambda: post(gw, "/r/api/upload", gen()))
    assert resp.status_code == 200
    assert resp.json()["body_sha"] == hashlib.sha256(b"".join(parts)).hexdigest()
    (seen,) = app.seen()
    assert seen["headers"]["transfer-encoding"] == "chunked"  # type: ignore[index]


async def test_curl_with_expect_100_continue_on_a_body_route(
    gw: HttpGw, app: App, tmp_path: Path
) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"action": "list", "pad": "y" * 1500}))
    cmd = [
        curl,
        "-sS",
        "-H",
        f"authorization: Bearer {gw.token()}",
        "-H",
        "content-type: application/json",
        "-H",
        "expect: 100-continue",
        "--data-binary",
        f"@{body}",
        gw.url("/r/api/jobs"),
    ]
    out = await trio.run_process(cmd, capture_stdout=True, stderr=subprocess.STDOUT)
    answer = json.loads(out.stdout)
    assert answer["body_sha"] == hashlib.sha256(body.read_bytes()).hexdigest()
    recorded = b"".join(p for rec in gw.recorders for k, p in rec.records if k == "c2u")
    assert b'"action": "list"' in recorded  # the judged body is recorded once
    assert recorded.count(b'"action": "list"') == 1
