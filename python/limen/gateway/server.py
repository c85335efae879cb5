"""The listeners: accept connections and run one session per connection.

:class:`Listener` is protocol-neutral: ``nursery.start(listener.serve, host,
port)`` returns the bound sockets (port 0 in tests), each connection runs
its protocol's session (:class:`~limen.gateway.session.Session`) in its own
task (refused beyond ``[gateway] max_connections``), and
:meth:`Listener.drain` stops accepting, waits up to ``[gateway]
drain_timeout``, then ends what is left with a fatal error. Every session
gets the listener's :class:`~limen.gateway.services.Services`.

:class:`PgGateway` is the PostgreSQL listener: one port for every postgres
resource; it keeps the cancel keys (a CancelRequest arrives on a new
connection and is forwarded for the session that owns the key).
:class:`MySqlGateway` is the MySQL listener: one port for every mysql
resource; it has the RSA key caching_sha2 clients on plaintext loopback
encrypt their token with, and numbers its connections.
:class:`HttpGateway` is the HTTP listener (built on the same
:class:`Services` as the PostgreSQL one when both run).
"""

from __future__ import annotations

import abc
import ipaddress
import itertools
import secrets
import ssl
from collections import Counter
from collections.abc import Callable

import trio

from limen import _native
from limen.approvals import ApprovalHub
from limen.config import Config
from limen.gateway import proxyproto
from limen.gateway.errors import leaves
from limen.gateway.http import HttpSession
from limen.gateway.inrecord import InputMaskers
from limen.gateway.mysql import MySqlSession, process_key
from limen.gateway.postgres import CancelKeys, PgSession
from limen.gateway.services import JsonLog, Services, UpstreamOpener
from limen.gateway.session import Session, SessionEnd
from limen.gateway.ssh import SshSession, host_key
from limen.identity import Authenticator, Identity
from limen.identity.sshca import SshCa, load_or_create_ca
from limen.identity.statickeys import SshPublicKeys
from limen.inmask import InputMasker
from limen.metrics import GatewayMetrics
from limen.policy import Policy
from limen.recording import RecorderFactory

__all__ = [
    "HttpGateway",
    "JsonLog",
    "Listener",
    "MySqlGateway",
    "PgGateway",
    "SshGateway",
    "UpstreamOpener",
]


class Listener(abc.ABC):
    """Accepts connections for one protocol until drained."""

    protocol: str

    def __init__(self, services: Services) -> None:
        self.services = services
        self.sessions: set[Session] = set()
        self._accept_scope: trio.CancelScope | None = None
        self._draining = False
        self._sessions_done = trio.Event()
        self._sessions_done.set()
        self._proxies = [
            ipaddress.ip_network(n, strict=False)
            for n in services.config.listeners.proxy_protocol_from
        ]

    @abc.abstractmethod
    def new_session(self, stream: trio.abc.Stream, peer_host: str) -> Session:
        """The session of one accepted connection."""

    # -- shared parts, as the sessions see them ----------------------------------

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def authenticator(self) -> Authenticator:
        return self.services.authenticator

    @property
    def policy(self) -> Policy:
        return self.services.policy

    @property
    def log(self) -> Callable[..., None]:
        return self.services.log

    @property
    def approvals(self) -> ApprovalHub | None:
        return self.services.approvals

    @property
    def input_maskers(self) -> InputMaskers:
        return self.services.input_maskers

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self.services.ssl_context

    @property
    def per_identity(self) -> Counter[str]:
        return self.services.per_identity

    @property
    def open_upstream(self) -> UpstreamOpener:
        """How sessions reach an upstream (and send it a CancelRequest)."""
        return self.services.open_upstream

    def masker_for(self, identity: Identity, resource: str) -> _native.Masker | None:
        return self.services.masker_for(identity, resource)

    def mask_statement(self, sql: bytes, masker: InputMasker | None = None) -> str:
        return self.services.mask_statement(sql, masker)

    # -- listening ---------------------------------------------------------------

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept until :meth:`drain`; returns when every session has ended."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.log("listening", protocol=self.protocol, host=host, port=_port(listeners))
        try:
            async with trio.open_nursery() as sessions:
                with trio.CancelScope() as accept_scope:
                    self._accept_scope = accept_scope
                    if self._draining:
                        accept_scope.cancel()
                    async with trio.open_nursery() as acceptors:
                        for listener in listeners:
                            acceptors.start_soon(self._accept_loop, listener, sessions)
                        task_status.started(listeners)
        finally:
            for listener in listeners:
                await listener.aclose()
        self.log("stopped", protocol=self.protocol)

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            stream = await listener.accept()
            nursery.start_soon(self._handle, stream)

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            peer = stream.socket.getpeername()
            host = str(peer[0])
        except OSError:
            host = "?"
        if self._from_proxy(host):
            client = await self._proxied_client(stream, host)
            if client is None:
                return
            host = client
        try:
            await self.run_session(stream, host)
        except Exception as exc:  # one session's bug never ends the listener
            # The type only: a message may quote what the peer sent.
            found = leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
            names = ",".join(sorted({type(e).__name__ for e in found}))
            self.log("session_failed", protocol=self.protocol, error=names)
            await trio.aclose_forcefully(stream)

    def _from_proxy(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self._proxies)

    async def _proxied_client(self, stream: trio.SocketStream, proxy: str) -> str | None:
        """The client a trusted load balancer names in its PROXY header
        (itself for its own connections); None when the header is missing
        or bad: the connection is closed (:mod:`limen.gateway.proxyproto`)."""
        try:
            with trio.fail_after(self.config.gateway.handshake_timeout.seconds):
                header = await proxyproto.read_header(stream)
        except (proxyproto.ProxyError, trio.TooSlowError, OSError) as exc:
            reason = "timeout" if isinstance(exc, trio.TooSlowError) else str(exc)
            self.log("proxy_header_refused", peer=proxy, error=reason)
            await trio.aclose_forcefully(stream)
            return None
        return header.source if header.source is not None else proxy

    async def run_session(self, stream: trio.abc.Stream, peer_host: str) -> None:
        """Run one client connection to its end (the listener calls it per
        accepted socket; tests with a memory stream). ``peer_host``: the
        client's address (loopback may go without TLS)."""
        session = self.new_session(stream, peer_host)
        if self.services.fenced is not None:  # cut off from the state store
            self.log("refused", reason="fenced", peer=peer_host)
            await session.refuse(SessionEnd(*self.services.fenced))
            return
        limit = self.config.gateway.max_connections
        if len(self.sessions) >= limit:
            self.log("refused", reason="max_connections", peer=peer_host)
            self.services.metrics.connections_refused.inc(protocol=self.protocol, limit="gateway")
            await session.refuse(
                SessionEnd("53300", f"too many connections to the gateway (limit {limit})")
            )
            return
        self.sessions.add(session)
        self._sessions_done = trio.Event() if len(self.sessions) == 1 else self._sessions_done
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            if not self.sessions:
                self._sessions_done.set()

    @property
    def draining(self) -> bool:
        """The listener stopped accepting (a drain began)."""
        return self._draining

    async def drain(self, timeout: float | None = None) -> None:
        """Stop accepting; wait for the sessions to end (at most ``timeout``,
        default ``[gateway] drain_timeout``), then end the rest."""
        self._draining = True
        if self._accept_scope is not None:
            self._accept_scope.cancel()
        wait = self.config.gateway.drain_timeout.seconds if timeout is None else timeout
        self.log("draining", sessions=len(self.sessions), timeout=wait)
        with trio.move_on_after(wait):
            await self._sessions_done.wait()
        for session in list(self.sessions):
            session.kill("57P01", "the gateway is shutting down; reconnect to another node")


