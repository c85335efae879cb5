"""The dev IdP's OAuth2 token endpoint (client-credentials grant), spoken to
with a real HTTP client (httpx) against the real server on port 0; the
tokens it hands out pass the gateway's own Authenticator."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
import trio

from limen.config import Config, ConfigError, DevClient, load_config_text
from limen.identity import Authenticator, DevIdP, DevKeyStore

BOT_SECRET = secrets.token_urlsafe(32)
OPS_SECRET = "s3cret with spaces & symbols:/+"


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def client_config(tmp_path: Path, extra_identity: str = "") -> Config:
    return load_config_text(
        f"""
        [gateway]
        state = "sqlite://state/limen.db"
        [identity]
        {extra_identity}
        [identity.dev]
        enabled = true
        default_ttl = "10m"

        [[identity.dev.clients]]
        client_id = "etl-bot"
        secret_sha256 = "{_sha(BOT_SECRET)}"
        groups = ["ci", "etl"]

        [[identity.dev.clients]]
        client_id = "ops-bot"
        secret_sha256 = "{_sha(OPS_SECRET)}"
        subject = "ops-agent"
        groups = ["ops"]
        ttl = "2m"
        """,
        base_dir=tmp_path,
    )


async def serve(nursery: trio.Nursery, config: Config) -> tuple[DevIdP, str]:
    idp = DevIdP.from_config(config)
    discovery: str = await nursery.start(idp.serve, "127.0.0.1", 0)
    return idp, discovery


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


async def test_discovery_advertises_the_token_endpoint(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    _, discovery = await serve(nursery, client_config(tmp_path))
    async with httpx.AsyncClient() as http:
        doc = (await http.get(discovery)).json()
    base = discovery.removesuffix("/.well-known/openid-configuration")
    assert doc["token_endpoint"] == f"{base}/token"
    assert doc["grant_types_supported"] == ["client_credentials"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]


async def test_client_secret_basic_and_post_get_tokens_the_gateway_accepts(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = client_config(tmp_path)
    _, discovery = await serve(nursery, config)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    async with httpx.AsyncClient() as http:
        endpoint = (await http.get(discovery)).json()["token_endpoint"]
        # client_secret_basic, with httpx's own Basic auth
        r1 = await http.post(
            endpoint,
            data={"grant_type": "client_credentials"},
            auth=("etl-bot", BOT_SECRET),
        )
        # client_secret_post; this secret needs form encoding
        r2 = await http.post(
            endpoint,
            data={
                "grant_type": "client_credentials",
                "client_id": "ops-bot",
                "client_secret": OPS_SECRET,
                "scope": "ignored",
            },
        )
    assert r1.status_code == 200, r1.text
    assert r1.headers["cache-control"] == "no-store"
    assert r1.headers["pragma"] == "no-cache"
    body = r1.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600  # [identity.dev] default_ttl
    etl = await auth.authenticate(body["access_token"])
    assert (etl.subject, etl.groups, etl.method) == ("etl-bot", ("ci", "etl"), "dev")
    assert etl.expires_at is not None
    assert r2.status_code == 200, r2.text
    assert r2.json()["expires_in"] == 120  # the client's own ttl
    ops = await auth.authenticate(r2.json()["access_token"])
    assert (ops.subject, ops.groups) == ("ops-agent", ("ops",))
    claims = json.loads(
        base64.urlsafe_b64decode(r2.json()["access_token"].split(".")[1] + "==").decode()
    )
    assert claims["client_id"] == "ops-bot"
    assert claims["exp"] - claims["iat"] == 120


async def test_basic_credentials_are_form_decoded(tmp_path: Path, nursery: trio.Nursery) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before base64."""
    _, discovery = await serve(nursery, client_config(tmp_path))
    endpoint = discovery.removesuffix("/.well-known/openid-configuration") + "/token"
    from urllib.parse import quote_plus

    async with httpx.AsyncClient() as http:
        r = await http.post(
            endpoint,
            data={"grant_type": "client_credentials"},
            headers=basic("ops-bot", quote_plus(OPS_SECRET)),
        )
    assert r.status_code == 200, r.text


def test_token_lifetime_is_capped_by_the_maximum(tmp_path: Path) -> None:
    idp = DevIdP(
        issuer="http://127.0.0.1:1",
        audience="limen",
        store=DevKeyStore(tmp_path / "keys.json"),
        max_lifetime=300,
        clients=[DevClient(client_id="a", secret_sha256=_sha("x"))],
        default_ttl=600,
    )
    assert idp.authenticate_client("a", "x") is not None
    assert idp.authenticate_client("a", "y") is None
    assert idp.authenticate_client("b", "x") is None
    _, ttl = idp.client_token(idp.authenticate_client("a", "x"))  # type: ignore[arg-type]
    assert ttl == 300


