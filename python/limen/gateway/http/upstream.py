"""The HTTP upstream of a session: one connection, reused across requests.

The resource's ``upstream`` is a URL (``https://api.example:443/v2``): the
connection is opened through ``Services.open_upstream`` within ``[gateway]
connect_timeout``; ``https`` is TLS with verification (the system's CAs,
or ``[resources.tls] ca_file``; ``server_name`` for SNI and the name
check; ``mode = "verify-ca"`` skips the name check, ``"require"`` skips
verification). An h11 client connection frames the requests; when the
upstream closes (or asks to), the next request opens a new connection.

The credential (``password_env``/``password_file``) goes into every request
as ``http_auth`` says: ``Authorization: Bearer``, ``Authorization: Basic``
(with ``user``), a header of its own, or a query parameter of its own
(:meth:`Upstream.request_target`: the bot's parameters of that name are
dropped). It is never logged or recorded (the recording holds the bot's
request target).
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urlsplit

import h11
import trio

from limen.config import Resource, Secret, SecretError
from limen.gateway.http.headers import checked_header
from limen.gateway.services import Services
from limen.gateway.session import RECEIVE_SIZE, SessionEnd

__all__ = [
    "Flush",
    "Target",
    "Upstream",
    "UpstreamError",
    "credential_header",
    "credential_query",
    "parse_target",
    "with_query_credential",
]

#: ``await flush()``: what runs before the upstream side waits for bytes.
Flush = Callable[[], Awaitable[None]]


class UpstreamError(Exception):
    """The upstream connection failed or broke HTTP (the client gets 502)."""


@dataclass(frozen=True)
class Target:
    """Where a resource's requests go."""

    tls: bool
    host: str
    port: int
    base: str
    """The base path, without a trailing slash ("" for the root)."""
    host_header: bytes


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if tls else 80)
    default = port == (443 if tls else 80)
    shown = f"[{host}]" if ":" in host else host
    header = shown if default else f"{shown}:{port}"
    return Target(tls, host, port, parts.path.rstrip("/"), header.encode("idna"))


def credential_header(resource: Resource, secret: Secret | None) -> tuple[bytes, bytes] | None:
    """The header that carries the resource's credential (None: none)."""
    if secret is None:
        return None
    value = secret.reveal()
    auth = resource.http_auth or "bearer"
    if auth.startswith("query:"):
        return None
    if auth == "basic":
        pair = f"{resource.user or ''}:{value}".encode()
        return b"authorization", b"Basic " + base64.b64encode(pair)
    if auth.startswith("header:"):
        return auth.removeprefix("header:").lower().encode("ascii"), value.encode()
    return b"authorization", b"Bearer " + value.encode()


def credential_query(resource: Resource, secret: Secret | None) -> tuple[bytes, bytes] | None:
    """The query parameter (name, percent-encoded value) that carries the
    resource's credential (None: it goes in a header, or there is none)."""
    auth = resource.http_auth or ""
    if secret is None or not auth.startswith("query:"):
        return None
    value = quote(secret.reveal(), safe="").encode("ascii")
    return auth.removeprefix("query:").encode("ascii"), value


def with_query_credential(target: bytes, credential: tuple[bytes, bytes]) -> bytes:
    """``target`` with the credential as its last query parameter; every
    parameter of the bot's with that name (percent-encoded or not) is
    dropped, so the upstream sees limen's value only."""
    path, _, query = target.partition(b"?")
    name, value = credential
    kept = [
        pair
        for pair in query.replace(b";", b"&").split(b"&")
        if pair and unquote_to_bytes(pair.partition(b"=")[0].replace(b"+", b" ")) != name
    ]
    return path + b"?" + b"&".join([*kept, name + b"=" + value])


