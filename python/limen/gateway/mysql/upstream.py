"""The MySQL upstream: connect, TLS, limen's own login, one-off queries.

The connection is opened through ``Services.open_upstream`` within
``[gateway] connect_timeout``; the server's greeting comes first, then TLS
as the resource's ``tls.mode`` says (libpq's meanings, as for PostgreSQL:
``prefer`` falls back to clear text, ``require`` encrypts without
verifying, ``verify-ca`` checks the chain, ``verify-full`` also the name;
no ``tls`` table: clear text). The gateway logs in with the resource's
credential through the native ``MySqlClientAuth`` (mysql_native_password,
caching_sha2_password with its RSA step on plaintext, MariaDB's
client_ed25519) as ``resource.user`` (else the identity), on
``resource.database``.

Capabilities: the client and the upstream speak the same packet formats
(the relay passes result sets through): every capability in
:data:`FORMAT_CAPS` the client negotiated is asked of the upstream, and an
upstream without one of them is refused with a clear error.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import assert_never

import trio

from limen import _native, mysql_rsa
from limen.config import Resource, Secret, SecretError
from limen.gateway.mysql.wire import Packets
from limen.gateway.services import Services
from limen.gateway.session import SessionEnd

__all__ = ["COM_QUIT", "FORMAT_CAPS", "Upstream", "connect", "login", "query_rows"]

#: ``COM_QUIT`` (sequence id 0): limen's goodbye to the upstream.
COM_QUIT = b"\x01\x00\x00\x00\x01"

CLIENT_MYSQL = 1
CLIENT_FOUND_ROWS = 1 << 1
CLIENT_LONG_FLAG = 1 << 2
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_LOCAL_FILES = 1 << 7
CLIENT_IGNORE_SPACE = 1 << 8
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_INTERACTIVE = 1 << 10
CLIENT_SSL = 1 << 11
CLIENT_TRANSACTIONS = 1 << 13
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PS_MULTI_RESULTS = 1 << 18
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
CLIENT_SESSION_TRACK = 1 << 23
CLIENT_DEPRECATE_EOF = 1 << 24
SERVER_MORE_RESULTS_EXISTS = 1 << 3

#: Capabilities that change what the server sends or accepts after login:
#: the upstream must have each one the client negotiated.
FORMAT_CAPS = (
    CLIENT_FOUND_ROWS
    | CLIENT_LONG_FLAG
    | CLIENT_LOCAL_FILES
    | CLIENT_IGNORE_SPACE
    | CLIENT_PROTOCOL_41
    | CLIENT_TRANSACTIONS
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_SESSION_TRACK
    | CLIENT_DEPRECATE_EOF
)
#: limen's own login needs these (the upstream handshake, not the client's).
LOGIN_CAPS = (
    CLIENT_MYSQL
    | CLIENT_PROTOCOL_41
    | CLIENT_SECURE_CONNECTION
    | CLIENT_PLUGIN_AUTH
    | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
)
_NAMES = {
    CLIENT_FOUND_ROWS: "FOUND_ROWS",
    CLIENT_LONG_FLAG: "LONG_FLAG",
    CLIENT_LOCAL_FILES: "LOCAL_FILES",
    CLIENT_IGNORE_SPACE: "IGNORE_SPACE",
    CLIENT_PROTOCOL_41: "PROTOCOL_41",
    CLIENT_TRANSACTIONS: "TRANSACTIONS",
    CLIENT_MULTI_STATEMENTS: "MULTI_STATEMENTS",
    CLIENT_MULTI_RESULTS: "MULTI_RESULTS",
    CLIENT_PS_MULTI_RESULTS: "PS_MULTI_RESULTS",
    CLIENT_SESSION_TRACK: "SESSION_TRACK",
    CLIENT_DEPRECATE_EOF: "DEPRECATE_EOF",
    CLIENT_SECURE_CONNECTION: "SECURE_CONNECTION",
    CLIENT_PLUGIN_AUTH: "PLUGIN_AUTH",
}


@dataclass
class Upstream:
    """An open upstream connection (greeting read, TLS done)."""

    packets: Packets
    address: tuple[str, int]
    greeting: _native.MySqlHandshakeV10
    secret: Secret | None
    """The resource's password (None: none configured); never logged."""
    tls: bool
    caps: int = 0
    """The capabilities of the upstream connection once logged in."""
    status: int = 0
    """Server status flags of the last OK."""

    @property
    def stream(self) -> trio.abc.Stream:
        return self.packets.stream


