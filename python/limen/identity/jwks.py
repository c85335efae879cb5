"""An OIDC provider's signing keys: discovery, JWKS fetch, cache, refresh.

:class:`KeySet` answers "which public key verifies a token with this
``kid`` and ``alg``?". It fetches
``ISSUER/.well-known/openid-configuration`` (unless a ``jwks_uri`` is given),
then the JWKS it names, with httpx (on Trio through anyio). URLs must be
https, except on loopback (the dev IdP).

Caching and failure, in the order a lookup meets them:

- Keys older than ``refresh`` are re-fetched on next use. If that fails, the
  cached keys keep working until they are ``max_age`` old; after that every
  lookup fails closed with ``jwks_unavailable``.
- An unknown ``kid`` triggers one refresh, at most every
  ``min_refresh_interval`` (a flood of made-up ``kid`` values cannot turn
  limen into a JWKS hammer); still unknown after it: ``unknown_key``; the
  refresh failed: ``jwks_unavailable``.
- Symmetric (``oct``) keys and keys marked ``use = enc`` are ignored: HMAC
  never verifies a token here.

Concurrent lookups share one refresh (a Trio lock).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import trio
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from limen.config import is_loopback_host
from limen.identity.model import IdentityError, Reason

__all__ = ["KeySet", "PublicKey", "check_fetch_url"]

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

MAX_DOCUMENT_SIZE: Final = 1024 * 1024
MIN_RSA_BITS: Final = 2048
_CURVES: Final = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1}


def check_fetch_url(url: str, what: str) -> None:
    """Refuse URLs limen must not fetch keys from (plain http off loopback)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return
    raise IdentityError(
        Reason.JWKS_UNAVAILABLE,
        f"{what} {url!r} must be https (plain http only on loopback)",
    )


@dataclass(frozen=True)
class _Key:
    kid: str | None
    alg: str | None
    key: PublicKey


def key_fits(key: PublicKey, alg: str) -> bool:
    """Whether a public key may verify a signature made with ``alg``."""
    if alg.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
    if alg in _CURVES:
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _CURVES[alg])
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    return False


