"""The OIDC verifier against a real provider served over HTTP on 127.0.0.1:0.

Token times are set relative to a fixed clock handed to the verifier, and
the JWKS cache runs on a clock the test moves: nothing waits, nothing
asserts on elapsed time.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from limen.config import load_config_text
from limen.identity import (
    Authenticator,
    IdentityError,
    Reason,
    StaticKeys,
    Verifier,
    VerifierSettings,
    hash_key,
)
from oidc_provider import FakeClock, Provider, new_key, self_signed, unsigned

NOW = 1_800_000_000.0
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


@pytest.fixture
async def provider(nursery: trio.Nursery) -> Provider:
    p = Provider()
    p.add_key("k1", "ES256")
    await nursery.start(p.serve)
    return p


def make_verifier(provider: Provider, clock: FakeClock | None = None, **kw: Any) -> Verifier:
    settings = VerifierSettings(issuer=provider.issuer, audiences=("limen",), **kw)
    return Verifier(settings, clock=lambda: NOW, monotonic=clock or FakeClock())


async def refused(verifier: Verifier, token: str) -> Reason:
    """The refusal reason; also checks the message never echoes the token."""
    with pytest.raises(IdentityError) as info:
        await verifier.verify(token)
    err = info.value
    for part in token.split("."):
        if len(part) > 8:
            assert part not in str(err)
    return err.reason


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_every_allowed_algorithm_verifies(provider: Provider, alg: str) -> None:
    provider.add_key(f"key-{alg}", alg)
    verifier = make_verifier(provider)
    token = provider.sign(provider.claims(NOW, sub=f"bot-{alg}"), f"key-{alg}")
    identity = await verifier.verify(token)
    assert identity.subject == f"bot-{alg}"
    assert identity.groups == ("ci",)
    assert identity.issuer == provider.issuer
    assert identity.expires_at == int(NOW) + 600
    assert identity.token_id == "token-1"
    assert identity.method == "oidc"


async def test_expiry_and_leeway(provider: Provider) -> None:
    verifier = make_verifier(provider, leeway=30)
    within = provider.sign(provider.claims(NOW - 600, exp=int(NOW) - 20), "k1")
    assert (await verifier.verify(within)).subject == "bot-1"
    outside = provider.sign(provider.claims(NOW - 600, exp=int(NOW) - 31), "k1")
    assert await refused(verifier, outside) == Reason.EXPIRED


async def test_not_before_and_issued_at_with_clock_skew(provider: Provider) -> None:
    verifier = make_verifier(provider, leeway=30)
    skew_ok = provider.sign(provider.claims(NOW + 25), "k1")
    assert (await verifier.verify(skew_ok)).subject == "bot-1"
    nbf_future = provider.sign(provider.claims(NOW, nbf=int(NOW) + 120), "k1")
    assert await refused(verifier, nbf_future) == Reason.NOT_YET_VALID
    iat_future = provider.sign(provider.claims(NOW, nbf=None, iat=int(NOW) + 120), "k1")
    assert await refused(verifier, iat_future) == Reason.NOT_YET_VALID


async def test_audience(provider: Provider) -> None:
    verifier = make_verifier(provider)
    wrong = provider.sign(provider.claims(NOW, aud="someone-else"), "k1")
    assert await refused(verifier, wrong) == Reason.WRONG_AUDIENCE
    missing = provider.sign(provider.claims(NOW, aud=None), "k1")
    assert await refused(verifier, missing) == Reason.WRONG_AUDIENCE
    in_list = provider.sign(provider.claims(NOW, aud=["other", "limen"]), "k1")
    assert (await verifier.verify(in_list)).subject == "bot-1"


async def test_wrong_issuer(provider: Provider) -> None:
    verifier = make_verifier(provider)
    token = provider.sign(provider.claims(NOW, iss="https://evil.example"), "k1")
    assert await refused(verifier, token) == Reason.WRONG_ISSUER


async def test_alg_none_is_refused(provider: Provider) -> None:
    verifier = make_verifier(provider)
    for alg in ("none", "None", "NONE"):
        token = unsigned({"alg": alg, "kid": "k1"}, provider.claims(NOW))
        assert await refused(verifier, token) == Reason.ALG_NOT_ALLOWED
    assert provider.jwks_requests == 0  # refused before any key was looked at


async def test_hmac_signed_with_the_public_key_is_refused(provider: Provider) -> None:
    """Algorithm confusion: HS256 keyed with the provider's public key bytes."""
    key = provider.add_key("rsa", "RS256")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header_claims = unsigned({"alg": "HS256", "kid": "rsa", "typ": "JWT"}, provider.claims(NOW))
    signing_input = header_claims.rsplit(".", 1)[0]
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = unsigned({"alg": "HS256", "kid": "rsa", "typ": "JWT"}, provider.claims(NOW), mac)
    assert token.rsplit(".", 1)[0] == signing_input
    verifier = make_verifier(provider)
    assert await refused(verifier, token) == Reason.ALG_NOT_ALLOWED