def test_a_client_ttl_over_the_maximum_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(
            f"""
            [identity]
            max_token_lifetime = "1m"
            [identity.dev]
            enabled = true
            default_ttl = "1m"
            [[identity.dev.clients]]
            client_id = "a"
            secret_sha256 = "{_sha("x")}"
            ttl = "2m"
            """,
            base_dir=tmp_path,
        )
    assert [str(i) for i in info.value.issues] == [
        "$.identity.dev.clients[0].ttl: longer than identity.max_token_lifetime (1m)"
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ('client_id = "a"\nsecret_sha256 = "abc"', "$.identity.dev.clients[0].secret_sha256"),
        (
            f'client_id = "a"\nsecret_sha256 = "{_sha("x")}"\nsecret = "x"',
            "$.identity.dev.clients[0].secret: unknown field",
        ),
        (f'client_id = ""\nsecret_sha256 = "{_sha("x")}"', "$.identity.dev.clients[0].client_id"),
        (
            f'client_id = "a:b"\nsecret_sha256 = "{_sha("x")}"',
            "$.identity.dev.clients[0].client_id",
        ),
        (f'secret_sha256 = "{_sha("x")}"', "$.identity.dev.clients[0].client_id: required"),
    ],
)
def test_client_config_errors_name_the_path(tmp_path: Path, fields: str, message: str) -> None:
    text = f"[identity.dev]\nenabled = true\n[[identity.dev.clients]]\n{fields}\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, base_dir=tmp_path)
    assert any(str(i).startswith(message) for i in info.value.issues), info.value.issues


def test_duplicate_client_ids_are_refused(tmp_path: Path) -> None:
    entry = f'[[identity.dev.clients]]\nclient_id = "a"\nsecret_sha256 = "{_sha("x")}"\n'
    with pytest.raises(ConfigError, match=r"clients\[1\].client_id: duplicate client id 'a'"):
        load_config_text(f"[identity.dev]\nenabled = true\n{entry}{entry}", base_dir=tmp_path)


async def test_refusals_are_oauth2_errors(tmp_path: Path, nursery: trio.Nursery) -> None:
    _, discovery = await serve(nursery, client_config(tmp_path))
    endpoint = discovery.removesuffix("/.well-known/openid-configuration") + "/token"
    grant = {"grant_type": "client_credentials"}
    async with httpx.AsyncClient() as http:
        wrong = await http.post(endpoint, data=grant, headers=basic("etl-bot", "not-the-secret"))
        unknown = await http.post(endpoint, data=grant, headers=basic("nobody", BOT_SECRET))
        swapped = await http.post(endpoint, data=grant, headers=basic("ops-bot", BOT_SECRET))
        wrong_post = await http.post(
            endpoint, data={**grant, "client_id": "etl-bot", "client_secret": "nope"}
        )
        nothing = await http.post(endpoint, data=grant)
        both = await http.post(
            endpoint,
            data={**grant, "client_id": "etl-bot", "client_secret": BOT_SECRET},
            headers=basic("etl-bot", BOT_SECRET),
        )
        password = await http.post(
            endpoint, data={"grant_type": "password"}, headers=basic("etl-bot", BOT_SECRET)
        )
        missing = await http.post(endpoint, data={}, headers=basic("etl-bot", BOT_SECRET))
        as_json = await http.post(endpoint, json=grant, headers=basic("etl-bot", BOT_SECRET))
        repeated = await http.post(
            endpoint,
            content=b"grant_type=client_credentials&grant_type=client_credentials",
            headers={
                **basic("etl-bot", BOT_SECRET),
                "content-type": "application/x-www-form-urlencoded",
            },
        )
        bearer = await http.post(endpoint, data=grant, headers={"authorization": "Bearer x"})
        get = await http.get(endpoint)
    for r in (wrong, unknown, swapped, wrong_post, nothing, bearer):
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"
        assert r.headers["cache-control"] == "no-store"
    # Unknown id and wrong secret look the same from outside.
    assert wrong.json() == unknown.json() == swapped.json() == wrong_post.json()
    assert wrong.headers["www-authenticate"].startswith('Basic realm="limen-dev-idp"')
    assert "www-authenticate" not in wrong_post.headers  # no Basic was tried
    for r in (both, missing, as_json, repeated):
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_request"
    assert password.status_code == 400
    assert password.json()["error"] == "unsupported_grant_type"
    assert get.status_code == 405
    for r in (wrong, unknown, swapped, wrong_post, both):
        assert BOT_SECRET not in r.text
        assert "not-the-secret" not in r.text


def _limen(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_add_client_prints_config_lines_and_the_secret_once(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    done = _limen(
        "identity", "add-client", "--client-id", "agent-1", "--group", "ci", "--ttl", "5m"
    )
    assert done.returncode == 0, done.stderr
    entry = tomllib.loads(done.stdout)["identity"]["dev"]["clients"][0]
    assert entry["client_id"] == "agent-1"
    assert entry["groups"] == ["ci"]
    assert entry["ttl"] == "5m"
    secret_lines = [ln for ln in done.stderr.splitlines() if ln.startswith("client secret: ")]
    assert len(secret_lines) == 1
    secret = secret_lines[0].removeprefix("client secret: ")
    assert len(secret) >= 40
    assert secret not in done.stdout
    assert entry["secret_sha256"] == _sha(secret)
    # The printed lines make a working client.
    config_path = tmp_path / "limen.toml"
    config_path.write_text(
        '[gateway]\nstate = "sqlite://state/limen.db"\n[identity.dev]\nenabled = true\n'
        + done.stdout
    )
    checked = _limen("config", "check", "--config", str(config_path))
    assert checked.returncode == 0, checked.stderr
    config = load_config_text(config_path.read_text(), base_dir=tmp_path)
    _, discovery = await serve(nursery, config)
    endpoint = discovery.removesuffix("/.well-known/openid-configuration") + "/token"
    async with httpx.AsyncClient() as http:
        r = await http.post(
            endpoint, data={"grant_type": "client_credentials"}, auth=("agent-1", secret)
        )
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 300


def test_add_client_refuses_a_bad_id() -> None:
    done = _limen("identity", "add-client", "--client-id", "a b")
    assert done.returncode == 2
    assert "client id" in done.stderr