def _parse_jwk(jwk: Any) -> _Key | None:
    """One JWKS entry as a public key, or None to skip it (unsupported,
    symmetric, encryption-only, or broken)."""
    if not isinstance(jwk, dict):
        return None
    kty, use, kid, alg = jwk.get("kty"), jwk.get("use"), jwk.get("kid"), jwk.get("alg")
    if use not in (None, "sig"):
        return None
    if kid is not None and not isinstance(kid, str):
        return None
    if alg is not None and not isinstance(alg, str):
        return None
    public = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth")}
    parsed: Any
    try:
        if kty == "RSA":
            parsed = RSAAlgorithm.from_jwk(public)
        elif kty == "EC":
            parsed = ECAlgorithm.from_jwk(public)
        elif kty == "OKP":
            parsed = OKPAlgorithm.from_jwk(public)
        else:
            return None
    except Exception:
        return None
    if isinstance(
        parsed,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        return _Key(kid, alg, parsed)
    return None


class KeySet:
    """The cached public keys of one OIDC provider."""

    def __init__(
        self,
        *,
        issuer: str,
        discovery_url: str | None = None,
        jwks_uri: str | None = None,
        ca_file: str | None = None,
        http_timeout: float = 5.0,
        refresh: float = 300.0,
        max_age: float = 3600.0,
        min_refresh_interval: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.discovery_url = discovery_url or (
            issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        self.jwks_uri = jwks_uri
        self.ca_file = ca_file
        self.http_timeout = http_timeout
        self.refresh_after = refresh
        self.max_age = max_age
        self.min_refresh_interval = min_refresh_interval
        self._monotonic = monotonic
        self._keys: list[_Key] = []
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._last_error: str | None = None
        self._lock = trio.Lock()
        self.fetch_count = 0
        """Successful fetches so far (for tests and metrics)."""

    # -- lookup ------------------------------------------------------------------

    async def key_for(self, kid: str | None, alg: str) -> PublicKey:
        """The key that verifies a token with this ``kid`` and ``alg``."""
        now = self._monotonic()
        if self._fetched_at is None or now - self._fetched_at >= self.refresh_after:
            await self._refresh(min_interval=self.min_refresh_interval)
        now = self._monotonic()
        if self._fetched_at is None or now - self._fetched_at >= self.max_age:
            raise IdentityError(
                Reason.JWKS_UNAVAILABLE,
                f"no usable signing keys for issuer {self.issuer}: {self._last_error or 'expired'}",
            )
        found = self._find(kid, alg)
        if found is None:
            refreshed = await self._refresh(min_interval=self.min_refresh_interval)
            if refreshed is not True and self._last_error is not None:
                raise IdentityError(
                    Reason.JWKS_UNAVAILABLE,
                    f"unknown key id and the provider's keys cannot be fetched: {self._last_error}",
                )
            found = self._find(kid, alg)
        if found is None:
            raise IdentityError(
                Reason.UNKNOWN_KEY,
                f"no signing key of issuer {self.issuer} matches the token's key id",
            )
        if found.alg is not None and found.alg != alg:
            raise IdentityError(
                Reason.ALG_NOT_ALLOWED, f"the signing key is for {found.alg}, the token says {alg}"
            )
        if not key_fits(found.key, alg):
            raise IdentityError(
                Reason.ALG_NOT_ALLOWED, f"the signing key cannot be used with {alg}"
            )
        return found.key

    def _find(self, kid: str | None, alg: str) -> _Key | None:
        if kid is not None:
            return next((k for k in self._keys if k.kid == kid), None)
        # No kid: only unambiguous when exactly one key fits the algorithm.
        fitting = [k for k in self._keys if key_fits(k.key, alg) and k.alg in (None, alg)]
        return fitting[0] if len(fitting) == 1 else None

    # -- refresh -----------------------------------------------------------------

    async def _refresh(self, *, min_interval: float) -> bool | None:
        """Fetch the keys unless an attempt was made within ``min_interval``.
        True: fetched; False: the fetch failed; None: skipped (rate limit)."""
        started = self._monotonic()
        async with self._lock:
            last = self._last_attempt
            if last is not None and (last >= started or started - last < min_interval):
                return None
            self._last_attempt = self._monotonic()
            try:
                keys = await self._fetch()
            except IdentityError as exc:
                self._last_error = exc.message
                return False
            self._keys = keys
            self._fetched_at = self._monotonic()
            self._last_error = None
            self.fetch_count += 1
            return True

    async def _fetch(self) -> list[_Key]:
        verify: ssl.SSLContext | bool = True
        if self.ca_file is not None:
            try:
                verify = ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise IdentityError(
                    Reason.JWKS_UNAVAILABLE, f"cannot load ca_file {self.ca_file}: {exc}"
                ) from None
        async with httpx.AsyncClient(
            timeout=self.http_timeout, verify=verify, follow_redirects=False, trust_env=False
        ) as client:
            jwks_uri = self.jwks_uri
            if jwks_uri is None:
                doc = await self._get_json(client, self.discovery_url, "discovery document")
                if doc.get("issuer") != self.issuer:
                    raise IdentityError(
                        Reason.JWKS_UNAVAILABLE,
                        "the discovery document names another issuer than the configured one",
                    )
                uri = doc.get("jwks_uri")
                if not isinstance(uri, str):
                    raise IdentityError(
                        Reason.JWKS_UNAVAILABLE, "the discovery document has no jwks_uri"
                    )
                jwks_uri = uri
            jwks = await self._get_json(client, jwks_uri, "JWKS")
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise IdentityError(Reason.JWKS_UNAVAILABLE, "the JWKS has no 'keys' list")
        return [key for entry in entries if (key := _parse_jwk(entry)) is not None]

    async def _get_json(self, client: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
        check_fetch_url(url, what)
        try:
            async with client.stream("GET", url, headers={"accept": "application/json"}) as resp:
                if resp.status_code != 200:
                    raise IdentityError(
                        Reason.JWKS_UNAVAILABLE, f"{what} {url} answered HTTP {resp.status_code}"
                    )
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_SIZE:
                        raise IdentityError(
                            Reason.JWKS_UNAVAILABLE, f"{what} {url} is larger than 1 MiB"
                        )
        except httpx.HTTPError as exc:
            raise IdentityError(
                Reason.JWKS_UNAVAILABLE, f"cannot fetch {what} {url}: {type(exc).__name__}"
            ) from None
        try:
            data = json.loads(bytes(body))
        except ValueError:
            raise IdentityError(Reason.JWKS_UNAVAILABLE, f"{what} {url} is not JSON") from None
        if not isinstance(data, dict):
            raise IdentityError(Reason.JWKS_UNAVAILABLE, f"{what} {url} is not a JSON object")
        return data