async def test_algorithms_outside_the_configured_set_are_refused(provider: Provider) -> None:
    provider.add_key("ed", "EdDSA")
    verifier = make_verifier(provider, algorithms=("ES256",))
    token = provider.sign(provider.claims(NOW), "ed")
    assert await refused(verifier, token) == Reason.ALG_NOT_ALLOWED
    with pytest.raises(ValueError, match="HS256"):
        make_verifier(provider, algorithms=("ES256", "HS256"))


async def test_key_type_must_fit_the_algorithm(provider: Provider) -> None:
    """An ES256 header naming an RSA key is not verified with that key."""
    provider.add_key("rsa", "RS256")
    other = new_key("ES256")
    token = provider.sign(provider.claims(NOW), "rsa", key=other, alg="ES256")
    verifier = make_verifier(provider)
    assert await refused(verifier, token) == Reason.ALG_NOT_ALLOWED


async def test_bad_signature(provider: Provider) -> None:
    verifier = make_verifier(provider)
    forged = provider.sign(provider.claims(NOW), "k1", key=new_key("ES256"))
    assert await refused(verifier, forged) == Reason.BAD_SIGNATURE
    good = provider.sign(provider.claims(NOW), "k1")
    head, _, sig = good.split(".")
    tampered_body = provider.sign(provider.claims(NOW, sub="admin"), "k1").split(".")[1]
    assert await refused(verifier, f"{head}.{tampered_body}.{sig}") == Reason.BAD_SIGNATURE


async def test_no_expiry_is_refused(provider: Provider) -> None:
    verifier = make_verifier(provider)
    token = provider.sign(provider.claims(NOW, exp=None), "k1")
    assert await refused(verifier, token) == Reason.NO_EXPIRY


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(NOW) + 7200},  # exp - iat
        {"iat": None, "exp": int(NOW) + 7200},  # exp - nbf
        {"iat": None, "nbf": None, "exp": int(NOW) + 7200},  # exp - now
    ],
)
async def test_over_long_lifetime_is_refused(provider: Provider, overrides: Any) -> None:
    verifier = make_verifier(provider, max_lifetime=3600)
    token = provider.sign(provider.claims(NOW, **overrides), "k1")
    assert await refused(verifier, token) == Reason.LIFETIME_TOO_LONG
    exactly = provider.sign(provider.claims(NOW, exp=int(NOW) + 3600), "k1")
    assert (await verifier.verify(exactly)).expires_at == int(NOW) + 3600


async def test_nested_and_namespaced_group_claims(provider: Provider) -> None:
    nested = make_verifier(provider, groups_claim="realm_access.roles")
    token = provider.sign(
        provider.claims(NOW, groups=None, realm_access={"roles": ["ops", "ci", "ops"]}), "k1"
    )
    assert (await nested.verify(token)).groups == ("ops", "ci")
    missing = provider.sign(provider.claims(NOW, groups=None), "k1")
    assert (await nested.verify(missing)).groups == ()

    namespaced = make_verifier(provider, groups_claim="https://example.com/groups")
    token = provider.sign(provider.claims(NOW, **{"https://example.com/groups": ["sec"]}), "k1")
    assert (await namespaced.verify(token)).groups == ("sec",)

    bad = provider.sign(provider.claims(NOW, groups=[1, 2]), "k1")
    assert await refused(make_verifier(provider), bad) == Reason.BAD_CLAIM


