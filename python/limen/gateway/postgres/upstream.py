"""The PostgreSQL upstream: connect, TLS, limen's own login.

The connection is opened through ``Services.open_upstream`` within
``[gateway] connect_timeout``, then TLS as ``[resources.tls] mode`` says
(in rustls, :class:`~limen.gateway.tlsnative.NativeTlsStream`, so that the
native pump can take the session over; Python's ``ssl`` for other streams).
The gateway logs in with the resource's credential (trust, md5,
SCRAM-SHA-256 through the native ``PgUpstreamAuth`` state machine; no
channel binding yet), keeps the server's ParameterStatus messages (for the
client) and its BackendKeyData (for cancel requests).
"""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass
from typing import assert_never

import trio

from limen import _native
from limen.config import Resource, Secret, SecretError
from limen.gateway.services import Services
from limen.gateway.session import RECEIVE_SIZE, SessionEnd
from limen.gateway.tlsnative import NativeTlsStream, upstream_config

__all__ = [
    "FORWARDED_PARAMS",
    "TERMINATE",
    "Login",
    "Upstream",
    "connect",
    "login",
    "upstream_events",
]

#: Terminate: limen's goodbye to the upstream.
TERMINATE = b"X\x00\x00\x00\x04"

#: Client startup parameters passed upstream; anything else (``options``,
#: ``search_path``, ``role``, ...) is dropped: settings are policy's business.
FORWARDED_PARAMS = (
    "application_name",
    "client_encoding",
    "DateStyle",
    "TimeZone",
    "IntervalStyle",
    "extra_float_digits",
)
SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"  # length 8, code 80877103


@dataclass(frozen=True)
class Upstream:
    """An open upstream connection (TLS done) and the password to log in."""

    stream: trio.abc.Stream
    address: tuple[str, int]
    secret: Secret | None
    """The resource's password (None: none configured); never logged."""


@dataclass(frozen=True)
class Login:
    """What the upstream said while the gateway logged in."""

    statuses: list[tuple[str, str]]
    key: tuple[int, bytes] | None


async def connect(services: Services, resource: Resource) -> Upstream:
    """Opens the resource's upstream (and TLS); refusals are SessionEnd."""
    config = services.config
    try:
        secret = config.resolve_password(resource)
    except SecretError as exc:
        services.log("upstream_credential_error", resource=resource.name, error=str(exc))
        raise SessionEnd(
            "08006", f"the gateway cannot read the credential of {resource.name!r}"
        ) from None
    address = resource.upstream_address()
    opened: trio.abc.Stream | None = None
    try:
        with trio.fail_after(config.gateway.connect_timeout.seconds):
            opened = await services.open_upstream(address.host, address.port)
        with trio.fail_after(config.gateway.connect_timeout.seconds):
            stream = await _tls(services, opened, resource, address.host)
    except BaseException as exc:
        if opened is not None:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(opened)
        if not isinstance(exc, (OSError, trio.TooSlowError, trio.BrokenResourceError)):
            raise
        tls_error = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
        if isinstance(tls_error, ssl.SSLError | _native.TlsError):
            services.log("upstream_tls_failed", resource=resource.name, error=str(tls_error))
            reason = tls_error.reason if isinstance(tls_error, ssl.SSLError) else str(tls_error)
            raise SessionEnd(
                "08006", f"TLS to the upstream of {resource.name!r} failed: {reason}"
            ) from None
        services.log("upstream_unreachable", resource=resource.name, error=str(exc))
        raise SessionEnd("08006", f"cannot reach the upstream of {resource.name!r}") from None
    return Upstream(stream, (address.host, address.port), secret)


