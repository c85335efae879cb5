"""Heartbeats and the sweep of lost nodes, on every node of a fleet.

Each ``limen serve`` process is a node, named ``HOST:PID`` (the name its
session-index rows and approval requests carry). Every ``[gateway]
heartbeat`` (2 s) its :class:`Sweeper` writes the node's row in the state
store (:mod:`limen.store.nodes`), then sweeps: a node not seen for
``[gateway] node_timeout`` (15 s) died without stopping (kill -9, a lost
host), so its open sessions are marked ended ``node_lost`` in the session
index (their recordings stay as the node left them: they verify as
truncated, their records intact). Every node sweeps; the store lets
exactly one claim each lost node. A node that stops cleanly removes its
row after its sessions ended. A store that does not answer skips a beat
(logged once per outage); a node cut off from the store for longer than
``node_timeout`` may be swept by the others though its sessions live on;
their ends are then written over ``node_lost`` when they come.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import trio

from limen.store import LostNode, Store

__all__ = ["Sweeper", "node_name"]


def node_name() -> str:
    """This process's node name: ``HOST:PID``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Sweeper:
    """One node's heartbeat and sweep."""

    def __init__(
        self,
        store: Store,
        node: str,
        *,
        heartbeat: float,
        timeout: float,
        clock: Callable[[], float] = time.time,
        log: Callable[..., None] | None = None,
        in_thread: bool = True,
    ) -> None:
        self.store = store
        self.node = node
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.clock = clock
        self.log: Callable[..., None] = log if log is not None else (lambda *_a, **_k: None)
        self.in_thread = in_thread
        """Store calls in a worker thread (False: inline, for tests under a
        MockClock, whose autojump would move time while a thread works)."""
        self.failures = 0
        self.swept: list[LostNode] = []
        """Every node this one claimed."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.beat()
        task_status.started()
        while True:
            await trio.sleep(self.heartbeat)
            await self.beat()

    async def beat(self) -> list[LostNode]:
        """One heartbeat and one sweep; the nodes this sweep claimed."""
        now = self.clock()

        def work() -> list[LostNode]:
            self.store.node_heartbeat(self.node, now=now)
            return self.store.sweep_lost_nodes(now=now, timeout=self.timeout)

        try:
            lost = await trio.to_thread.run_sync(work) if self.in_thread else work()
        except Exception as exc:
            if self.failures == 0:
                self.log("heartbeat_failed", error=type(exc).__name__)
            self.failures += 1
            return []
        self.failures = 0
        for node in lost:
            self.log(
                "node_lost",
                node=node.node,
                sessions=node.sessions,
                silent_for=round(now - node.seen_at, 3),
            )
        self.swept.extend(lost)
        return lost

    async def stopped(self) -> None:
        """The node stops cleanly: its row leaves the store."""
        try:
            if self.in_thread:
                await trio.to_thread.run_sync(self.store.node_stopped, self.node)
            else:
                self.store.node_stopped(self.node)
        except Exception as exc:
            self.log("heartbeat_failed", error=type(exc).__name__)