@pytest.mark.parametrize("exp", [float("nan"), float("inf"), 10**400, "soon", True])
async def test_implausible_times_are_malformed(provider: Provider, exp: Any) -> None:
    verifier = make_verifier(provider)
    token = provider.sign(provider.claims(NOW, exp=exp), "k1")
    assert await refused(verifier, token) == Reason.MALFORMED


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "bot\nadmin"},
        {"sub": "x" * 300},
        {"groups": ["ok", "bad\x00group"]},
        {"groups": "tab\tgroup"},
        {"groups": {"a": 1}},
    ],
)
async def test_names_with_control_characters_are_refused(
    provider: Provider, claims: dict[str, Any]
) -> None:
    verifier = make_verifier(provider)
    token = provider.sign(provider.claims(NOW, **claims), "k1")
    assert await refused(verifier, token) == Reason.BAD_CLAIM


async def test_subject_is_required(provider: Provider) -> None:
    verifier = make_verifier(provider)
    assert await refused(verifier, provider.sign(provider.claims(NOW, sub=None), "k1")) == (
        Reason.MISSING_CLAIM
    )
    assert await refused(verifier, provider.sign(provider.claims(NOW, sub=7), "k1")) == (
        Reason.BAD_CLAIM
    )


async def test_unknown_kid_refreshes_once_and_is_rate_limited(provider: Provider) -> None:
    clock = FakeClock()
    verifier = make_verifier(provider, clock, jwks_min_refresh_interval=30)
    await verifier.verify(provider.sign(provider.claims(NOW), "k1"))
    assert provider.jwks_requests == 1
    stranger = new_key("ES256")
    provider.keys["ghost"] = ("ES256", stranger)
    token = provider.sign(provider.claims(NOW), "ghost")
    del provider.keys["ghost"]
    clock.advance(31)
    assert await refused(verifier, token) == Reason.UNKNOWN_KEY
    assert provider.jwks_requests == 2
    # A flood of unknown kids within the interval does not hit the provider.
    for _ in range(5):
        assert await refused(verifier, token) == Reason.UNKNOWN_KEY
    assert provider.jwks_requests == 2


async def test_key_rotation_without_restart(provider: Provider) -> None:
    clock = FakeClock()
    verifier = make_verifier(provider, clock)
    old = provider.sign(provider.claims(NOW, jti="old"), "k1")
    assert (await verifier.verify(old)).token_id == "old"
    provider.add_key("k2", "EdDSA")
    new = provider.sign(provider.claims(NOW, jti="new"), "k2")
    clock.advance(60)
    assert (await verifier.verify(new)).token_id == "new"
    # The old key is still published, so a fresh token under it still verifies.
    old2 = provider.sign(provider.claims(NOW, jti="old2"), "k1")
    assert (await verifier.verify(old2)).token_id == "old2"
    # Once the provider drops k1 and the keys are refreshed, k1 tokens fail.
    del provider.keys["k1"]
    clock.advance(400)  # past jwks_refresh: the next lookup re-fetches
    old3 = provider.sign(provider.claims(NOW, jti="old3"), "k2")
    assert (await verifier.verify(old3)).token_id == "old3"
    stale = provider.sign(
        provider.claims(NOW, jti="stale"), "k1", key=new_key("ES256"), alg="ES256"
    )
    assert await refused(verifier, stale) == Reason.UNKNOWN_KEY


