"""`json:` masks through the HTTP gateway against tests/http_app.py under
uvicorn: a JSON answer with its password and every token masked by key
(and the built-in detectors on the rest), NDJSON cut in 7-byte chunks, a
body that stops being JSON (fail closed: 502 before the head, the
connection cut after it, never the bytes past the break), a non-JSON
content type left to the detectors, and a bad path refused by the config
check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from http_support import (
    HttpGw,
    Nginx,
    app,
    config_text,
    gw,
    load,
    nginx,
)
from limen.config import ConfigError

pytestmark = pytest.mark.integration
__all__ = ["app", "gw", "nginx"]

GATEWAY_RULES = RULE = """
[[rules]]
name = "json-api"
groups = ["jsonbot"]
resources = ["api"]
allow = ["read"]
mask = ["builtin", "json:$.password", "json:$..token"]
"""
SECRETS = ["hunter2-pw-9d1c", "tok-1-a8f2", "tok-2-77aa", "tok-3-c0de", "tok-bad-0bad"]
SSE_SECRETS = ["tok-sse-1-aa11", "hunter2-pw-9d1c", "tok-sse-3-cc33"]


async def get(gw: HttpGw, path: str) -> httpx.Response:
    token = gw.token("jsonbot", ("jsonbot",))

    def call() -> httpx.Response:
        return httpx.get(gw.url(path), headers={"authorization": f"Bearer {token}"}, timeout=20)

    return await trio.to_thread.run_sync(call)


def recorded(gw: HttpGw) -> bytes:
    return b"".join(p for rec in gw.recorders for _k, p in rec.records)


def events_of(gw: HttpGw) -> list[dict[str, Any]]:
    return [json.loads(p) for rec in gw.recorders for k, p in rec.records if k == "event"]


async def test_json_fields_are_masked_by_key_anywhere(gw: HttpGw) -> None:
    resp = await get(gw, "/r/api/account")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["user"] == "alice"
    assert doc["email"] == "[MASKED:email]"  # the detectors still run
    assert doc["password"] == "[MASKED:json:$.password]"
    assert [s["token"] for s in doc["sessions"]] == ["[MASKED:json:$..token]"] * 2
    assert [s["id"] for s in doc["sessions"]] == [1, 2]
    assert doc["settings"] == {"theme": "dark", "nested": {"token": "[MASKED:json:$..token]"}}
    for secret in SECRETS:
        assert secret not in resp.text
        assert secret.encode() not in recorded(gw)
    (answer,) = [e for e in events_of(gw) if e["event"] == "http_response"]
    assert answer["masked"] == 5  # 4 json: values and the email


async def test_ndjson_in_small_chunks_is_masked_line_by_line(gw: HttpGw) -> None:
    resp = await get(gw, "/r/api/account-lines")
    assert resp.status_code == 200
    lines = [json.loads(line) for line in resp.text.splitlines()]
    assert lines == [{"n": n, "token": "[MASKED:json:$..token]"} for n in range(20)]
    assert b"tok-line" not in recorded(gw)


@pytest.mark.parametrize("path", ["/r/api/bad-json", "/r/api/bad-json-chunked"])
async def test_a_body_that_stops_being_json_is_cut(gw: HttpGw, path: str) -> None:
    try:
        resp = await get(gw, path)
    except httpx.RemoteProtocolError:  # chunked: the head went out, the body is cut
        assert path.endswith("chunked")
    else:  # Content-Length (buffered): nothing went out yet, a 502
        assert path == "/r/api/bad-json"
        assert resp.status_code == 502
        assert resp.headers["content-type"] == "application/problem+json"
        assert "tok-bad" not in resp.text
        assert "hunter2" not in resp.text
    assert b"tok-bad-0bad" not in recorded(gw)
    assert b"hunter2" not in recorded(gw)


async def test_a_text_body_is_left_to_the_detectors(gw: HttpGw) -> None:
    resp = await get(gw, "/r/api/big")
    assert resp.status_code == 200
    assert "[MASKED:email]" in resp.text
    assert "MASKED:json" not in resp.text


def test_a_bad_json_path_is_a_config_error(tmp_path: Path, nginx: Nginx) -> None:
    bad = RULE.replace("json:$.password", "json:password")
    with pytest.raises(ConfigError, match="starts with"):
        load(config_text(1, nginx, extra=bad), tmp_path)


async def test_sse_data_is_masked_event_by_event(gw: HttpGw) -> None:
    resp = await get(gw, "/r/api/events")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    text = resp.text
    for secret in SSE_SECRETS:
        assert secret not in text
        assert secret.encode() not in recorded(gw)
    events = [e for e in text.replace("\r\n", "\n").split("\n\n") if e]
    assert events[0].startswith("event: tick\nid: 1\ndata: ")
    first = json.loads(events[0].split("data: ", 1)[1])
    assert first == {"n": 1, "token": "[MASKED:json:$..token]"}
    second = "\n".join(line[6:] for line in events[1].split("\n") if line.startswith("data: "))
    assert json.loads(second) == {"n": 2, "password": "[MASKED:json:$.password]"}
    assert events[1].startswith(": a comment\ndata: ")
    assert events[2] == ": limen withheld an event whose data is not JSON"  # [DONE]
    assert json.loads(events[3][6:]) == {"n": 3, "sessions": [{"token": "[MASKED:json:$..token]"}]}
    (answer,) = [e for e in events_of(gw) if e["event"] == "http_response"]
    assert answer["masked"] == 4  # three values and the withheld event
