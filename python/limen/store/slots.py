"""Fleet-wide connection limits in the store: one row per open session
(its node, identity and resource), counted under a lock when a session
starts (:mod:`limen.gateway.fleetlimits`)."""

from __future__ import annotations

from typing import Any, Literal

from limen.store.nodes import NodeStore

__all__ = ["SlotStore"]


class SlotStore(NodeStore):
    """Open sessions per identity and per resource, across the fleet."""

    def _slot_lock(self, cur: Any) -> None:
        """Serialise acquisitions between processes (SQLite's BEGIN
        IMMEDIATE already does; PostgreSQL takes an advisory lock)."""

    def slot_acquire(
        self,
        session_id: str,
        *,
        node: str,
        identity: str,
        resource: str,
        identity_limit: int,
        resource_limit: int | None,
        now: float,
    ) -> Literal["identity", "resource"] | None:
        """Counts the session in when its identity and resource are under
        their limits (None), else names the limit it would pass."""
        with self._cursor() as cur:
            self._slot_lock(cur)
            cur.execute(self._q("SELECT count(*) FROM limen_slots WHERE identity = ?"), (identity,))
            if int(cur.fetchone()[0]) >= identity_limit:
                return "identity"
            if resource_limit is not None:
                cur.execute(
                    self._q("SELECT count(*) FROM limen_slots WHERE resource = ?"), (resource,)
                )
                if int(cur.fetchone()[0]) >= resource_limit:
                    return "resource"
            cur.execute(
                self._q(
                    "INSERT INTO limen_slots (session_id, node, identity, resource, acquired_at) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (session_id, node, identity, resource, now),
            )
            return None

    def slot_release(self, session_id: str) -> None:
        with self._cursor() as cur:
            cur.execute(self._q("DELETE FROM limen_slots WHERE session_id = ?"), (session_id,))

    def slot_count(self, *, identity: str | None = None) -> int:
        """Open sessions counted in: of one identity, or of the whole fleet."""
        with self._cursor() as cur:
            if identity is None:
                cur.execute("SELECT count(*) FROM limen_slots")
            else:
                cur.execute(
                    self._q("SELECT count(*) FROM limen_slots WHERE identity = ?"), (identity,)
                )
            return int(cur.fetchone()[0])