async def test_endpoint_down_cached_keys_work_unknown_fail_closed(provider: Provider) -> None:
    clock = FakeClock()
    verifier = make_verifier(provider, clock, jwks_refresh=300, jwks_max_age=3600)
    await verifier.verify(provider.sign(provider.claims(NOW, jti="a"), "k1"))
    provider.stop()
    await trio.testing.wait_all_tasks_blocked()
    provider.add_key("k9", "ES256")
    clock.advance(600)  # past refresh: a refresh is tried, fails, cache still valid
    cached = provider.sign(provider.claims(NOW, jti="b"), "k1")
    assert (await verifier.verify(cached)).token_id == "b"
    clock.advance(60)
    unknown = provider.sign(provider.claims(NOW, jti="c"), "k9")
    assert await refused(verifier, unknown) == Reason.JWKS_UNAVAILABLE
    clock.advance(3600)  # past max age: even the cached key is no longer trusted
    late = provider.sign(provider.claims(NOW, jti="d"), "k1")
    assert await refused(verifier, late) == Reason.JWKS_UNAVAILABLE


async def test_provider_never_reached_fails_closed(provider: Provider) -> None:
    provider.stop()
    await trio.testing.wait_all_tasks_blocked()
    verifier = make_verifier(provider)
    token = provider.sign(provider.claims(NOW), "k1")
    assert await refused(verifier, token) == Reason.JWKS_UNAVAILABLE


async def test_discovery_naming_another_issuer_is_refused(provider: Provider) -> None:
    provider.discovery_issuer = "https://impostor.example"
    verifier = make_verifier(provider)
    token = provider.sign(provider.claims(NOW), "k1")
    assert await refused(verifier, token) == Reason.JWKS_UNAVAILABLE


async def test_plain_http_off_loopback_is_never_fetched() -> None:
    settings = VerifierSettings(issuer="http://idp.example.com", audiences=("limen",))
    verifier = Verifier(settings, clock=lambda: NOW)
    p = Provider(issuer="http://idp.example.com")
    p.add_key("k1", "ES256")
    with pytest.raises(IdentityError) as info:
        await verifier.verify(p.sign(p.claims(NOW), "k1"))
    assert info.value.reason == Reason.JWKS_UNAVAILABLE
    assert "https" in info.value.message


async def test_https_provider_with_a_configured_ca(tmp_path: Path, nursery: trio.Nursery) -> None:
    context, ca_file = self_signed(tmp_path)
    p = Provider(tls=context)
    p.add_key("k1", "EdDSA")
    await nursery.start(p.serve)
    assert p.issuer.startswith("https://127.0.0.1:")
    token = p.sign(p.claims(NOW), "k1")
    trusted = make_verifier(p, ca_file=str(ca_file))
    assert (await trusted.verify(token)).subject == "bot-1"
    # Without the CA the certificate does not verify: fail closed.
    untrusted = make_verifier(p)
    assert await refused(untrusted, token) == Reason.JWKS_UNAVAILABLE
    missing_ca = make_verifier(p, ca_file=str(tmp_path / "nope.pem"))
    assert await refused(missing_ca, token) == Reason.JWKS_UNAVAILABLE


async def test_verified_tokens_are_cached_until_expiry(provider: Provider) -> None:
    clock = FakeClock()
    verifier = make_verifier(provider, clock, token_cache_size=2)
    token = provider.sign(provider.claims(NOW), "k1")
    first = await verifier.verify(token)
    provider.stop()
    clock.advance(10_000)  # keys long expired; the token itself is still valid
    assert await verifier.verify(token) is first
    other = provider.sign(provider.claims(NOW, jti="x"), "k1")
    assert await refused(verifier, other) == Reason.JWKS_UNAVAILABLE


async def test_token_cache_is_bounded(provider: Provider) -> None:
    verifier = make_verifier(provider, token_cache_size=3)
    tokens = [provider.sign(provider.claims(NOW, jti=f"t{i}"), "k1") for i in range(10)]
    for token in tokens:
        await verifier.verify(token)
    assert verifier.cached_tokens() == 3


