"""The token of each request on a kept-alive HTTP connection.

Every request carries its bearer token. Verifying a JWT costs a signature
check (or, in the authenticator's own cache, a hash and a lookup), so a
connection remembers the last token it verified (:class:`TokenMemo`): a
request whose one ``Authorization`` header has the same bytes, while that
token has not expired by the clock (the authenticator's leeway is not
given), is known without verifying it again. Static keys are looked up
every time (a key's entry can change without the key changing).

Revocations are not remembered: :func:`identify` checks the revocations in
force (:meth:`limen.gateway.services.Services.revoked`) on every request,
known or verified, for the request's identity and the session's, so a
revoked identity is refused (``401``) on its next request, before the
revocation poller ends the connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from limen.gateway.http.problem import unauthorized
from limen.gateway.http.reader import ClientRequest
from limen.gateway.http.route import Refusal, authenticate
from limen.gateway.services import Services
from limen.identity import Identity

__all__ = ["TokenMemo", "identify"]


def _authorization(headers: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    return [v for k, v in headers if k == b"authorization"]


class TokenMemo:
    """The last JWT verified on one connection and its identity (see the
    module docs); ``clock``: the wall clock its expiry is read against."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.known: tuple[bytes, Identity] | None = None

    def lookup(self, headers: Iterable[tuple[bytes, bytes]]) -> Identity | None:
        """The identity of the token in ``headers`` when it is the one
        remembered (one ``Authorization`` header, the same bytes) and has
        not expired; else None (verify it)."""
        known = self.known
        if known is None:
            return None
        raw, identity = known
        if _authorization(headers) != [raw]:
            return None
        if identity.expires_at is None or self.clock() >= identity.expires_at:
            return None
        return identity

    def remember(self, headers: Iterable[tuple[bytes, bytes]], identity: Identity) -> None:
        """Keeps the token of ``headers`` (verified: ``identity``) when it
        is a JWT (it expires); anything else forgets what was kept."""
        values = _authorization(headers)
        if len(values) == 1 and identity.method != "static_key" and identity.expires_at is not None:
            self.known = (values[0], identity)
        else:
            self.known = None


async def identify(
    services: Services,
    req: ClientRequest,
    resource: str,
    memo: TokenMemo | None = None,
    *,
    protocol: str = "http",
    session_identity: Identity | None = None,
) -> Identity:
    """The identity of ``req``'s token: known by ``memo``, else verified
    (:func:`limen.gateway.http.route.authenticate`, then remembered); a
    :class:`Refusal` (``401``) when it, or ``session_identity``, is
    revoked now."""
    identity = None if memo is None else memo.lookup(req.headers)
    if identity is None:
        identity = await authenticate(services, req, resource)
        if memo is not None:
            memo.remember(req.headers, identity)
    for who in (identity, session_identity):
        revocation = None if who is None else services.revoked(who)
        if revocation is not None:
            services.auth_refused(protocol, "revoked", revocation=revocation.id)
            doc, headers = unauthorized(
                f"token refused (revoked): the credential was revoked ({revocation.id})"
            )
            raise Refusal(doc, headers, code="28P01")
    return identity
