"""Connection limits that hold across a fleet.

With a PostgreSQL state store, ``[gateway] max_connections_per_identity``
and a resource's ``max_connections`` count the sessions of every node:
each session, once admitted by its own node's counts
(:meth:`limen.gateway.services.Services.acquire`), is counted into the
store (:mod:`limen.store.slots`, one transaction under a lock), and
refused ``53300`` when the fleet is at the limit; its row goes when it
ends. A store that does not answer refuses the session (fail closed). A
release that fails is retried with the next one; a lost node's rows go
when it is swept (:mod:`limen.gateway.sweeper`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

from limen.config import Resource
from limen.gateway.services import Refused
from limen.identity import Identity
from limen.store import Store

__all__ = ["FleetSlots"]


class FleetSlots:
    """One node's side of the fleet-wide connection counts."""

    def __init__(
        self,
        store: Store,
        node: str,
        *,
        identity_limit: Callable[[], int],
        log: Callable[..., None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.node = node
        self.identity_limit = identity_limit
        """The current ``max_connections_per_identity`` (a reload may change it)."""
        self.log: Callable[..., None] = log if log is not None else (lambda *_a, **_k: None)
        self.clock = clock
        self.unreleased: set[str] = set()
        """Sessions whose release failed; retried with the next release."""

    async def acquire(
        self, session_id: str, identity: Identity, resource: Resource
    ) -> Refused | None:
        """None when the session is counted in, else why it is refused."""
        key = f"{identity.issuer}|{identity.subject}"
        limit = self.identity_limit()

        def work() -> str | None:
            return self.store.slot_acquire(
                session_id,
                node=self.node,
                identity=key,
                resource=resource.name,
                identity_limit=limit,
                resource_limit=resource.max_connections,
                now=self.clock(),
            )

        try:
            over = await trio.to_thread.run_sync(work)
        except Exception as exc:
            self.log("fleet_limits_unavailable", error=type(exc).__name__)
            return Refused(
                "fleet", "the gateway cannot count connections now (state store); retry shortly"
            )
        if over == "identity":
            return Refused(
                "identity",
                f"too many connections for {identity.subject!r} across the fleet (limit {limit})",
            )
        if over == "resource":
            return Refused(
                "resource",
                f"too many connections to {resource.name!r} across the fleet "
                f"(limit {resource.max_connections})",
            )
        return None

    async def release(self, session_id: str) -> None:
        pending = [session_id, *sorted(self.unreleased)]

        def work() -> None:
            for sid in pending:
                self.store.slot_release(sid)
                self.unreleased.discard(sid)

        try:
            await trio.to_thread.run_sync(work)
        except Exception as exc:
            self.unreleased.update(pending)
            self.log("fleet_limits_unavailable", error=type(exc).__name__)