async def _tls(
    services: Services, stream: trio.abc.Stream, resource: Resource, host: str
) -> trio.abc.Stream:
    """TLS to the upstream as ``[resources.tls] mode`` says (libpq's
    meanings: prefer falls back to clear text, require encrypts without
    verifying, verify-ca checks the chain, verify-full also the name)."""
    tls = resource.tls
    if tls is None or tls.mode == "disable":
        return stream
    config = services.config
    await stream.send_all(SSL_REQUEST)
    answer = await stream.receive_some(1)
    if answer == b"N":
        if tls.mode == "prefer":
            return stream
        raise SessionEnd(
            "08006", f"the upstream of {resource.name!r} does not offer TLS (mode {tls.mode})"
        )
    if answer != b"S":
        raise SessionEnd("08006", f"the upstream of {resource.name!r} answered TLS oddly")
    if type(stream) is trio.SocketStream:
        try:
            native_config = upstream_config(
                tls.mode,
                config.path(tls.ca_file) if tls.ca_file else None,
                config.path(tls.cert_file) if tls.cert_file and tls.key_file else None,
                config.path(tls.key_file) if tls.cert_file and tls.key_file else None,
            )
            session = _native.TlsSession.client(native_config, tls.server_name or host)
        except (OSError, _native.TlsError) as exc:
            raise trio.BrokenResourceError(f"TLS setup failed: {exc}") from exc
        native = NativeTlsStream(stream, session)
        await native.do_handshake()
        return native
    ctx = ssl.create_default_context(cafile=str(config.path(tls.ca_file)) if tls.ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.mode in ("prefer", "require"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif tls.mode == "verify-ca":
        ctx.check_hostname = False
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(str(config.path(tls.cert_file)), str(config.path(tls.key_file)))
    tls_stream = trio.SSLStream(stream, ctx, server_hostname=tls.server_name or host)
    await tls_stream.do_handshake()
    return tls_stream


async def upstream_events(
    stream: trio.abc.Stream, relay: _native.PgServerRelay
) -> list[_native.RelayEvent]:
    """The relay's events for the next chunk the upstream sends (what it
    would forward is dropped: the gateway's own conversation)."""
    data = await stream.receive_some(RECEIVE_SIZE)
    if not data:
        raise SessionEnd("08006", "the upstream server closed the connection")
    _out, events = relay.feed(data)
    return events


async def login(
    upstream: Upstream,
    relay: _native.PgServerRelay,
    resource: Resource,
    user: str,
    params: dict[str, str],
) -> Login:
    """Logs in as ``user`` on the resource's database, passing on the
    client's :data:`FORWARDED_PARAMS`."""
    stream, secret = upstream.stream, upstream.secret
    startup = [("user", user), ("database", resource.database or resource.name)]
    startup += [(k, params[k]) for k in FORWARDED_PARAMS if k in params]
    await stream.send_all(_native.pg_startup(startup))
    auth = _native.PgUpstreamAuth(
        user,
        secret.reveal() if secret is not None else "",
        secrets.token_urlsafe(18),
        allow_cleartext=False,
        allow_md5=True,
    )
    statuses: list[tuple[str, str]] = []
    key: tuple[int, bytes] | None = None
    while True:
        events = await upstream_events(stream, relay)
        done = False
        for ev in events:
            match ev:
                case _native.PgAuthentication(body=body):
                    if secret is None and body != b"\x00\x00\x00\x00":
                        raise SessionEnd(
                            "08006",
                            f"the upstream of {resource.name!r} asks for a password "
                            "and the resource has none configured",
                        )
                    try:
                        step = auth.handle(body)
                    except _native.PgProtocolError as exc:
                        raise SessionEnd(
                            "08006", f"the gateway could not log in to {resource.name!r}: {exc}"
                        ) from None
                    match step:
                        case _native.PgAuthSend(data=data):
                            await stream.send_all(data)
                        case _native.PgAuthWait() | _native.PgAuthOk():
                            pass
                        case _:
                            assert_never(step)
                case _native.PgErrorResponse(fields=fields):
                    raise SessionEnd(
                        "08006",
                        f"the upstream of {resource.name!r} refused the gateway: "
                        f"{fields.get('M', 'no message')}",
                    )
                case _native.PgParameterStatus(name=name, value=value):
                    statuses.append((name, value))
                case _native.PgBackendKeyData(process_id=pid, secret_key=secret_key):
                    key = (pid, secret_key)
                case _native.PgReadyForQuery():
                    done = True
                case _:
                    pass  # notices and the like: nothing to do before the relay
        if done:
            return Login(statuses, key)
