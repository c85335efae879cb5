"""TEMPORARY pass-through (until contracts A/B land)."""

from __future__ import annotations

import trio

from limen.gateway.mysql.upstream import Upstream
from limen.gateway.session import RECEIVE_SIZE, Session

__all__ = ["CommandRelay"]


class CommandRelay:
    def __init__(self, session: Session, upstream: Upstream) -> None:
        self.session = session
        self.upstream = upstream

    async def run(self) -> None:
        async def pipe(src: trio.abc.Stream, dst: trio.abc.Stream, scope: trio.CancelScope) -> None:
            while data := await src.receive_some(RECEIVE_SIZE):
                await dst.send_all(data)
            scope.cancel()

        async with trio.open_nursery() as n:
            n.start_soon(pipe, self.session.client, self.upstream.stream, n.cancel_scope)
            n.start_soon(pipe, self.upstream.stream, self.session.client, n.cancel_scope)
