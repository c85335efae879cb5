"""``[identity]``: who may connect — the dev IdP and its bot clients, an OIDC
provider, static keys — and the rules every token obeys."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from limen.config.schema.base import ALLOWED_ALGORITHMS, Algorithm, Strict
from limen.config.values import Address, Duration


class DevClient(Strict, frozen=True):
    """``[[identity.dev.clients]]``: a bot client of the dev IdP's OAuth2 token
    endpoint (client-credentials grant), its secret kept only as SHA-256 (the
    output of ``limen identity add-client`` or ``limen keys hash``)."""

    client_id: str
    secret_sha256: str
    groups: list[str] = msgspec.field(default_factory=list)
    subject: str | None = None
    """The tokens' subject; default the client id."""
    ttl: Duration | None = None
    """Token lifetime; default ``[identity.dev] default_ttl``."""

    def token_subject(self) -> str:
        return self.subject if self.subject is not None else self.client_id


class DevIdPConfig(Strict, frozen=True):
    """``[identity.dev]``: the built-in OIDC issuer for local use and tests."""

    enabled: bool = False
    listen: Address = msgspec.field(default_factory=lambda: Address("127.0.0.1", 8898))
    issuer: str | None = None
    """Default ``http://LISTEN``."""
    audience: str = "limen"
    algorithm: Literal["EdDSA", "ES256"] = "EdDSA"
    default_ttl: Duration = Duration(15 * 60)
    key_file: str | None = None
    """Default ``STATE_DIR/dev-idp-keys.json`` (mode 0600)."""
    clients: list[DevClient] = msgspec.field(default_factory=list)
    """Bot clients of the token endpoint (OAuth2 client-credentials grant)."""

    def issuer_url(self) -> str:
        return self.issuer if self.issuer is not None else f"http://{self.listen}"


class OIDCConfig(Strict, frozen=True):
    """``[identity.oidc]``: any OpenID Connect provider."""

    issuer: str
    audience: str | list[str] = "limen"
    groups_claim: str = "groups"
    """Claim holding the groups; dotted paths reach nested claims
    (``realm_access.roles``); a claim whose name itself has dots wins."""
    subject_claim: str = "sub"
    algorithms: list[Algorithm] = msgspec.field(default_factory=lambda: list(ALLOWED_ALGORITHMS))
    discovery_url: str | None = None
    """Default ``ISSUER/.well-known/openid-configuration``."""
    jwks_uri: str | None = None
    """Skip discovery and fetch keys from here."""
    ca_file: str | None = None
    http_timeout: Duration = Duration(5)
    jwks_refresh: Duration = Duration(5 * 60)
    """Keys older than this are re-fetched on next use."""
    jwks_max_age: Duration = Duration(60 * 60)
    """Cached keys keep working while the provider is unreachable, up to this age."""
    jwks_min_refresh_interval: Duration = Duration(30)
    """An unknown ``kid`` triggers a refresh at most this often."""

    def audiences(self) -> list[str]:
        return [self.audience] if isinstance(self.audience, str) else list(self.audience)


class StaticKey(Strict, frozen=True):
    """``[[identity.keys]]``: a legacy static credential, kept only as
    SHA-256, or an SSH public key by its fingerprint (one of the two)."""

    name: str
    sha256: str | None = None
    ssh_fingerprint: str | None = None
    """An SSH public key: ``SHA256:…`` as ``ssh-keygen -lf KEY.pub`` prints it."""
    expires: dt.datetime | None = None
    """After this time (with a time zone) the key is refused and its live
    sessions end."""
    groups: list[str] = msgspec.field(default_factory=list)


class IdentityConfig(Strict, frozen=True):
    """``[identity]``: who may connect, and the rules every token obeys."""

    dev: DevIdPConfig = msgspec.field(default_factory=DevIdPConfig)
    oidc: OIDCConfig | None = None
    keys: list[StaticKey] = msgspec.field(default_factory=list)
    leeway: Duration = Duration(30)
    """Clock skew tolerated on ``exp``, ``nbf`` and ``iat`` (at most 5m)."""
    max_token_lifetime: Duration = Duration(60 * 60)
    """Tokens valid for longer than this (``exp - iat``) are refused."""
    token_cache_size: int = 10_000