def upstream_caps(session_caps: int, greeting: _native.MySqlHandshakeV10, name: str) -> int:
    """What limen asks of the upstream for a client with ``session_caps``;
    refuses an upstream that lacks a format the client relies on."""
    server = greeting.capabilities
    wanted = (session_caps & FORMAT_CAPS) | LOGIN_CAPS
    missing = wanted & ~server & ~CLIENT_MYSQL
    if missing:
        names = ", ".join(v for k, v in _NAMES.items() if missing & k) or hex(missing)
        raise SessionEnd(
            "08006",
            f"the upstream of {name!r} lacks capabilities the client relies on: {names}",
        )
    return wanted & server | (session_caps & server & CLIENT_INTERACTIVE)


async def connect(services: Services, resource: Resource) -> Upstream:
    """Opens the resource's upstream, reads its greeting, starts TLS;
    refusals are SessionEnd."""
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
            packets = Packets(opened, _native.MySqlPacketDecoder())
            first = await packets.read()
            if first.payload[:1] == b"\xff":
                err = _native.mysql_parse_err(first.payload)
                said = (
                    err.message.decode("utf-8", "replace")
                    if isinstance(err, _native.MySqlErr)
                    else "an error"
                )
                raise SessionEnd(
                    "08006", f"the upstream of {resource.name!r} refused the connection: {said}"
                )
            greeting = _native.MySqlHandshakeV10.parse(first.payload)
            tls = await _tls(services, packets, greeting, resource, address.host)
    except BaseException as exc:
        if opened is not None:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(opened)
        if isinstance(exc, _native.MySqlProtocolError):
            raise SessionEnd(
                "08006", f"the upstream of {resource.name!r} is not a MySQL server: {exc}"
            ) from None
        if not isinstance(exc, (OSError, trio.TooSlowError, trio.BrokenResourceError)):
            raise
        tls_error = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
        if isinstance(tls_error, ssl.SSLError):
            services.log("upstream_tls_failed", resource=resource.name, error=str(tls_error))
            raise SessionEnd(
                "08006",
                f"TLS to the upstream of {resource.name!r} failed: {tls_error.reason}",
            ) from None
        services.log("upstream_unreachable", resource=resource.name, error=str(exc))
        raise SessionEnd("08006", f"cannot reach the upstream of {resource.name!r}") from None
    return Upstream(packets, (address.host, address.port), greeting, secret, tls)


