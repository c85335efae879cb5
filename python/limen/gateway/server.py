"""The PostgreSQL listener: one port for every postgres resource.

:class:`PgGateway` accepts connections (``nursery.start(gw.serve, host,
port)`` returns the bound listeners, port 0 in tests), runs one
:class:`~limen.gateway.pg.PgSession` per connection in its own task, keeps
the gateway's cancel keys (a CancelRequest arriving on a new connection is
forwarded upstream for the matching session), counts connections per
identity, and drains on :meth:`PgGateway.drain` (stop accepting, wait up to
``[gateway] drain_timeout``, then end what is left with a FATAL error).
"""

from __future__ import annotations

import json
import secrets
import ssl
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import trio

from limen import _native
from limen.approvals import ApprovalHub
from limen.config import Config
from limen.gateway.inrecord import InputMaskers
from limen.identity import Authenticator, Identity
from limen.inmask import InputMasker
from limen.mask import native_masker
from limen.policy import Policy
from limen.recording import RecorderFactory, configured_recorder_factory

if TYPE_CHECKING:
    from limen.gateway.pg import PgSession

__all__ = ["JsonLog", "PgGateway"]


class JsonLog:
    """JSON log lines (one object per line) on a text stream, stderr by
    default. Callers never pass secrets (tokens, passwords, SQL text)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps(
            {"ts": round(time.time(), 3), "event": event, **fields},
            separators=(",", ":"),
            default=str,
        )
        out = self.stream if self.stream is not None else sys.stderr
        print(line, file=out, flush=True)


class PgGateway:
    """Shared state of the PostgreSQL listener and its sessions."""

    def __init__(
        self,
        config: Config,
        authenticator: Authenticator,
        *,
        policy: Policy | None = None,
        recorder_factory: RecorderFactory | None = None,
        log: Callable[..., None] | None = None,
        approvals: ApprovalHub | None = None,
    ) -> None:
        self.config = config
        self.authenticator = authenticator
        self.policy = policy if policy is not None else Policy(config)
        self.recorder_factory: RecorderFactory = (
            recorder_factory
            if recorder_factory is not None
            else configured_recorder_factory(config)
        )
        """One recorder per session; by default a signed log in ``[gateway]
        recordings``, indexed in the ``[gateway] state`` store."""
        self.log: Callable[..., None] = log if log is not None else JsonLog()
        self.approvals = approvals
        """Holds wait here; None refuses every held statement."""
        self.input_maskers = InputMaskers(config, self.policy)
        """Statement texts as recorded and shown (:mod:`limen.gateway.inrecord`)."""
        self.ssl_context = self._ssl_context()
        self.sessions: set[PgSession] = set()
        self.cancel_keys: dict[tuple[int, bytes], PgSession] = {}
        self.per_identity: Counter[str] = Counter()
        self._maskers: dict[tuple[str, ...], _native.Masker | None] = {}
        self._accept_scope: trio.CancelScope | None = None
        self._draining = False
        self._sessions_done = trio.Event()
        self._sessions_done.set()

    def _ssl_context(self) -> ssl.SSLContext | None:
        listeners = self.config.listeners
        if listeners.tls_cert is None or listeners.tls_key is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(
            str(self.config.path(listeners.tls_cert)), str(self.config.path(listeners.tls_key))
        )
        return ctx

    # -- masking -----------------------------------------------------------------

    def masker_for(self, identity: Identity, resource: str) -> _native.Masker | None:
        """The masker of every applicable rule's ``mask`` list (``builtin``,
        detector names, ``[[mask_rules]]`` names, ``column:table.column``);
        None when no rule asks for masking. Cached per distinct list."""
        key = tuple(sorted(self.policy.mask_for(identity, resource)))
        if key not in self._maskers:
            if not key:
                self._maskers[key] = None
            else:
                columns = [i.removeprefix("column:") for i in key if i.startswith("column:")]
                detectors = [i for i in key if not i.startswith("column:")]
                self._maskers[key] = native_masker(detectors, self.config.mask_rules, columns)
        return self._maskers[key]

    def mask_statement(self, sql: bytes, masker: InputMasker | None = None) -> str:
        """Statement text as approvers see it: secret positions of the parse
        tree and every built-in detector (and ``masker``'s, the session's)
        masked, even when the session records raw (see :mod:`limen.inmask`)."""
        return (masker or self.input_maskers.builtin).mask_text(sql)

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
        self.log("listening", protocol="postgres", host=host, port=_port(listeners))
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
        self.log("stopped", protocol="postgres")

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            stream = await listener.accept()
            nursery.start_soon(self._handle, stream)

    async def _handle(self, stream: trio.SocketStream) -> None:
        from limen.gateway.pg import PgSession

        try:
            peer = stream.socket.getpeername()
            host = str(peer[0])
        except OSError:
            host = "?"
        if len(self.sessions) >= self.config.gateway.max_connections:
            self.log("refused", reason="max_connections", peer=host)
            await stream.aclose()
            return
        session = PgSession(self, stream, host)
        self.sessions.add(session)
        self._sessions_done = trio.Event() if len(self.sessions) == 1 else self._sessions_done
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            if not self.sessions:
                self._sessions_done.set()

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

    # -- cancel keys -------------------------------------------------------------

    def new_cancel_key(self, session: PgSession) -> tuple[int, bytes]:
        while True:
            key = (secrets.randbelow(2**31 - 1) + 1, secrets.token_bytes(4))
            if key not in self.cancel_keys:
                self.cancel_keys[key] = session
                return key

    async def forward_cancel(self, process_id: int, secret_key: bytes) -> None:
        session = self.cancel_keys.get((process_id, secret_key))
        if session is None:
            self.log("cancel_ignored", reason="unknown key")
            return
        if session.cancel_hold():
            self.log("cancel_withdrew_hold", session=session.session_id)
            return
        await session.cancel_upstream()


def _port(listeners: list[trio.SocketListener]) -> int:
    return int(listeners[0].socket.getsockname()[1])
