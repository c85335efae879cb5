"""The protocol-neutral session skeleton: one client connection from its
first byte to its end, whatever the protocol.

:meth:`Session.run` is the same for every protocol::

    handshake  (driver)  -> the client's identity and the resource it asks for
    admission  (here)    -> one more connection of that identity counted
    upstream   (driver)  -> the upstream connection opened
    recording  (here)    -> SessionPolicy, recorder, statement masker, judge;
                            ``session_start`` logged
    login      (driver)  -> the upstream login; the client is told it is in
    relay      (driver)  -> within the token's lifetime, until the end

The first four steps run within ``[gateway] handshake_timeout``. A driver
(``gateway/postgres/session.py`` is the first) subclasses :class:`Session`
and provides those steps, the bytes of a fatal error, and how to close its
upstream; this module owns what every protocol shares: the end of the
session (:meth:`Session.finish`: the first reason wins, one place), kill
and drain, the token's expiry, the idle watch, the cleanup (connection
count, both connections, the ``end`` record, ``session_end``).

End codes are SQLSTATEs (``57P05`` idle, ``28P01`` token, ``08006``
upstream, ``08P01`` protocol, ...): PostgreSQL's vocabulary is limen's; a
driver of another protocol maps each to its own error form. The code is the
``reason`` of ``session_end`` and of the recording's ``end`` event.
"""

from __future__ import annotations

import abc
import contextlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import msgspec
import trio

from limen.config import Duration, Resource
from limen.gateway.errors import SessionEnd, single_error
from limen.gateway.holds import Holds
from limen.gateway.judging import Judge
from limen.gateway.services import Refused, Services, Slot
from limen.identity import Identity
from limen.inmask import InputMasker
from limen.policy import Decision, SessionPolicy
from limen.recording import EVENT, Recorder, SessionInfo

__all__ = ["Admission", "Session", "SessionEnd"]

RECEIVE_SIZE = 65536


@dataclass(frozen=True)
class Admission:
    """What a handshake established: who connects, to which resource."""

    identity: Identity
    resource: Resource


