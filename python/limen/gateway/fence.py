"""A node cut off from the state store fences itself before the others
sweep it.

The others sweep a node whose heartbeat is ``[gateway] node_timeout`` old
(:mod:`limen.gateway.sweeper`): they mark its open sessions ended
``node_lost``. A node that is alive but cannot reach the store (a network
partition, a store fail-over) would be swept while its sessions go on, and
it would go on serving them without revocations, approvals or fleet-wide
counts. So a node whose last heartbeat written is ``node_timeout - 2 x
heartbeat`` old (the margin covers a heartbeat in flight and clock skew
between nodes; ``node_timeout`` is at least 4 heartbeats, so one slow heartbeat
fences no node) fences itself
(:class:`Fence`): it refuses new sessions (``57P03``: connect again, the
load balancer sends the client to another node; ``/readyz`` already says
503 while the store does not answer) and ends its live sessions
(``57P01``), each log recording why (``{"event": "fenced", "reason":
"state_store_lost"}``) and closing signed. So when the sweep comes, what it
says is true: the node's sessions ended abnormally. Their ends could not
reach the session index; they are written when the store answers again
(:class:`~limen.recording.index.IndexBacklog`), over the sweep's
``node_lost``. Then the node heartbeats again and lifts the fence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from limen.gateway.server import Listener

__all__ = ["ENDED", "REFUSED", "Fence", "fence_after"]

#: What a fenced node's live sessions end with.
ENDED = ("57P01", "the gateway lost its state store; reconnect (another node will serve you)")
#: What a fenced node answers a new session.
REFUSED = ("57P03", "the gateway cannot reach its state store; connect again")


def fence_after(heartbeat: float, node_timeout: float) -> float:
    """How old this node's last heartbeat may get before it fences itself:
    two heartbeats before the others may sweep it."""
    return node_timeout - 2 * heartbeat


class Fence:
    """Fences (and un-fences) one node's listeners."""

    def __init__(self, listeners: Sequence[Listener], *, log: Callable[..., None]) -> None:
        self.listeners = list(listeners)
        self.log = log
        self.fenced = False

    def close(self, silent_for: float) -> int:
        """Refuses new sessions and ends the live ones; how many it ended."""
        self.fenced = True
        ended = 0
        for listener in self.listeners:
            listener.services.fenced = REFUSED
            for session in list(listener.sessions):
                if session.end is not None:
                    continue
                session.event(
                    {
                        "event": "fenced",
                        "reason": "state_store_lost",
                        "silent_for": round(silent_for, 3),
                    }
                )
                session.kill(*ENDED)
                ended += 1
        self.log("node_fenced", sessions=ended, silent_for=round(silent_for, 3))
        return ended

    def open(self) -> None:
        """The store answers again: new sessions are welcome."""
        self.fenced = False
        for listener in self.listeners:
            listener.services.fenced = None
        self.log("node_unfenced")
