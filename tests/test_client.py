"""limen.client against the real dev IdP over HTTP: discovery, both client
authentication methods, caching and refresh (on an injected clock), thread
safety, errors that never hold the secret, and a psycopg connection through
the real gateway with the URL it builds."""

from __future__ import annotations

import hashlib
import logging
import pickle
import secrets
import threading
from pathlib import Path

import psycopg
import pytest
import trio

from gateway_pg_support import config_text, database
from limen.client import ClientCredentials, TokenError, connection_url, token_subject
from limen.config import Config, load_config_text
from limen.gateway import JsonLog, PgGateway
from limen.identity import Authenticator, DevIdP
from limen.recording import MemoryRecorder, SessionInfo

__all__ = ["database"]

SECRET = secrets.token_urlsafe(32)


def _client_block(client_id: str = "agent", groups: str = '["ci"]', ttl: str = "10m") -> str:
    return f"""
[[identity.dev.clients]]
client_id = "{client_id}"
secret_sha256 = "{hashlib.sha256(SECRET.encode()).hexdigest()}"
groups = {groups}
ttl = "{ttl}"
"""


def dev_config(tmp_path: Path) -> Config:
    return load_config_text(
        '[gateway]\nstate = "sqlite://state/limen.db"\n[identity.dev]\nenabled = true\n'
        + _client_block(),
        base_dir=tmp_path,
    )


async def serve(nursery: trio.Nursery, config: Config) -> str:
    discovery: str = await nursery.start(DevIdP.from_config(config).serve, "127.0.0.1", 0)
    return discovery


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_fetch_cache_refresh(tmp_path: Path, nursery: trio.Nursery) -> None:
    discovery = await serve(nursery, dev_config(tmp_path))
    clock = Clock()
    creds = ClientCredentials(
        discovery_url=discovery, client_id="agent", client_secret=SECRET, clock=clock
    )

    def run() -> None:
        first = creds.token()
        assert token_subject(first) == "agent"
        assert creds.subject() == "agent"
        assert creds.token() == first
        clock.now += 0.79 * 600  # before 80% of the lifetime: cached
        assert creds.token() == first
        assert creds.fetch_count == 1
        clock.now += 0.02 * 600  # past 80%: a new token
        second = creds.token()
        assert second != first
        assert creds.fetch_count == 2
        creds.invalidate()
        assert creds.token() != second
        assert creds.fetch_count == 3
        assert creds.token_endpoint == discovery.replace(
            "/.well-known/openid-configuration", "/token"
        )
        creds.close()

    await trio.to_thread.run_sync(run)


async def test_client_secret_post_and_issuer_discovery(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    discovery = await serve(nursery, dev_config(tmp_path))
    issuer = discovery.removesuffix("/.well-known/openid-configuration")

    def run() -> str:
        with ClientCredentials(
            issuer=issuer + "/",
            client_id="agent",
            client_secret=SECRET,
            auth_method="client_secret_post",
        ) as creds:
            return creds.token()

    assert token_subject(await trio.to_thread.run_sync(run)) == "agent"


async def test_one_fetch_for_many_threads(tmp_path: Path, nursery: trio.Nursery) -> None:
    discovery = await serve(nursery, dev_config(tmp_path))
    creds = ClientCredentials(discovery_url=discovery, client_id="agent", client_secret=SECRET)
    seen: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        seen.append(creds.token())

    def run() -> None:
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    await trio.to_thread.run_sync(run)
    assert len(seen) == 8
    assert len(set(seen)) == 1
    assert creds.fetch_count == 1


async def test_refused_secret_and_no_leak(
    tmp_path: Path, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="limen.client")
    discovery = await serve(nursery, dev_config(tmp_path))
    wrong = "wrong-" + SECRET
    bad = ClientCredentials(discovery_url=discovery, client_id="agent", client_secret=wrong)
    good = ClientCredentials(discovery_url=discovery, client_id="agent", client_secret=SECRET)

    def run() -> tuple[TokenError, str]:
        with pytest.raises(TokenError) as info:
            bad.token()
        return info.value, good.token()

    error, token = await trio.to_thread.run_sync(run)
    assert error.error == "invalid_client"
    assert error.status == 401
    assert "agent" in str(error)
    for text in (str(error), repr(bad), str(bad), repr(good), caplog.text):
        assert SECRET not in text
        assert wrong not in text
        assert token not in text
    assert "token=cached" in repr(good)
    with pytest.raises(TypeError):
        pickle.dumps(good)


async def test_cached_token_survives_a_failed_refresh_until_expiry(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = dev_config(tmp_path)
    clock = Clock()
    async with trio.open_nursery() as idp_nursery:
        discovery = await serve(idp_nursery, config)
        creds = ClientCredentials(
            discovery_url=discovery, client_id="agent", client_secret=SECRET, clock=clock
        )
        token = await trio.to_thread.run_sync(creds.token)
        idp_nursery.cancel_scope.cancel()  # the IdP goes away

    def later() -> tuple[str, TokenError]:
        clock.now += 0.9 * 600  # a refresh is due but fails: the cached token
        cached = creds.token()
        clock.now += 0.1 * 600  # expired: the failure comes through
        with pytest.raises(TokenError) as info:
            creds.token()
        return cached, info.value

    cached, error = await trio.to_thread.run_sync(later)
    assert cached == token
    assert error.error == "unreachable"


def test_bad_configuration_is_refused_early() -> None:
    with pytest.raises(ValueError, match="issuer"):
        ClientCredentials(client_id="a", client_secret="b")
    with pytest.raises(ValueError, match="client_secret"):
        ClientCredentials(client_id="a", client_secret="", issuer="https://x")
    with pytest.raises(TokenError, match="https"):
        ClientCredentials(client_id="a", client_secret="b", token_endpoint="http://idp.example/t")


def test_connection_url_quotes_its_parts() -> None:
    assert (
        connection_url("tok.en-_", "staging", host="gw", port=6432, user="ci bot")
        == "postgresql://ci%20bot:tok.en-_@gw:6432/staging"
    )
    assert connection_url(
        "t", "r", host="::1", port=1, user="u", params={"sslmode": "require"}
    ) == ("postgresql://u:t@[::1]:1/r?sslmode=require")
    with pytest.raises(ValueError, match="JWT"):
        connection_url("opaque", "r")


@pytest.mark.integration
async def test_psycopg_through_the_gateway_with_the_url(
    tmp_path: Path, nursery: trio.Nursery, database: str
) -> None:
    config = load_config_text(config_text(database) + _client_block("ci-agent"), base_dir=tmp_path)
    idp = DevIdP.from_config(config)
    discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    recorders: list[MemoryRecorder] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        recorders.append(MemoryRecorder(info))
        return recorders[-1]

    gateway = PgGateway(config, auth, recorder_factory=recorder, log=JsonLog())
    listeners = await nursery.start(gateway.serve, "127.0.0.1", 0)
    port = listeners[0].socket.getsockname()[1]
    creds = ClientCredentials(discovery_url=discovery, client_id="ci-agent", client_secret=SECRET)

    def client() -> object:
        url = creds.connection_url(
            "app", host="127.0.0.1", port=port, params={"sslmode": "disable"}
        )
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute("SELECT email FROM users WHERE id = 1").fetchone()

    assert await trio.to_thread.run_sync(client) == ("[MASKED:email]",)
    assert recorders[0].info is not None
    assert recorders[0].info.subject == "ci-agent"
    await gateway.drain(timeout=1)
