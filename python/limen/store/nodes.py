"""The fleet's nodes in the store: each gateway process heartbeats its row;
any node sweeps a node whose heartbeat stopped (it died: kill -9, a lost
host) by marking that node's open sessions in the session index as ended
``node_lost`` (:mod:`limen.gateway.sweeper`)."""

from __future__ import annotations

from dataclasses import dataclass

from limen.store.revocations import RevocationStore

__all__ = ["LOST", "LostNode", "NodeStore"]

#: The ``end_reason`` of a session whose node died under it.
LOST = "node_lost"


@dataclass(frozen=True)
class LostNode:
    """A node one sweep claimed: its name, when it was last seen, and how
    many of its open sessions the sweep ended."""

    node: str
    seen_at: float
    sessions: int


class NodeStore(RevocationStore):
    """Heartbeats and the sweep (revocations, the session index beneath)."""

    def node_heartbeat(self, node: str, *, now: float) -> None:
        """Says ``node`` is alive at ``now`` (inserts its row the first time)."""
        with self._cursor() as cur:
            cur.execute(self._q("UPDATE limen_nodes SET seen_at = ? WHERE node = ?"), (now, node))
            if cur.rowcount == 0:
                cur.execute(
                    self._q("INSERT INTO limen_nodes (node, started_at, seen_at) VALUES (?, ?, ?)"),
                    (node, now, now),
                )

    def node_stopped(self, node: str) -> None:
        """A node that stops cleanly (its sessions ended) leaves the table."""
        with self._cursor() as cur:
            cur.execute(self._q("DELETE FROM limen_nodes WHERE node = ?"), (node,))

    def nodes(self) -> dict[str, float]:
        """Every node with a row, and when it was last seen."""
        with self._cursor() as cur:
            cur.execute("SELECT node, seen_at FROM limen_nodes ORDER BY node")
            return {str(n): float(s) for n, s in cur.fetchall()}

    def sweep_lost_nodes(self, *, now: float, timeout: float) -> list[LostNode]:
        """Claims every node not seen for ``timeout`` seconds and ends its
        open sessions in the index (``ended_at = now``, ``end_reason =
        node_lost``). One transaction per node: a node is claimed by
        deleting its row only while it is still stale, so when several
        nodes sweep at once exactly one claims it, and a session is marked
        once."""
        cutoff = now - timeout
        with self._cursor() as cur:
            cur.execute(
                self._q("SELECT node, seen_at FROM limen_nodes WHERE seen_at < ?"), (cutoff,)
            )
            stale = [(str(n), float(s)) for n, s in cur.fetchall()]
        lost: list[LostNode] = []
        for node, seen in stale:
            with self._cursor() as cur:
                cur.execute(
                    self._q("DELETE FROM limen_nodes WHERE node = ? AND seen_at < ?"),
                    (node, cutoff),
                )
                if cur.rowcount != 1:
                    continue  # it came back, or another node claimed it
                cur.execute(
                    self._q(
                        "UPDATE limen_sessions SET ended_at = ?, end_reason = ? "
                        "WHERE node = ? AND ended_at IS NULL"
                    ),
                    (now, LOST, node),
                )
                ended = max(cur.rowcount, 0)
                # Its sessions no longer count against fleet-wide limits.
                cur.execute(self._q("DELETE FROM limen_slots WHERE node = ?"), (node,))
                lost.append(LostNode(node, seen, ended))
        return lost
