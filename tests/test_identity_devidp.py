"""The dev IdP: persisted keys, rotation, minting, and verification of its
tokens through the ordinary OIDC path (discovery + JWKS over real HTTP)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest
import trio

from limen.config import Config, load_config_text
from limen.httpserver import HTTPServer, Request, Response, Router, bound_port
from limen.identity import (
    DevIdP,
    DevIdPError,
    DevKeyStore,
    IdentityError,
    Reason,
    Verifier,
    VerifierSettings,
)
from limen.identity.devidp import KEEP_KEYS


def dev_config(tmp_path: Path, extra: str = "") -> Config:
    return load_config_text(
        f"""
        [gateway]
        state = "sqlite://state/limen.db"
        [identity.dev]
        enabled = true
        {extra}
        """,
        base_dir=tmp_path,
    )


async def serve_dev(nursery: trio.Nursery, idp: DevIdP) -> str:
    discovery: str = await nursery.start(idp.serve, "127.0.0.1", 0)
    return discovery


def test_key_file_created_private_under_the_state_folder(tmp_path: Path) -> None:
    config = dev_config(tmp_path)
    assert config.dev_key_path() == tmp_path / "state" / "dev-idp-keys.json"
    store = DevKeyStore(config.dev_key_path())
    first = store.signing_key()
    mode = stat.S_IMODE(os.stat(config.dev_key_path()).st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    # Reused, not regenerated, on the next load (even from another store object).
    assert DevKeyStore(config.dev_key_path()).signing_key().kid == first.kid
    assert "private" not in json.dumps(store.jwks())
    assert all("d" not in jwk for jwk in store.jwks()["keys"])


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    store = DevKeyStore(tmp_path / "keys.json")
    store.load()
    os.chmod(tmp_path / "keys.json", 0o644)
    with pytest.raises(DevIdPError, match="chmod 600"):
        store.load()


def test_damaged_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"version": 1, "keys": [{"kid": "x"}]}')
    os.close(fd)
    with pytest.raises(DevIdPError, match="damaged"):
        DevKeyStore(path).load()


def test_rotation_keeps_recent_keys(tmp_path: Path) -> None:
    store = DevKeyStore(tmp_path / "keys.json")
    kids = [store.signing_key().kid]
    for _ in range(KEEP_KEYS + 1):
        kids.append(store.rotate().kid)
    assert len(set(kids)) == len(kids)
    published = [k["kid"] for k in store.jwks()["keys"]]
    assert published == kids[-KEEP_KEYS:]
    assert store.signing_key().kid == kids[-1]
    assert stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode) == 0o600


def test_mint_refuses_ttl_beyond_max_lifetime(tmp_path: Path) -> None:
    idp = DevIdP.from_config(dev_config(tmp_path))
    with pytest.raises(ValueError, match="maximum token lifetime"):
        idp.mint("bot", ttl=3601)
    with pytest.raises(ValueError, match="subject"):
        idp.mint("", ttl=60)


def test_dev_idp_must_be_enabled(tmp_path: Path) -> None:
    config = load_config_text("", base_dir=tmp_path)
    with pytest.raises(DevIdPError, match="not enabled"):
        DevIdP.from_config(config)


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
async def test_minted_tokens_verify_through_discovery_and_jwks(
    tmp_path: Path, nursery: trio.Nursery, alg: str
) -> None:
    config = dev_config(tmp_path, f'algorithm = "{alg}"')
    idp = DevIdP.from_config(config)
    discovery = await serve_dev(nursery, idp)
    verifier = Verifier(VerifierSettings.for_dev(config, discovery))
    token = idp.mint("agent-7", ["ci", "ops"], ttl=600)
    identity = await verifier.verify(token)
    assert identity.subject == "agent-7"
    assert identity.groups == ("ci", "ops")
    assert identity.issuer == config.identity.dev.issuer_url()
    assert identity.method == "dev"
    assert identity.token_id is not None
    assert verifier.keys.fetch_count == 1


async def test_rotation_is_picked_up_and_old_tokens_still_verify(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = dev_config(tmp_path)
    idp = DevIdP.from_config(config)
    discovery = await serve_dev(nursery, idp)
    now = [1000.0]
    settings = VerifierSettings.for_dev(config, discovery)
    verifier = Verifier(settings, monotonic=lambda: now[0])
    before = idp.mint("bot", ttl=600)
    await verifier.verify(before)
    idp.store.rotate()
    after = idp.mint("bot", ttl=600)
    assert after.split(".")[0] != before.split(".")[0]  # another kid in the header
    now[0] += settings.jwks_min_refresh_interval + 1
    assert (await verifier.verify(after)).subject == "bot"
    # A verifier that never saw the old key still accepts tokens signed with it.
    fresh = Verifier(settings)
    assert (await fresh.verify(before)).subject == "bot"
    assert fresh.keys.fetch_count == 1
    assert verifier.keys.fetch_count == 2


async def test_dev_tokens_for_another_audience_are_refused(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = dev_config(tmp_path)
    other = dev_config(tmp_path, 'audience = "not-limen"')
    discovery = await serve_dev(nursery, DevIdP.from_config(config))
    verifier = Verifier(VerifierSettings.for_dev(config, discovery))
    token = DevIdP.from_config(other).mint("bot", ttl=60)
    with pytest.raises(IdentityError) as info:
        await verifier.verify(token)
    assert info.value.reason == Reason.WRONG_AUDIENCE


async def test_issuer_with_a_path(tmp_path: Path, nursery: trio.Nursery) -> None:
    config = dev_config(tmp_path, 'issuer = "http://127.0.0.1:8898/realms/dev"')
    idp = DevIdP.from_config(config)
    discovery = await serve_dev(nursery, idp)
    assert discovery.endswith("/realms/dev/.well-known/openid-configuration")
    async with httpx.AsyncClient(trust_env=False) as client:
        doc = (await client.get(discovery)).json()
    assert doc["issuer"] == "http://127.0.0.1:8898/realms/dev"
    assert doc["jwks_uri"].startswith(discovery.split("/realms/")[0])
    verifier = Verifier(VerifierSettings.for_dev(config, discovery))
    assert (await verifier.verify(idp.mint("bot", ttl=60))).subject == "bot"


# --- the HTTP server itself ------------------------------------------------------


async def test_http_server_routing_and_limits(nursery: trio.Nursery) -> None:
    router = Router()

    async def echo(request: Request) -> Response:
        return Response.json(200, {"path": request.path, "form": request.form()})

    async def boom(_request: Request) -> Response:
        raise RuntimeError("secret detail")

    router.post("/echo", echo)
    router.get("/boom", boom)
    listeners = await nursery.start(HTTPServer(router, max_body_size=1024).serve, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{bound_port(listeners)}"
    async with httpx.AsyncClient(trust_env=False) as client:
        ok = await client.post(f"{base}/echo", data={"grant_type": "x"})
        assert ok.status_code == 200
        assert ok.json() == {"path": "/echo", "form": {"grant_type": "x"}}
        assert (await client.get(f"{base}/nope")).status_code == 404
        wrong = await client.get(f"{base}/echo")
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
        big = await client.post(f"{base}/echo", content=b"x" * 2048)
        assert big.status_code == 413
        failed = await client.get(f"{base}/boom")
        assert failed.status_code == 500
        assert "secret detail" not in failed.text
        # Keep-alive: the same client keeps working after errors.
        assert (await client.post(f"{base}/echo", data={"a": "b"})).status_code == 200
    with pytest.raises(ValueError, match="already registered"):
        router.post("/echo", echo)


async def test_http_server_rejects_garbage(nursery: trio.Nursery) -> None:
    listeners = await nursery.start(HTTPServer(Router()).serve, "127.0.0.1", 0)
    stream = await trio.open_tcp_stream("127.0.0.1", bound_port(listeners))
    await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
    reply = b""
    while chunk := await stream.receive_some(4096):
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 400")
    await stream.aclose()
