"""What a session needs from the gateway, as one object.

A listener (:mod:`limen.gateway.server`) builds one :class:`Services` and
hands it to every session it starts; a session (of any protocol) reaches
the rest of limen only through it: the configuration, the authenticator,
the policy, where it is recorded, the log, the approvals hub, the
statement maskers, the connection count of its identity, the listener's
TLS context, and :attr:`Services.open_upstream`, the one place a session
opens its upstream connection (tests pass Trio memory streams here).
Sessions never import the listener.
"""

from __future__ import annotations

import json
import ssl
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

import trio

from limen import _native
from limen.approvals import ApprovalHub
from limen.config import Config, Resource
from limen.gateway.inrecord import InputMaskers
from limen.gateway.tlsnative import ListenerTls
from limen.identity import Authenticator, Identity
from limen.inmask import InputMasker
from limen.mask import native_masker
from limen.metrics import GatewayMetrics, default_metrics
from limen.policy import Policy
from limen.recording import RecorderFactory, configured_recorder_factory
from limen.store import Revocation

__all__ = [
    "FleetCounts",
    "JsonLog",
    "Log",
    "Refused",
    "Services",
    "Slot",
    "UpstreamOpener",
    "covers",
    "open_tcp_upstream",
]

#: ``log(event, **fields)``: one structured log line (never a secret).
Log = Callable[..., None]
#: Opens a session's upstream connection: ``await open_upstream(host, port)``.
UpstreamOpener = Callable[[str, int], Awaitable[trio.abc.Stream]]


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


async def open_tcp_upstream(host: str, port: int) -> trio.abc.Stream:
    """The default upstream opener: a TCP connection."""
    return await trio.open_tcp_stream(host, port)


def covers(rev: Revocation, identity: Identity) -> bool:
    """Whether ``rev`` revokes the credential ``identity`` came with: every
    token of a ``subject`` (of its ``issuer``, or of any), one ``token`` by
    its ``jti``, or a static ``key`` by name."""
    if rev.kind == "subject":
        return identity.subject == rev.value and rev.issuer in (None, identity.issuer)
    if rev.kind == "token":
        return identity.token_id is not None and identity.token_id == rev.value
    if rev.kind == "key":
        return identity.method == "static_key" and identity.subject == rev.value
    return False  # a kind this version does not know names nothing it can match


@dataclass(frozen=True)
class Slot:
    """One session counted against its identity's and resource's limits."""

    identity: str
    resource: str


@dataclass(frozen=True)
class Refused:
    """A session over a connection limit: which one, and the message."""

    limit: str
    """``identity`` or ``resource``."""
    message: str


class FleetCounts(Protocol):
    """Connection counts across a fleet (:class:`limen.gateway.fleetlimits.FleetSlots`)."""

    async def acquire(
        self, session_id: str, identity: Identity, resource: Resource
    ) -> Refused | None: ...

    async def release(self, session_id: str) -> None: ...


