"""The dev IdP: a small OIDC issuer for local use and tests.

It speaks real OIDC — a discovery document and a JWKS over HTTP — so the
gateway verifies its tokens through exactly the code path it uses for any
provider. Only on loopback.

Signing keys (EdDSA by default, or ES256): :mod:`limen.identity.devkeys`.

Minting (``limen token``) signs with the persisted key and needs no server.
The HTTP side is a :class:`~limen.httpserver.Router`: discovery, JWKS, and an
OAuth2 token endpoint (``POST ISSUER_PATH/token``) for the client-credentials
grant (RFC 6749 §4.4), the way service accounts get tokens from Okta, Auth0 or
Keycloak. Its clients are ``[[identity.dev.clients]]``: a client id, the
SHA-256 of its secret, groups, a subject and a token lifetime. A client
authenticates with HTTP Basic (``client_secret_basic``, id and secret
form-urlencoded first, RFC 6749 §2.3.1) or in the form body
(``client_secret_post``), never both; the presented secret is hashed and
compared with every client's hash in constant time, so neither the comparison
nor the loop tells which client ids exist. Errors are OAuth2's JSON
(RFC 6749 §5.2): ``invalid_client`` (401, with ``WWW-Authenticate``),
``invalid_request``, ``unsupported_grant_type``; no secret is ever echoed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import unquote_plus, urlsplit

import jwt
import trio

from limen.config import Config, DevClient
from limen.httpserver import HTTPServer, Request, Response, Router, bound_port
from limen.identity.devkeys import KEEP_KEYS, DevIdPError, DevKey, DevKeyStore

__all__ = [
    "GRANT_CLIENT_CREDENTIALS",
    "KEEP_KEYS",
    "DevIdP",
    "DevIdPError",
    "DevKey",
    "DevKeyStore",
]

GRANT_CLIENT_CREDENTIALS: Final = "client_credentials"
_AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post")
_REALM: Final = 'Basic realm="limen-dev-idp", charset="UTF-8"'


class DevIdP:
    """Mints tokens and serves discovery + JWKS for them."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        store: DevKeyStore,
        max_lifetime: float = 3600.0,
        groups_claim: str = "groups",
        clock: Callable[[], float] = time.time,
        clients: Sequence[DevClient] = (),
        default_ttl: float = 900.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.store = store
        self.max_lifetime = max_lifetime
        self.groups_claim = groups_claim
        self.default_ttl = default_ttl
        self._clock = clock
        self._prefix = urlsplit(issuer).path.rstrip("/")
        self._clients = [(bytes.fromhex(c.secret_sha256), c) for c in clients]

    @classmethod
    def from_config(cls, config: Config) -> DevIdP:
        dev = config.identity.dev
        if not dev.enabled:
            raise DevIdPError("the dev IdP is not enabled ([identity.dev] enabled = true)")
        return cls(
            issuer=dev.issuer_url(),
            audience=dev.audience,
            store=DevKeyStore(config.dev_key_path(), dev.algorithm),
            max_lifetime=config.identity.max_token_lifetime.seconds,
            clients=dev.clients,
            default_ttl=min(dev.default_ttl.seconds, config.identity.max_token_lifetime.seconds),
        )

    # -- tokens ------------------------------------------------------------------

    def mint(
        self,
        subject: str,
        groups: Sequence[str] = (),
        ttl: float = 900.0,
        *,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed JWT for ``subject``, valid ``ttl`` seconds from now."""
        if not subject:
            raise ValueError("the subject cannot be empty")
        if not 0 < ttl <= self.max_lifetime:
            raise ValueError(
                f"ttl must be more than 0 and at most the maximum token lifetime "
                f"({int(self.max_lifetime)}s)"
            )
        key = self.store.signing_key()
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + int(ttl),
            "jti": secrets.token_urlsafe(16),
            self.groups_claim: list(groups),
        }
        if extra_claims:
            claims.update(extra_claims)
        return jwt.encode(
            claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT"}
        )

    # -- the OAuth2 token endpoint (client credentials) ------------------------------

    def authenticate_client(self, client_id: str, secret: str) -> DevClient | None:
        """The client whose id and secret these are, or None. Every client's
        hash is compared (constant time) whatever the id, so timing does not
        tell which ids exist."""
        digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
        found: DevClient | None = None
        for stored, client in self._clients:
            same_secret = hmac.compare_digest(stored, digest)
            same_id = hmac.compare_digest(
                client.client_id.encode("utf-8", "surrogatepass"),
                client_id.encode("utf-8", "surrogatepass"),
            )
            if same_secret and same_id and found is None:
                found = client
        return found

    def client_token(self, client: DevClient) -> tuple[str, int]:
        """A token for an authenticated client and its lifetime in seconds
        (the client's ``ttl``, else the default, capped by the maximum)."""
        ttl = client.ttl.seconds if client.ttl is not None else self.default_ttl
        ttl = max(1, int(min(ttl, self.max_lifetime)))
        token = self.mint(
            client.token_subject(),
            client.groups,
            ttl,
            extra_claims={"client_id": client.client_id},
        )
        return token, ttl

    async def _token_endpoint(self, request: Request) -> Response:
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _oauth_error(
                400, "invalid_request", "send the parameters as application/x-www-form-urlencoded"
            )
        try:
            form = _parse_form(request.body)
        except ValueError as exc:
            return _oauth_error(400, "invalid_request", str(exc))
        credentials = _client_credentials(request.header("authorization"), form)
        if isinstance(credentials, Response):
            return credentials
        client_id, secret, method = credentials
        grant = form.get("grant_type")
        if grant is None:
            return _oauth_error(400, "invalid_request", "grant_type is missing")
        if grant != GRANT_CLIENT_CREDENTIALS:
            return _oauth_error(
                400,
                "unsupported_grant_type",
                f"this token endpoint only supports grant_type={GRANT_CLIENT_CREDENTIALS}",
            )
        client = self.authenticate_client(client_id, secret)
        if client is None:
            return _oauth_error(
                401,
                "invalid_client",
                "client authentication failed (unknown client or wrong secret)",
                challenge=method == "client_secret_basic",
            )
        token, ttl = await trio.to_thread.run_sync(self.client_token, client)
        return Response.json(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": ttl},
            headers=(("pragma", "no-cache"),),
        )

    # -- HTTP --------------------------------------------------------------------

    def discovery_path(self) -> str:
        return f"{self._prefix}/.well-known/openid-configuration"

    def token_path(self) -> str:
        return f"{self._prefix}/token"

    def router(self, base_url: Callable[[], str]) -> Router:
        """Routes for discovery and JWKS; ``base_url()`` is where this server
        is reachable (it may differ from the issuer URL when bound to port 0)."""
        router = Router()
        algs = sorted({key.alg for key in self.store.load()})

        async def discovery(_request: Request) -> Response:
            return Response.json(
                200,
                {
                    "issuer": self.issuer,
                    "jwks_uri": f"{base_url()}{self._prefix}/jwks.json",
                    "id_token_signing_alg_values_supported": algs,
                    "subject_types_supported": ["public"],
                    "response_types_supported": ["id_token"],
                    "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"],
                    "token_endpoint": f"{base_url()}{self.token_path()}",
                    "grant_types_supported": [GRANT_CLIENT_CREDENTIALS],
                    "token_endpoint_auth_methods_supported": list(_AUTH_METHODS),
                },
            )

        async def jwks(_request: Request) -> Response:
            # Read per request: `limen identity rotate-dev-key` may have rotated.
            keys = await trio.to_thread.run_sync(self.store.jwks)
            return Response.json(200, keys)

        router.get(self.discovery_path(), discovery)
        router.get(f"{self._prefix}/jwks.json", jwks)
        router.post(self.token_path(), self._token_endpoint)
        return router

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; ``nursery.start`` returns the discovery URL."""
        base = ""

        def base_url() -> str:
            return base

        self.store.load()  # create the key file before the first request
        server = HTTPServer(self.router(base_url), server_name="limen-dev-idp")
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(server.serve, host, port)
            bracket = f"[{host}]" if ":" in host else host
            base = f"http://{bracket}:{bound_port(listeners)}"
            task_status.started(f"{base}{self.discovery_path()}")


# -- OAuth2 helpers ---------------------------------------------------------------


def _oauth_error(status: int, error: str, description: str, *, challenge: bool = True) -> Response:
    """An RFC 6749 §5.2 error; ``invalid_client`` carries the Basic challenge."""
    headers: tuple[tuple[str, str], ...] = (("pragma", "no-cache"),)
    if status == 401 and challenge:
        headers += (("www-authenticate", _REALM),)
    body = Response.error(status, error, description)
    return Response(status, body.body, body.content_type, headers)


def _parse_form(body: bytes) -> dict[str, str]:
    """Form fields; a repeated parameter is an error (RFC 6749 §3.2)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("the form body must be URL-encoded ASCII") from None
    out: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        key = unquote_plus(name)
        if key in out:
            raise ValueError(f"parameter {key[:40]!r} is repeated")
        out[key] = unquote_plus(value)
    return out


def _client_credentials(
    authorization: str | None, form: dict[str, str]
) -> tuple[str, str, str] | Response:
    """``(client_id, secret, method)`` from Basic auth or the form, or the
    error to send. Exactly one method may be used (RFC 6749 §2.3)."""
    in_form = "client_secret" in form
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return _oauth_error(
                401, "invalid_client", "use HTTP Basic or client_secret in the form body"
            )
        if in_form:
            return _oauth_error(
                400, "invalid_request", "use one client authentication method, not two"
            )
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return _oauth_error(401, "invalid_client", "the Basic credentials are malformed")
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep:
            return _oauth_error(401, "invalid_client", "the Basic credentials are malformed")
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if "client_id" in form and form["client_id"] != client_id:
            return _oauth_error(400, "invalid_request", "client_id differs from the Basic user")
        return client_id, secret, "client_secret_basic"
    if in_form:
        post_id = form.get("client_id")
        if not post_id:
            return _oauth_error(400, "invalid_request", "client_id is missing")
        return post_id, form["client_secret"], "client_secret_post"
    return _oauth_error(
        401, "invalid_client", "no client authentication (HTTP Basic or client_secret_post)"
    )
