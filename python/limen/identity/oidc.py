"""Verifying OIDC JWTs: :class:`Verifier` (one provider) and
:class:`Authenticator` (every identity source of a config).

Order of checks for a token, each refusal with its :class:`Reason`:

1. shape and size (``malformed``);
2. the header's ``alg`` against the allowed asymmetric algorithms —
   ``none`` and every HMAC algorithm are refused before any key is looked at,
   so a token "signed" with a public key's bytes gets nowhere
   (``alg_not_allowed``); an unknown ``crit`` header is refused;
3. the key for ``kid`` from the provider's JWKS (``unknown_key``,
   ``jwks_unavailable``), which must fit the algorithm;
4. the signature, checked by PyJWT on ``cryptography`` (``bad_signature``);
5. the claims, only now that they are known to be the provider's:
   ``iss``, ``aud``, ``exp`` (required), ``nbf``, ``iat`` with the leeway, the
   maximum lifetime (``exp - iat``, else ``exp - nbf``, else ``exp - now``),
   the subject and the groups claim (a dotted path reaches nested claims).

A verified token is cached (by its SHA-256, never the token itself) until it
expires, so a bot that opens many connections is verified once; the cache
is an LRU of bounded size.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from limen.config import ALLOWED_ALGORITHMS, Config, IdentityConfig, OIDCConfig
from limen.identity.claims import (
    JWT_SHAPE,
    MAX_TOKEN_SIZE,
    ago,
    check_shape,
    claim_at,
    claim_name,
    decode_segment,
    groups_of,
    no_constants,
    time_claim,
    unverified_issuer,
)
from limen.identity.jwks import KeySet
from limen.identity.model import Identity, IdentityError, Method, Reason
from limen.identity.statickeys import StaticKeys

__all__ = [
    "MAX_TOKEN_SIZE",
    "Authenticator",
    "Verifier",
    "VerifierSettings",
    "check_shape",
    "claim_at",
    "unverified_issuer",
]


@dataclass(frozen=True)
class VerifierSettings:
    """Everything a :class:`Verifier` needs to know about one provider."""

    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...] = ALLOWED_ALGORITHMS
    groups_claim: str = "groups"
    subject_claim: str = "sub"
    leeway: float = 30.0
    max_lifetime: float = 3600.0
    discovery_url: str | None = None
    jwks_uri: str | None = None
    ca_file: str | None = None
    http_timeout: float = 5.0
    jwks_refresh: float = 300.0
    jwks_max_age: float = 3600.0
    jwks_min_refresh_interval: float = 30.0
    token_cache_size: int = 10_000
    method: Method = "oidc"

    @classmethod
    def from_oidc(
        cls, oidc: OIDCConfig, identity: IdentityConfig, base_dir: Path | None = None
    ) -> VerifierSettings:
        ca_file = oidc.ca_file
        if ca_file is not None and base_dir is not None and not Path(ca_file).is_absolute():
            ca_file = str(base_dir / ca_file)
        return cls(
            issuer=oidc.issuer,
            audiences=tuple(oidc.audiences()),
            algorithms=tuple(oidc.algorithms),
            groups_claim=oidc.groups_claim,
            subject_claim=oidc.subject_claim,
            leeway=identity.leeway.seconds,
            max_lifetime=identity.max_token_lifetime.seconds,
            discovery_url=oidc.discovery_url,
            jwks_uri=oidc.jwks_uri,
            ca_file=ca_file,
            http_timeout=oidc.http_timeout.seconds,
            jwks_refresh=oidc.jwks_refresh.seconds,
            jwks_max_age=oidc.jwks_max_age.seconds,
            jwks_min_refresh_interval=oidc.jwks_min_refresh_interval.seconds,
            token_cache_size=identity.token_cache_size,
        )

    @classmethod
    def for_dev(cls, config: Config, discovery_url: str | None = None) -> VerifierSettings:
        """The dev IdP, verified like any provider (discovery + JWKS over HTTP).
        ``discovery_url`` points at a dev IdP serving on another port than
        its issuer URL says (``limen identity verify`` runs one on port 0)."""
        dev, identity = config.identity.dev, config.identity
        return cls(
            issuer=dev.issuer_url(),
            audiences=(dev.audience,),
            # Both dev algorithms: keys made before a change of `algorithm` still verify.
            algorithms=("EdDSA", "ES256"),
            leeway=identity.leeway.seconds,
            max_lifetime=identity.max_token_lifetime.seconds,
            discovery_url=discovery_url,
            token_cache_size=identity.token_cache_size,
            method="dev",
        )


class Verifier:
    """Verifies the JWTs of one OIDC provider."""

    def __init__(
        self,
        settings: VerifierSettings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        bad = [a for a in settings.algorithms if a not in ALLOWED_ALGORITHMS]
        if bad:
            raise ValueError(f"algorithms not allowed: {', '.join(bad)}")
        self.settings = settings
        self._clock = clock
        self.keys = KeySet(
            issuer=settings.issuer,
            discovery_url=settings.discovery_url,
            jwks_uri=settings.jwks_uri,
            ca_file=settings.ca_file,
            http_timeout=settings.http_timeout,
            refresh=settings.jwks_refresh,
            max_age=settings.jwks_max_age,
            min_refresh_interval=settings.jwks_min_refresh_interval,
            monotonic=monotonic,
        )
        self._cache: OrderedDict[bytes, Identity] = OrderedDict()
        self._jws = jwt.PyJWS()

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def cached_tokens(self) -> int:
        """How many verified tokens are cached now."""
        return len(self._cache)

    async def verify(self, token: str) -> Identity:
        """The identity in ``token``, or :class:`IdentityError` saying why not."""
        check_shape(token)
        digest = hashlib.sha256(token.encode("ascii")).digest()
        cached = self._cache.get(digest)
        now = self._clock()
        if cached is not None:
            if cached.expires_at is not None and now <= cached.expires_at + self.settings.leeway:
                self._cache.move_to_end(digest)
                return cached
            del self._cache[digest]
        identity = await self._verify(token, now)
        if self.settings.token_cache_size > 0:
            self._cache[digest] = identity
            while len(self._cache) > self.settings.token_cache_size:
                self._cache.popitem(last=False)
        return identity

    async def _verify(self, token: str, now: float) -> Identity:
        s = self.settings
        header = decode_segment(token.split(".")[0])
        if not isinstance(header, dict):
            raise IdentityError(Reason.MALFORMED, "the token header is not a JSON object")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise IdentityError(Reason.MALFORMED, "the token header has no 'alg'")
        if alg not in s.algorithms:
            shown = repr(alg[:16])  # header text is the caller's: short and escaped
            if alg.lower() == "none":
                why = "unsigned tokens (alg 'none') are never accepted"
            elif alg.upper().startswith("HS"):
                why = f"HMAC ({shown}) is never accepted: tokens must be signed by the provider"
            else:
                why = f"algorithm {shown} is not allowed (allowed: {', '.join(s.algorithms)})"
            raise IdentityError(Reason.ALG_NOT_ALLOWED, why)
        if "crit" in header:
            raise IdentityError(Reason.MALFORMED, "the token has critical header extensions")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise IdentityError(Reason.MALFORMED, "the token's 'kid' is not a string")
        key = await self.keys.key_for(kid, alg)
        try:
            decoded = self._jws.decode_complete(token, key, algorithms=[alg])
        except jwt.InvalidSignatureError:
            raise IdentityError(Reason.BAD_SIGNATURE, "the signature does not verify") from None
        except jwt.PyJWTError:
            raise IdentityError(Reason.MALFORMED, "the token is not a well-formed JWS") from None
        try:
            claims = json.loads(decoded["payload"], parse_constant=no_constants)
        except ValueError:
            raise IdentityError(Reason.MALFORMED, "the token's claims are not JSON") from None
        if not isinstance(claims, dict):
            raise IdentityError(Reason.MALFORMED, "the token's claims are not a JSON object")
        return self._check_claims(claims, now)

    def _check_claims(self, claims: dict[str, Any], now: float) -> Identity:
        s = self.settings
        if claims.get("iss") != s.issuer:
            raise IdentityError(Reason.WRONG_ISSUER, f"the token was not issued by {s.issuer}")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in s.audiences for a in auds):
            raise IdentityError(
                Reason.WRONG_AUDIENCE,
                f"the token is not meant for this gateway (audience {', '.join(s.audiences)})",
            )
        exp = time_claim(claims, "exp")
        if exp is None:
            raise IdentityError(Reason.NO_EXPIRY, "the token has no 'exp': it would never expire")
        nbf = time_claim(claims, "nbf")
        iat = time_claim(claims, "iat")
        if now > exp + s.leeway:
            raise IdentityError(Reason.EXPIRED, f"the token expired {ago(now - exp)} ago")
        if nbf is not None and now + s.leeway < nbf:
            raise IdentityError(
                Reason.NOT_YET_VALID, f"the token is not valid for another {ago(nbf - now)}"
            )
        if iat is not None and now + s.leeway < iat:
            raise IdentityError(
                Reason.NOT_YET_VALID,
                f"the token was issued {ago(iat - now)} in the future (check clocks)",
            )
        start = iat if iat is not None else nbf if nbf is not None else now
        if exp - start > s.max_lifetime:
            raise IdentityError(
                Reason.LIFETIME_TOO_LONG,
                f"the token is valid for {ago(exp - start)}; at most "
                f"{ago(s.max_lifetime)} is accepted (ask for short-lived tokens)",
            )
        subject = claim_at(claims, s.subject_claim)
        if subject is None or subject == "":
            raise IdentityError(Reason.MISSING_CLAIM, f"the token has no {s.subject_claim!r}")
        subject = claim_name(subject, f"the {s.subject_claim!r} claim")
        groups = groups_of(claim_at(claims, s.groups_claim), s.groups_claim)
        jti = claims.get("jti")
        return Identity(
            subject=subject,
            groups=groups,
            issuer=s.issuer,
            expires_at=int(exp),
            token_id=jti if isinstance(jti, str) else None,
            method=s.method,
        )


class Authenticator:
    """Every identity source of a config: static keys first (constant
    time), then the OIDC verifier whose issuer the token names."""

    def __init__(self, verifiers: Sequence[Verifier], static_keys: StaticKeys) -> None:
        self.verifiers = {v.issuer: v for v in verifiers}
        self.static_keys = static_keys

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        dev_discovery_url: str | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Authenticator:
        verifiers = []
        if config.identity.oidc is not None:
            settings = VerifierSettings.from_oidc(
                config.identity.oidc, config.identity, Path(config.base_dir)
            )
            verifiers.append(Verifier(settings, clock=clock, monotonic=monotonic))
        if config.identity.dev.enabled:
            dev = VerifierSettings.for_dev(config, dev_discovery_url)
            verifiers.append(Verifier(dev, clock=clock, monotonic=monotonic))
        return cls(verifiers, StaticKeys(config.identity.keys))

    async def authenticate(self, credential: str) -> Identity:
        found = self.static_keys.match(credential)
        if found is not None:
            return found
        if not JWT_SHAPE.fullmatch(credential):
            raise IdentityError(
                Reason.UNKNOWN_CREDENTIAL, "neither a JWT nor a registered static key"
            )
        issuer = unverified_issuer(credential)
        verifier = self.verifiers.get(issuer) if issuer is not None else None
        if verifier is None:
            trusted = ", ".join(self.verifiers) or "none configured"
            raise IdentityError(
                Reason.WRONG_ISSUER, f"the token's issuer is not trusted (trusted: {trusted})"
            )
        return await verifier.verify(credential)