class Services:
    """The gateway's shared parts, as every session sees them."""

    def __init__(
        self,
        config: Config,
        authenticator: Authenticator,
        *,
        policy: Policy | None = None,
        recorder_factory: RecorderFactory | None = None,
        log: Log | None = None,
        approvals: ApprovalHub | None = None,
        open_upstream: UpstreamOpener | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else default_metrics()
        """What the gateway counts (``GET /metrics`` on the admin API)."""
        self.authenticator = authenticator
        self.policy = policy if policy is not None else Policy(config)
        self.recorder_factory: RecorderFactory = (
            recorder_factory
            if recorder_factory is not None
            else configured_recorder_factory(config)
        )
        """One recorder per session; by default a signed log in ``[gateway]
        recordings``, indexed in the ``[gateway] state`` store."""
        self.log: Log = log if log is not None else JsonLog()
        self.approvals = approvals
        """Holds wait here; None refuses every held statement."""
        self.open_upstream: UpstreamOpener = self._timed(open_upstream or open_tcp_upstream)
        """How sessions open their upstream connection (and cancel requests),
        timed into ``limen_upstream_connect_seconds``."""
        self.input_maskers = InputMaskers(config, self.policy)
        """Statement texts as recorded and shown (:mod:`limen.gateway.inrecord`)."""
        self.listener_tls = self._listener_tls()
        """The listeners' certificate and key (None: none configured):
        Python's context and the native configuration, one place."""
        self.ssl_context: ssl.SSLContext | None = (
            None if self.listener_tls is None else self.listener_tls.context
        )
        """The listeners' TLS context (None: no certificate configured)."""
        self.per_identity: Counter[str] = Counter()
        """Open sessions per identity (``issuer|subject``)."""
        self.per_resource: Counter[str] = Counter()
        """Open sessions per resource name."""
        self.revocations: tuple[Revocation, ...] = ()
        """The revocations in force (kept current by the gateway's
        :class:`~limen.gateway.revocations.Revoker`)."""
        self._maskers: dict[tuple[str, ...], _native.Masker | None] = {}
        self.fleet_slots: FleetCounts | None = None
        """Fleet-wide connection counts (a PostgreSQL state store), set by
        ``limen serve``; None: this node's counts only."""
        self.generation = 0
        """How many configs :meth:`reload` installed since the start."""
        self.fenced: tuple[str, str] | None = None
        """Set (the code and message new sessions are refused with) while
        this node is cut off from its state store (:mod:`limen.gateway.fence`)."""

    def reload(self, config: Config) -> None:
        """Installs a reloaded (already validated) config for what follows:
        new sessions, and the next statements of live ones once their
        driver rebinds them (:mod:`limen.gateway.reload`). The
        authenticator, TLS context and connection counts stay."""
        policy = Policy(config)
        self.config = config
        self.policy = policy
        self.input_maskers = InputMaskers(config, policy)
        self._maskers = {}
        self.generation += 1

    def _timed(self, opener: UpstreamOpener) -> UpstreamOpener:
        metrics = self.metrics

        async def open_upstream(host: str, port: int) -> trio.abc.Stream:
            label = f"{host}:{port}"
            started = time.perf_counter()
            try:
                stream = await opener(host, port)
            except Exception:
                metrics.upstream_connect_failures.inc(upstream=label)
                raise
            metrics.upstream_connect.observe(time.perf_counter() - started, upstream=label)
            return stream

        return open_upstream

    def revoked(self, identity: Identity) -> Revocation | None:
        """The revocation in force that covers ``identity``'s credential, if any."""
        return next((r for r in self.revocations if covers(r, identity)), None)

    def relay_ended(
        self, protocol: str, *, client_bytes: int, upstream_bytes: int, cache_hits: int
    ) -> None:
        """A relay's totals at the end of its session, into the metrics."""
        metrics = self.metrics
        metrics.relayed_bytes.inc(client_bytes, protocol=protocol, **{"from": "client"})
        metrics.relayed_bytes.inc(upstream_bytes, protocol=protocol, **{"from": "upstream"})
        metrics.cached_statements.inc(cache_hits, protocol=protocol)

    def auth_refused(self, protocol: str, reason: str, **fields: Any) -> None:
        """A token (or key) refused: logged (``auth_refused``, never the
        token) and counted in ``limen_token_refusals_total``."""
        self.metrics.token_refusals.inc(protocol=protocol, reason=reason)
        self.log("auth_refused", reason=reason, **fields)

    def _listener_tls(self) -> ListenerTls | None:
        listeners = self.config.listeners
        if listeners.tls_cert is None or listeners.tls_key is None:
            return None
        return ListenerTls(
            self.config.path(listeners.tls_cert), self.config.path(listeners.tls_key)
        )

    # -- connections per identity -------------------------------------------------

    def acquire(self, identity: Identity, resource: Resource) -> Slot | Refused:
        """Counts one more session of ``identity`` on ``resource``: the slot
        to :meth:`release` later, or why not (``[gateway]
        max_connections_per_identity``, the resource's ``max_connections``)."""
        key = f"{identity.issuer}|{identity.subject}"
        limit = self.config.gateway.max_connections_per_identity
        if self.per_identity[key] >= limit:
            message = f"too many connections for {identity.subject!r} (limit {limit})"
            return Refused("identity", message)
        cap = resource.max_connections
        if cap is not None and self.per_resource[resource.name] >= cap:
            return Refused("resource", f"too many connections to {resource.name!r} (limit {cap})")
        self.per_identity[key] += 1
        self.per_resource[resource.name] += 1
        return Slot(key, resource.name)

    def release(self, slot: Slot) -> None:
        """Counts one session of :meth:`acquire`'s ``slot`` less."""
        for counter, key in (
            (self.per_identity, slot.identity),
            (self.per_resource, slot.resource),
        ):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    # -- masking ---------------------------------------------------------------

    def masker_for(self, identity: Identity, resource: str) -> _native.Masker | None:
        """The masker of every applicable rule's ``mask`` list (``builtin``,
        detector names, ``[[mask_rules]]`` names, ``column:table.column``;
        ``json:`` paths are left to the HTTP relay);
        None when no rule asks for masking. Cached per distinct list."""
        key = tuple(sorted(self.policy.mask_for(identity, resource)))
        if key not in self._maskers:
            if not key:
                self._maskers[key] = None
            else:
                columns = [i.removeprefix("column:") for i in key if i.startswith("column:")]
                # json: masks are the HTTP relay's (limen.jsonmask), not the native masker's
                detectors = [i for i in key if not i.startswith(("column:", "json:"))]
                self._maskers[key] = native_masker(detectors, self.config.mask_rules, columns)
        return self._maskers[key]

    def mask_statement(self, sql: bytes, masker: InputMasker | None = None) -> str:
        """Statement text as approvers see it: secret positions of the parse
        tree and every built-in detector (and ``masker``'s, the session's)
        masked, even when the session records raw (see :mod:`limen.inmask`)."""
        return (masker or self.input_maskers.builtin).mask_text(sql)