class Upstream:
    """The upstream connection of one HTTP session."""

    def __init__(self, services: Services, resource: Resource) -> None:
        self.services = services
        self.resource = resource
        self.target = parse_target(resource.upstream)
        try:
            secret = services.config.resolve_password(resource)
        except SecretError as exc:
            services.log("upstream_credential_error", resource=resource.name, error=str(exc))
            raise SessionEnd(
                "08006", f"the gateway cannot read the credential of {resource.name!r}"
            ) from None
        self.credential = credential_header(resource, secret)
        try:  # once here: requests skip h11's header checks (headers.parsed_request)
            checked_header(b"host", self.target.host_header)
            if self.credential is not None:
                checked_header(*self.credential)
        except h11.LocalProtocolError:  # its message would show the value: not logged
            services.log("upstream_credential_error", resource=resource.name, error="bad header")
            raise SessionEnd(
                "08006", f"the credential or host of {resource.name!r} is not a valid header"
            ) from None
        self.query_credential = credential_query(resource, secret)
        self.stream: trio.abc.Stream | None = None
        self.conn = h11.Connection(h11.CLIENT)
        self.reused = False
        """The current request went on a connection used before."""

    def request_target(self, target: str) -> bytes:
        """The upstream request target of the bot's normalised ``target``
        (path and query): under the base path, with the query credential."""
        out = (self.target.base + target).encode()
        if self.query_credential is not None:
            out = with_query_credential(out, self.query_credential)
        return out

    async def ready(self) -> None:
        """An upstream connection ready for the next request."""
        conn = self.conn
        if self.stream is not None:
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
                self.reused = True
                return
            if conn.our_state is h11.IDLE and conn.their_state is h11.IDLE:
                return
            await self.close()
        await self.open()

    async def open(self) -> None:
        """Opens the connection (and TLS); refusals are SessionEnd 08006."""
        name = self.resource.name
        target = self.target
        timeout = self.services.config.gateway.connect_timeout.seconds
        opened: trio.abc.Stream | None = None
        try:
            with trio.fail_after(timeout):
                opened = await self.services.open_upstream(target.host, target.port)
                stream = opened
                if target.tls:
                    stream = trio.SSLStream(
                        opened, self._context(), server_hostname=self._server_name()
                    )
                    await stream.do_handshake()
        except BaseException as exc:
            if opened is not None:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(opened)
            if not isinstance(exc, (OSError, trio.TooSlowError, trio.BrokenResourceError)):
                raise
            tls_error = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
            if isinstance(tls_error, ssl.SSLError):
                self.services.log("upstream_tls_failed", resource=name, error=str(tls_error))
                raise SessionEnd(
                    "08006", f"TLS to the upstream of {name!r} failed: {tls_error.reason}"
                ) from None
            self.services.log("upstream_unreachable", resource=name, error=str(exc))
            raise SessionEnd("08006", f"cannot reach the upstream of {name!r}") from None
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)
        self.reused = False

    def _server_name(self) -> str:
        tls = self.resource.tls
        return tls.server_name if tls is not None and tls.server_name else self.target.host

    def _context(self) -> ssl.SSLContext:
        tls = self.resource.tls
        config = self.services.config
        ca = str(config.path(tls.ca_file)) if tls is not None and tls.ca_file else None
        ctx = ssl.create_default_context(cafile=ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        if tls is not None and tls.mode in ("disable", "prefer", "require"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif tls is not None and tls.mode == "verify-ca":
            ctx.check_hostname = False
        if tls is not None and tls.cert_file and tls.key_file:
            ctx.load_cert_chain(str(config.path(tls.cert_file)), str(config.path(tls.key_file)))
        return ctx

    async def send(self, event: h11.Event) -> None:
        """Sends one request event (:class:`UpstreamError` when it fails)."""
        assert self.stream is not None
        try:
            data = self.conn.send(event)
            if data:
                await self.stream.send_all(data)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise UpstreamError(f"sending to the upstream failed: {exc}") from None

    async def next_event(self, before_wait: Flush | None = None) -> h11.Event:
        """The upstream's next response event (h11 framing;
        :class:`UpstreamError` when the upstream fails or breaks HTTP).
        ``before_wait`` runs before waiting for more bytes (the relay sends
        what it has gathered for the client)."""
        assert self.stream is not None
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise UpstreamError(f"the upstream broke HTTP: {exc}") from None
            if isinstance(event, h11.Event):
                return event
            if event is not h11.NEED_DATA:  # PAUSED: never while reading a response
                raise UpstreamError("the upstream connection paused")
            if before_wait is not None:
                await before_wait()
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise UpstreamError(f"reading from the upstream failed: {exc}") from None
            self.conn.receive_data(bytes(data))

    async def response(self) -> h11.Response:
        """The upstream's response head (interim 1xx skipped)."""
        event = await self.next_event()
        while isinstance(event, h11.InformationalResponse):
            event = await self.next_event()
        if not isinstance(event, h11.Response):
            raise UpstreamError(f"the upstream sent {type(event).__name__}, not a response")
        return event

    async def close(self) -> None:
        if self.stream is not None:
            await trio.aclose_forcefully(self.stream)
            self.stream = None
