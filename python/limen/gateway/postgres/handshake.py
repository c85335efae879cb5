"""The PostgreSQL client's opening: startup packets, TLS, the token.

SSLRequest is answered ``S`` when the listener has a certificate (then TLS,
in rustls: :class:`~limen.gateway.tlsnative.NativeTlsStream`, whose
connection the native pump can take over), else ``N``; GSSENCRequest ``N``;
a CancelRequest is handed to the listener's cancel keys and ends the
connection. The StartupMessage (3.0) names the resource (the database) and
the user, who must be the token's subject. The token is asked for
(AuthenticationCleartextPassword) only over TLS, or over loopback where
``[listeners] allow_plaintext_loopback`` allows it. A refused token ends
the connection with FATAL ``28P01`` saying why (never the token).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import trio

from limen import _native
from limen.config import is_loopback_host
from limen.gateway.services import Services
from limen.gateway.session import RECEIVE_SIZE, Admission, SessionEnd
from limen.gateway.tlsnative import NativeTlsStream
from limen.identity import IdentityError

__all__ = ["ClientSide", "Startup", "receive_messages", "startup", "until_startup"]

#: ``await forward_cancel(process_id, secret_key)``
ForwardCancel = Callable[[int, bytes], Awaitable[None]]


class ClientSide(Protocol):
    """The client connection as the handshake changes it (a PgSession)."""

    client: trio.abc.Stream
    tls: bool
    decoder: _native.PgClientDecoder
    peer_host: str
    services: Services


@dataclass(frozen=True)
class Startup:
    """A client admitted: who, which resource, its startup parameters."""

    admission: Admission
    params: dict[str, str]


async def receive_messages(side: ClientSide) -> list[_native.ClientMessage]:
    """The next framed client messages (at least one)."""
    while True:
        data = await side.client.receive_some(RECEIVE_SIZE)
        if not data:
            raise trio.BrokenResourceError("client closed the connection")
        msgs = side.decoder.feed(data)
        if msgs:
            return msgs


async def _answer_ssl(side: ClientSide) -> None:
    """SSLRequest: ``S`` and TLS when the listener has a certificate, else ``N``."""
    listener_tls = side.services.listener_tls
    ssl_context = side.services.ssl_context
    if listener_tls is not None and not side.tls and type(side.client) is trio.SocketStream:
        await side.client.send_all(b"S")
        native = NativeTlsStream(side.client, _native.TlsSession.server(listener_tls.native))
        await native.do_handshake()
        side.client = native
        side.tls = True
    elif ssl_context is not None and not side.tls:
        await side.client.send_all(b"S")
        tls = trio.SSLStream(side.client, ssl_context, server_side=True)
        await tls.do_handshake()
        side.client = tls
        side.tls = True
    else:
        await side.client.send_all(b"N")
    side.decoder.resume_startup()


async def until_startup(side: ClientSide) -> None:
    """Reads the client's opening up to its first other message, answering
    SSLRequest (TLS when possible) and GSSENCRequest as :func:`startup`
    does: a refusal sent after it is one libpq shows (an error in place of
    the answer to SSLRequest is only "server sent an error response during
    SSL exchange"), as PostgreSQL's own "too many clients" is."""
    while True:
        for msg in await receive_messages(side):
            match msg:
                case _native.PgSslRequest():
                    await _answer_ssl(side)
                case _native.PgGssEncRequest():
                    await side.client.send_all(b"N")
                    side.decoder.resume_startup()
                case _:
                    return


async def startup(side: ClientSide, forward_cancel: ForwardCancel) -> Startup | None:
    """Runs the opening; None when the connection ends quietly (a cancel
    request, or the client left before its startup message)."""
    params: dict[str, str] | None = None
    while params is None:
        try:
            msgs = await receive_messages(side)
        except trio.BrokenResourceError:
            return None
        for msg in msgs:
            match msg:
                case _native.PgSslRequest():
                    await _answer_ssl(side)
                case _native.PgGssEncRequest():
                    await side.client.send_all(b"N")
                    side.decoder.resume_startup()
                case _native.PgCancelRequest(process_id=pid, secret_key=key):
                    await forward_cancel(pid, key)
                    return None
                case _native.PgStartupMessage(params=startup_params, version=version):
                    if version != (3, 0):
                        raise SessionEnd(
                            "0A000",
                            f"protocol version {version[0]}.{version[1]} is not supported; use 3.0",
                        )
                    params = dict(startup_params)
                case _:
                    raise SessionEnd("08P01", "expected a startup message")
    admission = await authenticate(side, params)
    return Startup(admission, params)


async def authenticate(side: ClientSide, params: dict[str, str]) -> Admission:
    """The resource named by the database, and the token's identity."""
    services = side.services
    config = services.config
    user = params.get("user", "")
    database = params.get("database") or user
    if "replication" in params:
        raise SessionEnd("28000", "replication connections are not supported")
    resource = config.resource(database)
    if resource is None or resource.protocol != "postgres":
        raise SessionEnd(
            "3D000",
            f"no PostgreSQL resource named {database!r}",
            "the database name in the connection names the limen resource",
        )
    if not side.tls and not (
        config.listeners.allow_plaintext_loopback and is_loopback_host(side.peer_host)
    ):
        raise SessionEnd(
            "28000",
            "limen asks for the token only over TLS",
            "connect with sslmode=require",
        )
    await side.client.send_all(_native.pg_auth_cleartext_password())
    side.decoder.expect_password()
    msgs = await receive_messages(side)
    match msgs:
        case [_native.PgPasswordMessage(password=password)]:
            pass
        case _:
            raise SessionEnd("08P01", "expected a password message (the token)")
    try:
        token = password.decode("utf-8")
        identity = await services.authenticator.authenticate(token)
    except UnicodeDecodeError:
        raise SessionEnd("28P01", "token refused: not valid UTF-8") from None
    except IdentityError as exc:
        services.auth_refused("postgres", exc.reason.value, user=user, resource=database)
        raise SessionEnd(
            "28P01",
            f"token refused ({exc.reason.value}): {exc.message}",
            "mint a fresh token (limen token) and pass it as the password",
        ) from None
    if identity.subject != user:
        services.auth_refused("postgres", "user_mismatch", resource=database)
        raise SessionEnd(
            "28P01",
            f"token refused: the user name {user!r} is not the token's subject",
            "connect with the token's subject as the user name",
        )
    return Admission(identity, resource)
