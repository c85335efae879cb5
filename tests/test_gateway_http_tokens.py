"""The token of a kept-alive HTTP connection: verified once, then known by
its bytes (:class:`limen.gateway.http.tokens.TokenMemo`) while it has not
expired; any other token is verified as before; a revocation refuses the
next request, remembered token or not. Against the
ASGI app of tests/http_app.py under uvicorn, with httpx and raw sockets."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest
import trio

from http_support import (
    App,
    HttpGw,
    app,
    gw,
    nginx,
)
from limen.gateway.http.tokens import TokenMemo
from limen.identity import Identity
from limen.store import Revocation

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
    memo = TokenMemo()
    memo.remember(_request(b"Bearer t1").headers, identity)
    assert (memo.lookup(_request(*again).headers) is identity) is known


def _revocation(kind: str, value: str) -> Revocation:
    return Revocation(
        id="rev_test",
        kind=kind,
        value=value,
        reason="test",
        revoked_by="test",
        revoked_at=time.time(),
        expires_at=None,
    )


def revoked_between(gw: HttpGw, first: str, second: str, kind: str, value: str) -> list[Any]:
    """Two requests on one kept-alive connection, a revocation put in force
    between them (as the revocation poller would, which this gateway does
    not run: nothing else ends the session)."""
    services = gw.gateway.services
    with httpx.Client(timeout=20) as client:
        before = client.get(gw.url("/r/api/items/1"), headers={"authorization": f"Bearer {first}"})
        services.revocations = (_revocation(kind, value),)
        try:
            after = client.get(
                gw.url("/r/api/items/2"), headers={"authorization": f"Bearer {second}"}
            )
        finally:
            services.revocations = ()
    return [before, after]


@pytest.mark.parametrize(
    ("second", "kind"),
    [
        ("same", "subject"),  # the remembered token, its subject revoked
        ("same", "token"),  # the remembered token, itself revoked
        ("other", "token"),  # another token verified, the session's token revoked
    ],
)
async def test_a_revoked_identity_is_refused_on_its_next_request(
    gw: HttpGw, app: App, monkeypatch: pytest.MonkeyPatch, second: str, kind: str
) -> None:
    seen = count_verifications(gw, monkeypatch)
    first = gw.token()
    token = first if second == "same" else gw.token()
    jti = jwt.decode(first, options={"verify_signature": False})["jti"]
    value = "bot" if kind == "subject" else jti
    app.reset()
    before, after = await trio.to_thread.run_sync(revoked_between, gw, first, token, kind, value)
    assert before.status_code == 200
    assert after.status_code == 401
    assert after.headers["connection"] == "close"
    assert "revoked (rev_test)" in after.json()["detail"]
    assert after.headers["www-authenticate"].startswith('Bearer realm="limen"')
    assert [s["path"] for s in app.seen()] == ["/base/items/1"]  # never went upstream
    assert seen == ([first] if second == "same" else [first, token])
