"""The token of a kept-alive HTTP connection: verified once, then known by
its bytes (:meth:`limen.gateway.http.relay.HttpRelay.known_token`) while
it has not expired; any other token is verified as before. Against the
ASGI app of tests/http_app.py under uvicorn, with httpx and raw sockets."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import trio

from http_support import (
    App,
    HttpGw,
    app,
    gw,
    nginx,
)
from limen.gateway.http.reader import ClientRequest
from limen.gateway.http.relay import HttpRelay
from limen.identity import Identity

pytestmark = pytest.mark.integration
__all__ = ["app", "gw", "nginx"]


def count_verifications(gw: HttpGw, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens the gateway's authenticator is asked to verify, in order."""
    auth = gw.gateway.services.authenticator
    real = auth.authenticate
    seen: list[str] = []

    async def counted(credential: str) -> Identity:
        seen.append(credential)
        return await real(credential)

    monkeypatch.setattr(auth, "authenticate", counted)
    return seen


def on_one_connection(gw: HttpGw, tokens: list[str]) -> list[int]:
    with httpx.Client(timeout=20) as client:
        return [
            client.get(
                gw.url(f"/r/api/items/{i}"), headers={"authorization": f"Bearer {t}"}
            ).status_code
            for i, t in enumerate(tokens)
        ]


async def test_the_same_token_is_verified_once_per_connection(
    gw: HttpGw, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = count_verifications(gw, monkeypatch)
    token = gw.token()
    statuses = await trio.to_thread.run_sync(on_one_connection, gw, [token] * 6)
    assert statuses == [200] * 6
    assert seen == [token]
    assert len(app.seen()) == 6


async def test_another_token_is_verified_and_a_bad_one_refused(
    gw: HttpGw, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = count_verifications(gw, monkeypatch)
    first, second = gw.token(), gw.token()
    assert first != second  # each minted token has its own jti
    forged = first[:-4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")
    statuses = await trio.to_thread.run_sync(
        on_one_connection, gw, [first, first, second, second, forged]
    )
    assert statuses == [200, 200, 200, 200, 401]
    assert seen == [first, second, forged]


async def test_another_subject_on_the_connection_is_still_401(gw: HttpGw) -> None:
    tokens = [gw.token("bot"), gw.token("other")]
    assert await trio.to_thread.run_sync(on_one_connection, gw, tokens) == [200, 401]


def _request(*authorization: bytes) -> Any:
    return SimpleNamespace(headers=[(b"authorization", v) for v in authorization])


def _identity(expires_at: int | None, method: Any = "dev") -> Identity:
    return Identity(
        subject="bot",
        groups=("ci",),
        issuer="https://idp.example",
        expires_at=expires_at,
        token_id=None,
        method=method,
    )


@pytest.mark.parametrize(
    ("identity", "again", "known"),
    [
        (_identity(int(time.time()) + 600), [b"Bearer t1"], True),
        (_identity(int(time.time()) + 600), [b"Bearer t2"], False),
        (_identity(int(time.time()) + 600), [b"Bearer t1", b"Bearer t1"], False),
        (_identity(int(time.time()) + 600), [], False),
        (_identity(int(time.time()) - 1), [b"Bearer t1"], False),  # expired meanwhile
        (_identity(None, "static_key"), [b"Bearer t1"], False),  # looked up every time
        (_identity(int(time.time()) + 600, "static_key"), [b"Bearer t1"], False),
    ],
)
def test_what_is_known_without_verifying(
    identity: Identity, again: list[bytes], known: bool
) -> None:
    relay: Any = SimpleNamespace(token_memo=None)
    HttpRelay.remember(relay, _request(b"Bearer t1"), identity)
    req: ClientRequest = _request(*again)
    assert (HttpRelay.known_token(relay, req) is identity) is known