class Session(abc.ABC):
    """One client connection and its upstream connection (see the module
    docs). Attributes are set as the steps reach them."""

    protocol: ClassVar[str]
    """The resource protocol this session serves (``postgres``)."""
    protocol_errors: ClassVar[tuple[type[Exception], ...]] = ()
    """Exceptions of the protocol's decoders: the session ends ``08P01``."""

    def __init__(self, services: Services, client: trio.abc.Stream, peer_host: str) -> None:
        self.services = services
        self.config = services.config
        self.client: trio.abc.Stream = client
        """The client connection (a driver replaces it when TLS starts)."""
        self.peer_host = peer_host
        self.tls = False
        self.session_id = secrets.token_hex(8)
        self.identity: Identity | None = None
        self.resource: Resource | None = None
        self.policy: SessionPolicy | None = None
        self.recorder: Recorder | None = None
        self.input_masker: InputMasker | None = None  # None: statements recorded raw
        self.judge: Judge | None = None
        self.statements = 0
        """Statements the relays passed without judging (the pump's cache
        hits); the judge counts the rest."""
        self.last_activity = trio.current_time()
        self.scope = trio.CancelScope()
        self.cache_clearers: list[Callable[[], None]] = []
        """The relay's native decision caches, emptied by :meth:`rebind`."""
        self._end: SessionEnd | None = None
        self._slot: Slot | None = None
        self._fleet_slot = False

    def rebind(self) -> bool:
        """Judges this session's next statements by the services' current
        rules (after a ``SIGHUP`` reload): its session policies take them,
        every cached decision is forgotten. False when nothing changed."""
        rules = self.services.policy
        policies = [self.policy, self.judge.policy if self.judge is not None else None]
        changed = False
        for policy in {id(p): p for p in policies if p is not None}.values():
            if policy.policy is not rules:
                policy.rebind(rules)
                changed = True
        if changed:
            for clear in self.cache_clearers:
                clear()
        return changed

    # -- what a driver provides -------------------------------------------------

    @abc.abstractmethod
    async def handshake(self) -> Admission | None:
        """Reads the client's opening (TLS, the token); None ends the
        connection quietly (e.g. a cancel request)."""

    def admitted(self) -> None:  # noqa: B027 (optional hook)
        """Called once the identity is admitted and counted."""

    @abc.abstractmethod
    async def connect_upstream(self) -> None:
        """Opens the upstream connection (TCP, TLS)."""

    @abc.abstractmethod
    async def login(self) -> None:
        """Logs in upstream and tells the client it is in."""

    @abc.abstractmethod
    async def relay(self) -> None:
        """Moves bytes until the session ends (returns, or :meth:`finish`)."""

    @abc.abstractmethod
    def fatal_bytes(self, end: SessionEnd) -> bytes:
        """The protocol's fatal error for ``end``."""

    async def close_upstream(self) -> None:  # noqa: B027 (optional hook)
        """Says goodbye upstream and closes it (shielded by the caller)."""

    def release(self) -> None:  # noqa: B027 (optional hook)
        """Drops what the driver registered with the listener."""

    # -- the end ------------------------------------------------------------------

    @property
    def end(self) -> SessionEnd | None:
        """Why the session ends, once known."""
        return self._end

    def finish(self, end: SessionEnd) -> None:
        """Records why the session ends: the first reason wins."""
        if self._end is None:
            self._end = end

    def kill(self, code: str, message: str) -> None:
        """End the session from outside (drain, shutdown)."""
        self.finish(SessionEnd(code, message))
        self.scope.cancel()

    def touch(self) -> None:
        """Notes activity (the idle watch)."""
        self.last_activity = trio.current_time()

    def event(self, obj: dict[str, object]) -> None:
        """Records one JSON event (once the recorder is open)."""
        if self.recorder is not None:
            self.recorder.append(EVENT, msgspec.json.encode(obj))

    def new_holds(self) -> Holds:
        """The session's hold service (once identity and resource are known):
        approvals, recording, logs and metrics wired the same for every
        protocol."""
        assert self.identity is not None
        assert self.resource is not None
        return Holds(
            self.services.approvals,
            identity=self.identity,
            resource=self.resource.name,
            protocol=self.protocol,
            session_id=self.session_id,
            default_timeout=self.config.gateway.hold_timeout.seconds,
            record=self.event,
            log=self.services.log,
            metrics=self.services.metrics,
        )

    @property
    def resource_name(self) -> str | None:
        return None if self.resource is None else self.resource.name

    async def refuse(self, end: SessionEnd) -> None:
        """Turns the connection away before anything is read (the gateway
        is full): the protocol's fatal error, then the connection closes."""
        await self._fatal(end)
        await trio.aclose_forcefully(self.client)

    # -- the run -------------------------------------------------------------------

    async def run(self) -> None:
        reason = "closed"
        lost = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
        try:
            try:
                await self._run_scoped()
            except BaseExceptionGroup as group:  # a relay task's error (gateway.errors)
                error = single_error(group, (SessionEnd, *self.protocol_errors, *lost))
                if error is None:
                    raise
                raise error from group
        except SessionEnd as exc:
            reason = exc.code
            await self._fatal(exc)
        except self.protocol_errors as exc:
            reason = "protocol_error"
            await self._fatal(
                SessionEnd("08P01", f"protocol error: {exc}; closing this connection")
            )
        except lost:
            reason = "connection_lost"
        finally:
            await self._cleanup(reason)

    async def _run_scoped(self) -> None:
        with self.scope:
            with trio.move_on_after(self.config.gateway.handshake_timeout.seconds) as hs:
                ready = await self._open()
            if hs.cancelled_caught:
                raise SessionEnd("08P01", "the connection handshake timed out")
            if ready:
                await self._relay_until_expiry()
        if self._end is not None:
            raise self._end

    async def _open(self) -> bool:
        admission = await self.handshake()
        if admission is None:
            return False
        identity = admission.identity
        self.resource = admission.resource
        revocation = self.services.revoked(identity)
        if revocation is not None:
            self.services.auth_refused(self.protocol, "revoked", revocation=revocation.id)
            raise SessionEnd(
                "28P01",
                f"token refused (revoked): the credential was revoked ({revocation.id})",
                "ask the operator; a revoked credential stays refused until the revocation "
                "expires or is lifted",
            )
        slot = self.services.acquire(identity, admission.resource)
        if isinstance(slot, Refused):
            self.services.metrics.connections_refused.inc(protocol=self.protocol, limit=slot.limit)
            raise SessionEnd("53300", slot.message)
        self._slot = slot
        fleet = self.services.fleet_slots
        if fleet is not None:  # the fleet's counts (limen.gateway.fleetlimits)
            refused = await fleet.acquire(self.session_id, identity, admission.resource)
            if refused is not None:
                self.services.release(slot)
                self._slot = None
                metrics = self.services.metrics
                metrics.connections_refused.inc(protocol=self.protocol, limit=refused.limit)
                raise SessionEnd("53300", refused.message)
            self._fleet_slot = True
        labels = {"protocol": self.protocol, "resource": admission.resource.name}
        self.services.metrics.sessions.inc(**labels)
        self.services.metrics.sessions_active.add(1, **labels)
        self.identity = identity
        self.admitted()
        await self.connect_upstream()
        self._start_recording(identity, admission.resource)
        await self.login()
        return True

    def _start_recording(self, identity: Identity, resource: Resource) -> None:
        services = self.services
        self.policy = SessionPolicy(services.policy, identity, resource.name)
        self.recorder = services.recorder_factory(
            SessionInfo(self.session_id, identity.subject, resource.name, self.protocol)
        )
        self.input_masker = services.input_maskers.start(self.recorder, identity, resource.name)
        decisions = services.metrics.decisions
        protocol = self.protocol

        def counted(decision: Decision) -> None:
            labels = {"action": decision.action, "class": decision.klass}
            decisions.inc(protocol=protocol, rule=decision.rule or "-", **labels)

        self.judge = Judge(
            self.policy,
            self.recorder,
            self.input_masker,
            services.log,
            self.session_id,
            on_decision=counted,
        )
        services.log(
            "session_start",
            session=self.session_id,
            subject=identity.subject,
            resource=resource.name,
            peer=self.peer_host,
            tls=self.tls,
        )

    async def _relay_until_expiry(self) -> None:
        assert self.identity is not None
        expiry = math.inf
        if self.identity.expires_at is not None:
            expiry = trio.current_time() + max(0.0, self.identity.expires_at - time.time())
        with trio.CancelScope(deadline=expiry) as token_scope:
            await self.relay()
        if token_scope.cancelled_caught:
            self.finish(
                SessionEnd(
                    "28P01",
                    "the token expired; the session is closed",
                    "reconnect with a fresh token",
                )
            )

    def idle_timeout(self) -> Duration:
        """The resource's ``idle_timeout``, else ``[gateway] idle_timeout``."""
        resource = self.resource
        if resource is not None and resource.idle_timeout:
            return resource.idle_timeout
        return self.config.gateway.idle_timeout

    async def idle_watch(
        self,
        scope: trio.CancelScope,
        idle_for: Callable[[], float],
        waiting: Callable[[], bool],
    ) -> None:
        """Ends the session (``57P05``, cancelling ``scope``) once
        ``idle_for()`` seconds reach the idle timeout; while ``waiting()``
        (a statement waits for humans) the session is not idle."""
        idle = self.idle_timeout()
        while True:
            if waiting():
                await trio.sleep(min(idle.seconds, 1.0))
                continue
            left = idle.seconds - idle_for()
            if left <= 0:
                self.finish(SessionEnd("57P05", f"idle for {idle}; the session is closed"))
                scope.cancel()
                return
            await trio.sleep(left)

    async def _fatal(self, exc: SessionEnd) -> None:
        data = self.fatal_bytes(exc)
        with trio.move_on_after(2) as scope:
            scope.shield = True
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self.client.send_all(data)
                # Half-close and read what the client still sends for a
                # moment: closing with unread input would reset the
                # connection, and the client could lose the fatal message.
                if isinstance(self.client, trio.SocketStream):
                    await self.client.send_eof()
                with trio.move_on_after(0.5):
                    while await self.client.receive_some(RECEIVE_SIZE):
                        pass
        self.event({"event": "fatal", "code": exc.code, "message": exc.message})

    async def _cleanup(self, reason: str) -> None:
        with trio.CancelScope(shield=True):
            self.release()
            metrics = self.services.metrics
            if self._slot is not None:
                self.services.release(self._slot)
                metrics.sessions_active.add(
                    -1, protocol=self.protocol, resource=self._slot.resource
                )
                self._slot = None
            if self._fleet_slot and self.services.fleet_slots is not None:
                self._fleet_slot = False
                await self.services.fleet_slots.release(self.session_id)
            metrics.session_ends.inc(protocol=self.protocol, reason=reason)
            await self.close_upstream()
            await trio.aclose_forcefully(self.client)
            if self.recorder is not None:
                self.event({"event": "end", "reason": reason})
                self.recorder.close(reason)
            if self.identity is not None:
                judged = self.judge.statements if self.judge is not None else 0
                self.services.log(
                    "session_end",
                    session=self.session_id,
                    subject=self.identity.subject,
                    resource=self.resource_name,
                    reason=reason,
                    statements=self.statements + judged,
                )