async def test_expired_cached_token_is_refused(provider: Provider) -> None:
    now = [NOW]
    settings = VerifierSettings(issuer=provider.issuer, audiences=("limen",), leeway=0)
    verifier = Verifier(settings, clock=lambda: now[0], monotonic=FakeClock())
    token = provider.sign(provider.claims(NOW, exp=int(NOW) + 60), "k1")
    await verifier.verify(token)
    now[0] = NOW + 61
    assert await refused(verifier, token) == Reason.EXPIRED


async def test_authenticator_routes_by_issuer_and_static_keys(provider: Provider) -> None:
    config = load_config_text(
        f"""
        [identity.oidc]
        issuer = "{provider.issuer}"
        audience = "limen"
        [[identity.keys]]
        name = "legacy"
        sha256 = "{hash_key("s3cret-static-key")}"
        groups = ["ci"]
        """
    )
    auth = Authenticator.from_config(config, clock=lambda: NOW)
    identity = await auth.authenticate(provider.sign(provider.claims(NOW), "k1"))
    assert (identity.subject, identity.method) == ("bot-1", "oidc")
    static = await auth.authenticate("s3cret-static-key")
    assert (static.subject, static.groups, static.method) == ("legacy", ("ci",), "static_key")
    with pytest.raises(IdentityError) as info:
        await auth.authenticate("s3cret-static-kez")
    assert info.value.reason == Reason.UNKNOWN_CREDENTIAL
    assert "s3cret" not in str(info.value)
    foreign = provider.sign(provider.claims(NOW, iss="https://other.example"), "k1")
    with pytest.raises(IdentityError) as info:
        await auth.authenticate(foreign)
    assert info.value.reason == Reason.WRONG_ISSUER


def test_static_keys_match_only_their_key() -> None:
    config = load_config_text(
        f"""
        [[identity.keys]]
        name = "a"
        sha256 = "{hash_key("key-a")}"
        groups = ["x"]
        [[identity.keys]]
        name = "b"
        sha256 = "{hash_key("key-b")}"
        """
    )
    keys = StaticKeys(config.identity.keys)
    a, b = keys.match("key-a"), keys.match("key-b")
    assert a is not None
    assert (a.subject, a.groups) == ("a", ("x",))
    assert b is not None
    assert (b.subject, b.groups) == ("b", ())
    assert keys.match("key-c") is None
    assert keys.match("") is None
    assert hash_key("key-a") == hashlib.sha256(b"key-a").hexdigest()


# --- arbitrary input is refused, never crashes --------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
HEADERS = st.fixed_dictionaries(
    {"alg": st.sampled_from([*ALGORITHMS, "none", "HS256", "ES512"]) | st.text(max_size=6)},
    optional={"kid": JSON, "crit": JSON, "typ": JSON},
)
CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.just("http://127.0.0.1:1") | JSON,
        "exp": st.integers() | JSON,
        "aud": JSON,
        "sub": JSON,
        "groups": JSON,
    },
)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@settings(max_examples=150, deadline=None)
@given(header=HEADERS | JSON, claims=CLAIMS | JSON, signature=st.binary(max_size=80))
def test_arbitrary_tokens_are_only_ever_refused(header: Any, claims: Any, signature: bytes) -> None:
    issuer = "http://127.0.0.1:1"
    settings_ = VerifierSettings(
        issuer=issuer,
        audiences=("limen",),
        jwks_uri=f"http://127.0.0.1:{closed_port()}/keys",
        http_timeout=2,
    )
    token = unsigned(header, claims, signature)
    with pytest.raises(IdentityError) as info:
        trio.run(Verifier(settings_, clock=lambda: NOW).verify, token)
    assert isinstance(info.value.reason, Reason)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_credentials_are_only_ever_refused(text: str) -> None:
    auth = Authenticator([], StaticKeys([]))
    with pytest.raises(IdentityError) as info:
        trio.run(auth.authenticate, text)
    assert info.value.reason in (
        Reason.UNKNOWN_CREDENTIAL,
        Reason.MALFORMED,
        Reason.WRONG_ISSUER,
    )
