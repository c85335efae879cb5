"""Secrets right after backslash escapes in a JSON answer, through the HTTP
gateway against tests/http_app.py under uvicorn: ``/escaped`` answers
``json.dumps`` of values like ``"line\\nAKIA..."`` in 5-byte chunks, and the
bot gets valid JSON with every secret masked (native/limen-mask/src/escape.rs)."""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from http_app import AWS_KEY, CARD, EMAIL, ESCAPED
from http_support import (
    HttpGw,
    app,
    gw,
    nginx,
)

pytestmark = pytest.mark.integration
__all__ = ["app", "gw", "nginx"]

GATEWAY_RULES = """
[[rules]]
name = "esc-api"
groups = ["escbot"]
resources = ["api"]
allow = ["read"]
mask = ["builtin"]
"""


async def test_secrets_after_escapes_are_masked_and_json_stays_json(gw: HttpGw) -> None:
    token = gw.token("escbot", ("escbot",))

    def call() -> httpx.Response:
        return httpx.get(
            gw.url("/r/api/escaped"), headers={"authorization": f"Bearer {token}"}, timeout=20
        )

    resp = await trio.to_thread.run_sync(call)
    assert resp.status_code == 200
    raw = json.dumps(ESCAPED)
    assert "\\n" + AWS_KEY in raw  # the upstream's escapes
    assert "\\u001f" + EMAIL in raw
    doc = resp.json()  # valid JSON after masking
    assert set(doc) == set(ESCAPED)
    for secret in (AWS_KEY, EMAIL, CARD, "ghp_16C7e42F"):
        assert secret not in resp.text
    assert doc["note"] == "line\n[MASKED:aws-access-key-id]"
    assert doc["tab"] == "\t[MASKED:github-token]"
    assert doc["mail"] == "\x1f[MASKED:email]" or doc["mail"] == "[MASKED:email]"
    assert doc["card"] == "\r\n[MASKED:card-number]"
    assert doc["quoted"] == 'say "[MASKED:aws-access-key-id]"'
    recorded = b"".join(p for rec in gw.recorders for _k, p in rec.records)
    assert AWS_KEY.encode() not in recorded
