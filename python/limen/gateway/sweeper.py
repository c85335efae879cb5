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
(logged once per outage). A node whose last heartbeat written gets
``fence_after`` old (two heartbeats before the others may sweep it) fences
itself (``on_fence``: :mod:`limen.gateway.fence`), so that it is never
swept while its sessions live on; the first heartbeat that gets through
again lifts the fence (``on_recover``). Each successful heartbeat also
writes the session ends the store missed (``backlog``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import trio

from limen.recording.index import IndexBacklog
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
        fence_after: float | None = None,
        on_fence: Callable[[float], object] | None = None,
        on_recover: Callable[[], object] | None = None,
        backlog: IndexBacklog | None = None,
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
        self.fence_after = fence_after
        self.on_fence = on_fence
        self.on_recover = on_recover
        self.backlog = backlog
        self.last_ok: float | None = None
        """The time the last successful heartbeat wrote (:meth:`run`'s
        start, at first)."""
        self.fenced = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.last_ok is None:
            self.last_ok = self.clock()
        async with trio.open_nursery() as nursery:
            # Apart from the beats: a heartbeat that hangs (the first one
            # too) must not hold the fence up.
            nursery.start_soon(self.watch)
            await self.beat()
            task_status.started()
            while True:
                await trio.sleep(self.heartbeat)
                await self.beat()

    async def watch(self) -> None:
        """Checks the fence every half heartbeat."""
        while True:
            await trio.sleep(self.heartbeat / 2)
            self.check_fence()

    def check_fence(self) -> bool:
        """Fences this node when its last heartbeat written is
        ``fence_after`` old; True when it did now."""
        if self.fenced or self.fence_after is None or self.last_ok is None:
            return False
        silent = self.clock() - self.last_ok
        if silent < self.fence_after:
            return False
        self.fenced = True
        if self.on_fence is not None:
            self.on_fence(silent)
        return True

    async def beat(self) -> list[LostNode]:
        """One heartbeat and one sweep; the nodes this sweep claimed."""
        now = self.clock()

        def work() -> list[LostNode]:
            self.store.node_heartbeat(self.node, now=now)
            if self.backlog is not None:  # ends the store missed
                self.backlog.flush(self.store)
            return self.store.sweep_lost_nodes(now=now, timeout=self.timeout)

        try:
            lost = await trio.to_thread.run_sync(work) if self.in_thread else work()
        except Exception as exc:
            if self.failures == 0:
                self.log("heartbeat_failed", error=type(exc).__name__)
            self.failures += 1
            return []
        self.failures = 0
        self.last_ok = now if self.last_ok is None else max(self.last_ok, now)
        if self.fenced:
            self.fenced = False
            if self.on_recover is not None:
                self.on_recover()
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
