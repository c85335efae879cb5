"""Revocations in force on a gateway: which credentials a new session may
not use, and the poller that ends the live sessions a new revocation
covers, on every node (each polls the shared state store).

``limen identity revoke`` writes a :class:`~limen.store.Revocation` to the
state store; each gateway's :class:`Revoker` reads the revocations in
force every ``interval`` (1 s), hands them to its listeners' services (a
new session whose identity one covers is refused ``28P01``), and ends the
live sessions it covers with ``28P01``. A revocation is in force until its
``expires_at``: for tokens, the revocation time plus the longest token
lifetime limen accepts (and its leeway), after which every token it covers
has expired anyway; static keys stay revoked until the revocation is
lifted (or the key leaves the config).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import trio

from limen.gateway.server import Listener
from limen.store import Revocation, Store

__all__ = ["Revoker"]


class Revoker:
    """Keeps one gateway's listeners in step with the store's revocations."""

    def __init__(
        self,
        store: Store,
        listeners: Sequence[Listener],
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        log: Callable[..., None] | None = None,
    ) -> None:
        self.store = store
        self.listeners = list(listeners)
        self.interval = interval
        self.clock = clock
        self.log: Callable[..., None] = log if log is not None else (lambda *_a, **_k: None)
        self.failures = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.poll()
        task_status.started()
        while True:
            await trio.sleep(self.interval)
            await self.poll()

    async def poll(self) -> None:
        """Reads the revocations in force once and applies them. A store
        that does not answer keeps the last list (logged once per outage)."""
        now = self.clock()
        try:
            revs = await trio.to_thread.run_sync(lambda: self.store.revocations(now=now))
        except Exception as exc:
            if self.failures == 0:
                self.log("revocations_unavailable", error=type(exc).__name__)
            self.failures += 1
            return
        self.failures = 0
        self.apply(tuple(revs))

    def apply(self, revs: tuple[Revocation, ...]) -> int:
        """Hands ``revs`` to every listener and ends the sessions they
        cover; returns how many it ended."""
        ended = 0
        for listener in self.listeners:
            listener.services.revocations = revs
            for session in list(listener.sessions):
                identity = session.identity
                if identity is None or session.end is not None:
                    continue
                rev = listener.services.revoked(identity)
                if rev is None:
                    continue
                self.log("session_revoked", session=session.session_id, revocation=rev.id)
                session.kill(
                    "28P01", f"the credential was revoked ({rev.id}); the session is closed"
                )
                ended += 1
        return ended