async def _tls(
    services: Services,
    packets: Packets,
    greeting: _native.MySqlHandshakeV10,
    resource: Resource,
    host: str,
) -> bool:
    """TLS to the upstream as ``tls.mode`` says; True when on."""
    tls = resource.tls
    if tls is None or tls.mode == "disable":
        return False
    if not greeting.capabilities & CLIENT_SSL:
        if tls.mode == "prefer":
            return False
        raise SessionEnd(
            "08006", f"the upstream of {resource.name!r} does not offer TLS (mode {tls.mode})"
        )
    config = services.config
    await packets.send(
        _native.mysql_encode_ssl_request(
            capabilities=(LOGIN_CAPS | CLIENT_SSL) & (greeting.capabilities | CLIENT_SSL),
            max_packet_size=1 << 24,
            collation=greeting.collation,
        )
    )
    ctx = ssl.create_default_context(cafile=str(config.path(tls.ca_file)) if tls.ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.mode in ("prefer", "require"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif tls.mode == "verify-ca":
        ctx.check_hostname = False
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(str(config.path(tls.cert_file)), str(config.path(tls.key_file)))
    stream = trio.SSLStream(packets.stream, ctx, server_hostname=tls.server_name or host)
    await stream.do_handshake()
    packets.stream = stream
    return True


def _refused(resource: Resource, payload: bytes) -> SessionEnd:
    err = _native.mysql_parse_err(payload)
    said = (
        f"{err.code} {err.message.decode('utf-8', 'replace')}"
        if isinstance(err, _native.MySqlErr)
        else "an error"
    )
    return SessionEnd("08006", f"the upstream of {resource.name!r} refused the gateway: {said}")


async def login(
    upstream: Upstream,
    resource: Resource,
    user: str,
    *,
    session_caps: int,
    collation: int,
    max_packet_size: int,
) -> None:
    """Logs in as ``user`` on the resource's database."""
    greeting = upstream.greeting
    caps = upstream_caps(session_caps, greeting, resource.name)
    database = resource.database
    if database:
        caps |= CLIENT_CONNECT_WITH_DB & greeting.capabilities
    if upstream.tls:
        caps |= CLIENT_SSL
    password = upstream.secret.reveal() if upstream.secret is not None else ""
    try:
        auth = _native.MySqlClientAuth(
            greeting.auth_plugin or b"mysql_native_password",
            greeting.scramble,
            password,
            tls=upstream.tls,
        )
    except (_native.MySqlProtocolError, ValueError) as exc:
        raise SessionEnd(
            "08006", f"the gateway cannot log in to {resource.name!r}: {exc}"
        ) from None
    packets = upstream.packets
    await packets.send(
        _native.mysql_encode_handshake_response(
            capabilities=caps,
            max_packet_size=max_packet_size or 1 << 24,
            collation=collation,
            username=user.encode(),
            auth_response=auth.initial_response,
            database=database.encode() if database else None,
            auth_plugin=auth.plugin,
        )
    )
    while True:
        payload = (await packets.read()).payload
        if payload[:1] == b"\xff":
            raise _refused(resource, payload)
        try:
            step = auth.handle(payload, caps)
        except _native.MySqlProtocolError as exc:
            raise SessionEnd(
                "08006", f"the gateway could not log in to {resource.name!r}: {exc}"
            ) from None
        match step:
            case _native.MySqlAuthDone(status=status):
                packets.set_authenticated()
                upstream.caps = caps
                upstream.status = status
                return
            case _native.MySqlAuthSend(data=data):
                await packets.send(data)
            case _native.MySqlAuthRsaEncrypt(public_key_pem=pem, plaintext=plain):
                try:
                    sealed = mysql_rsa.encrypt_prepared(pem, plain)
                except ValueError as exc:
                    raise SessionEnd(
                        "08006", f"the gateway could not log in to {resource.name!r}: {exc}"
                    ) from None
                await packets.send(sealed)
            case _native.MySqlAuthWait():
                pass
            case _:
                assert_never(step)


async def query_rows(
    upstream: Upstream, resource: Resource, sql: bytes
) -> list[list[bytes | None]]:
    """Runs one text query (limen's own, before the relay starts) and
    returns the rows of its result set (none for an OK); an error ends the
    session."""
    packets, caps = upstream.packets, upstream.caps
    packets.restart(0)
    await packets.send(_native.mysql_encode_query(sql))
    rows: list[list[bytes | None]] = []
    while True:
        first = (await packets.read()).payload
        if first[:1] == b"\xff":
            raise _refused(resource, first)
        if first[:1] == b"\x00":
            status = _native.mysql_parse_ok(first, caps).status
        else:
            columns = _native.mysql_parse_column_count(first, caps)
            for _ in range(columns):
                await packets.read()
            if not caps & CLIENT_DEPRECATE_EOF:
                await packets.read()
            while True:
                payload = (await packets.read()).payload
                if payload[:1] == b"\xfe" and len(payload) < 0xFFFFFF:
                    if caps & CLIENT_DEPRECATE_EOF:
                        status = _native.mysql_parse_ok(payload, caps).status
                    else:
                        status = _native.mysql_parse_eof(payload).status
                    break
                if payload[:1] == b"\xff":
                    raise _refused(resource, payload)
                rows.append(_native.mysql_parse_text_row(payload, columns))
        upstream.status = status
        if not status & SERVER_MORE_RESULTS_EXISTS:
            return rows