class PgGateway(Listener):
    """The PostgreSQL listener and its sessions' shared state. ``services``:
    the gateway's shared parts (``limen serve`` gives every listener the
    same: one connection count per identity across protocols, one masker
    cache, one approvals hub); else built from the other arguments."""

    protocol = "postgres"

    def __init__(
        self,
        config: Config,
        authenticator: Authenticator,
        *,
        policy: Policy | None = None,
        recorder_factory: RecorderFactory | None = None,
        log: Callable[..., None] | None = None,
        approvals: ApprovalHub | None = None,
        open_upstream: UpstreamOpener | None = None,
        metrics: GatewayMetrics | None = None,
        services: Services | None = None,
    ) -> None:
        super().__init__(
            services
            or Services(
                config,
                authenticator,
                policy=policy,
                recorder_factory=recorder_factory,
                log=log,
                approvals=approvals,
                open_upstream=open_upstream,
                metrics=metrics,
            )
        )
        self.cancel_keys = CancelKeys(self.services.log)

    def new_session(self, stream: trio.abc.Stream, peer_host: str) -> Session:
        return PgSession(self.services, self.cancel_keys, stream, peer_host)

    async def forward_cancel(self, process_id: int, secret_key: bytes) -> None:
        """A CancelRequest for one of this listener's sessions."""
        await self.cancel_keys.forward(process_id, secret_key)


class MySqlGateway(Listener):
    """The MySQL listener (``[listeners] mysql``), on the gateway's shared
    :class:`Services`."""

    protocol = "mysql"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.key = process_key()
        """The RSA key of caching_sha2's plaintext step (one per process)."""
        self._ids = itertools.count(secrets.randbelow(1 << 30) + 1)

    def new_session(self, stream: trio.abc.Stream, peer_host: str) -> Session:
        connection_id = next(self._ids) & 0xFFFFFFFF
        return MySqlSession(self.services, self.key, connection_id, stream, peer_host)


class HttpGateway(Listener):
    """The HTTP listener (``[listeners] http``): one port for every http
    resource (``/r/RESOURCE/...``)."""

    protocol = "http"

    def new_session(self, stream: trio.abc.Stream, peer_host: str) -> Session:
        return HttpSession(self.services, stream, peer_host)


class SshGateway(Listener):
    """The SSH listener (``[listeners] ssh``): one port for every ssh
    resource; the SSH user name names the resource (docs/ssh.md)."""

    protocol = "ssh"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.host_key = host_key(services.config)
        """limen's SSH host key (created under the state folder on first use)."""
        self.ca = SshCa(load_or_create_ca(services.config.ssh_ca_key_path()))
        """limen's SSH user CA: certificates from ``limen ssh cert`` log in."""
        self.ssh_keys = SshPublicKeys(services.config.identity.keys)
        """SSH public keys of ``[[identity.keys]]`` (by fingerprint)."""

    def new_session(self, stream: trio.abc.Stream, peer_host: str) -> Session:
        return SshSession(self.services, self.host_key, stream, peer_host, self.ca, self.ssh_keys)


def _port(listeners: list[trio.SocketListener]) -> int:
    return int(listeners[0].socket.getsockname()[1])
