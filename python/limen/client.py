"""For bots: a token by client credentials, and the URL to connect through limen.

A bot (an AutoGen agent's tool, a CI job) authenticates to its identity
provider as an OAuth2 client — the client-credentials grant of RFC 6749
§4.4, the way Okta, Auth0 and Keycloak service accounts get tokens, and the
way limen's dev IdP hands them out to ``[[identity.dev.clients]]`` — and
presents the short-lived token to limen as its password::

    import psycopg
    from limen.client import ClientCredentials

    creds = ClientCredentials(
        issuer="https://idp.example.com/realms/bots",   # or discovery_url=...
        client_id="etl-bot",
        client_secret=os.environ["ETL_BOT_SECRET"],
    )
    url = creds.connection_url("staging", host="limen.internal", port=6432)
    with psycopg.connect(url) as conn:                  # postgresql://SUB:TOKEN@host:port/staging
        ...

:class:`ClientCredentials` finds the token endpoint through OIDC discovery
(or takes it directly), authenticates with HTTP Basic (``client_secret_basic``,
id and secret form-urlencoded first as RFC 6749 §2.3.1 says) or in the form
body (``client_secret_post``), caches the token and fetches a new one once
``refresh_ratio`` (80%) of its lifetime has passed. When a refresh fails
while the cached token is still valid, the cached one is returned (and the
failure logged); past expiry the failure is raised as :class:`TokenError`.
One instance may be shared by threads: one fetch runs at a time.

Secrets stay secret: ``repr``/``str`` show the client id and the endpoint
only, log lines and :class:`TokenError` messages never hold the client
secret or a token (an error from the provider is quoted, cut short).

The user name in the URL is the token's subject (read from the JWT's ``sub``
claim, not verified here: limen verifies it); pass ``user=`` for providers
whose tokens are not JWTs (the URL is built by :mod:`limen.clienturl`). No
dependency beyond httpx.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import quote_plus, urlsplit

import httpx

from limen.clienturl import connection_url, jwt_claims, token_subject

__all__ = ["ClientCredentials", "TokenError", "connection_url", "token_subject"]

log = logging.getLogger(__name__)

#: Tokens are refreshed after this share of their lifetime.
DEFAULT_REFRESH_RATIO: Final = 0.8
#: A cached token is not handed out when it expires within this many seconds.
EXPIRY_MARGIN: Final = 5.0
_MAX_RESPONSE: Final = 64 * 1024
_WELL_KNOWN: Final = "/.well-known/openid-configuration"


class TokenError(Exception):
    """No token could be had. ``error`` is the OAuth2 error code when the
    provider sent one (``invalid_client``, ...), else a short reason
    (``unreachable``, ``bad_response``, ``no_token_endpoint``)."""

    def __init__(self, error: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


def _loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    return name in ("localhost", "::1") or name.startswith("127.")


def _check_endpoint(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TokenError("bad_configuration", f"the {what} must be an http(s) URL, got {url!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise TokenError(
            "bad_configuration",
            f"the {what} must use https (plain http only on loopback): {url!r}",
        )
    return url


class ClientCredentials:
    """Tokens for one OAuth2 client, fetched by client credentials and cached.

    Give ``issuer`` (discovery at ``ISSUER/.well-known/openid-configuration``),
    ``discovery_url`` or ``token_endpoint``. ``scope`` and ``audience`` are
    sent when set (``audience`` is what Auth0 wants). ``http`` lets the
    caller pass its own :class:`httpx.Client` (TLS settings, proxies); it is
    then not closed by :meth:`close`.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        issuer: str | None = None,
        discovery_url: str | None = None,
        token_endpoint: str | None = None,
        scope: str | None = None,
        audience: str | None = None,
        auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic",
        refresh_ratio: float = DEFAULT_REFRESH_RATIO,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not client_id:
            raise ValueError("client_id cannot be empty")
        if not client_secret:
            raise ValueError("client_secret cannot be empty")
        if not 0 < refresh_ratio <= 1:
            raise ValueError("refresh_ratio must be in (0, 1]")
        if token_endpoint is None and discovery_url is None:
            if issuer is None:
                raise ValueError("give issuer, discovery_url or token_endpoint")
            discovery_url = issuer.rstrip("/") + _WELL_KNOWN
        self.client_id = client_id
        self.scope = scope
        self.audience = audience
        self.auth_method = auth_method
        self.refresh_ratio = refresh_ratio
        self._secret = client_secret
        self._discovery_url = discovery_url
        self._token_endpoint = (
            _check_endpoint(token_endpoint, "token endpoint") if token_endpoint else None
        )
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._own_http = http is None
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._fetched_at = 0.0
        self._lifetime = 0.0
        self.fetch_count = 0
        """How many tokens were fetched (for tests and metrics)."""

    # -- public ------------------------------------------------------------------

    @property
    def token_endpoint(self) -> str:
        """The token endpoint (discovered on first use)."""
        with self._lock:
            return self._endpoint()

    def token(self) -> str:
        """A valid access token: the cached one, or a new one once
        ``refresh_ratio`` of its lifetime has passed."""
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._fetched_at + self._lifetime * (
                self.refresh_ratio
            ):
                return self._token
            try:
                return self._fetch()
            except TokenError as exc:
                still_valid = now < self._fetched_at + self._lifetime - EXPIRY_MARGIN
                if self._token is not None and still_valid:
                    log.warning(
                        "token refresh for client %s failed (%s); using the cached token",
                        self.client_id,
                        exc.error,
                    )
                    return self._token
                raise

    def invalidate(self) -> None:
        """Forget the cached token (e.g. after limen refused it)."""
        with self._lock:
            self._token = None
            self._lifetime = 0.0

    def subject(self) -> str:
        """The subject of the current token: the user name limen expects."""
        return token_subject(self.token())

    def connection_url(
        self,
        resource: str,
        *,
        host: str = "127.0.0.1",
        port: int = 6432,
        user: str | None = None,
        scheme: str = "postgresql",
        params: Mapping[str, str] | None = None,
    ) -> str:
        """``postgresql://SUBJECT:TOKEN@host:port/RESOURCE`` with a valid token
        (``scheme="mysql"`` for the MySQL listener). Keep it out of logs: it
        holds the token."""
        token = self.token()
        return connection_url(
            token,
            resource,
            host=host,
            port=port,
            user=user if user is not None else token_subject(token),
            scheme=scheme,
            params=params,
        )

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> ClientCredentials:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self._token_endpoint or self._discovery_url
        cached = "cached" if self._token is not None else "none"
        return (
            f"ClientCredentials(client_id={self.client_id!r}, endpoint={where!r}, token={cached})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("ClientCredentials holds a secret and cannot be pickled")

    # -- internals (called with the lock held) --------------------------------------

    def _endpoint(self) -> str:
        if self._token_endpoint is not None:
            return self._token_endpoint
        assert self._discovery_url is not None
        doc = self._get_json(self._discovery_url, "discovery document")
        endpoint = doc.get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise TokenError(
                "no_token_endpoint",
                f"the discovery document at {self._discovery_url} names no token_endpoint",
            )
        grants = doc.get("grant_types_supported")
        if isinstance(grants, list) and "client_credentials" not in grants:
            raise TokenError(
                "unsupported_grant_type",
                f"the provider at {self._discovery_url} does not offer the "
                "client_credentials grant",
            )
        self._token_endpoint = _check_endpoint(endpoint, "token endpoint")
        return self._token_endpoint

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise TokenError(
                "unreachable", f"cannot fetch the {what} at {url}: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise TokenError(
                "bad_response",
                f"the {what} at {url} answered HTTP {response.status_code}",
                response.status_code,
            )
        return _json_object(response, what)

    def _fetch(self) -> str:
        endpoint = self._endpoint()
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        auth: httpx.Auth = httpx.Auth()  # no authentication (the base class)
        if self.auth_method == "client_secret_basic":
            auth = httpx.BasicAuth(quote_plus(self.client_id), quote_plus(self._secret))
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self._secret
        started = self._clock()
        try:
            response = self._http.post(
                endpoint, data=form, auth=auth, headers={"accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise TokenError(
                "unreachable", f"cannot reach the token endpoint {endpoint}: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise _provider_error(response, self.client_id)
        body = _json_object(response, "token response")
        token = body.get("access_token")
        token_type = body.get("token_type")
        if not isinstance(token, str) or not token:
            raise TokenError("bad_response", "the token response holds no access_token")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenError("bad_response", "the token response is not a bearer token")
        expires_in = body.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            expires_in = _jwt_lifetime(token)
        if expires_in <= 0:
            raise TokenError("bad_response", "the token response has no positive expires_in")
        self._token = token
        self._fetched_at = started
        self._lifetime = float(expires_in)
        self.fetch_count += 1
        log.debug("client %s: new token valid %.0fs", self.client_id, self._lifetime)
        return token


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    if len(response.content) > _MAX_RESPONSE:
        raise TokenError("bad_response", f"the {what} is larger than {_MAX_RESPONSE} bytes")
    try:
        doc = response.json()
    except ValueError:
        raise TokenError("bad_response", f"the {what} is not JSON") from None
    if not isinstance(doc, dict):
        raise TokenError("bad_response", f"the {what} is not a JSON object")
    return doc


def _provider_error(response: httpx.Response, client_id: str) -> TokenError:
    """The provider's OAuth2 error (RFC 6749 §5.2), quoted short."""
    error, description = "bad_response", ""
    try:
        doc = response.json()
        if isinstance(doc, dict):
            error = str(doc.get("error") or error)[:64]
            description = str(doc.get("error_description") or "")[:200]
    except ValueError:
        pass
    text = f"token request for client {client_id} refused: HTTP {response.status_code} {error}"
    if description:
        text += f": {description}"
    return TokenError(error, text, response.status_code)


def _jwt_lifetime(token: str) -> float:
    try:
        claims = jwt_claims(token)
        return float(claims["exp"]) - time.time()
    except (ValueError, KeyError, TypeError):
        raise TokenError(
            "bad_response", "the token response has no expires_in and the token no exp"
        ) from None
