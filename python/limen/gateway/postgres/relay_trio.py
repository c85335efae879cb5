"""The Trio relay of a PostgreSQL session (``relay = "trio"``, and every
session with TLS on either side).

Three tasks in a nursery on the Trio thread: :meth:`TrioRelay._client_to_upstream`
reads client bytes, frames them with the session's ``PgClientDecoder``,
judges each Query/Parse (:class:`~limen.gateway.postgres.judge.PgJudge`),
and writes upstream; :meth:`TrioRelay._upstream_to_client` feeds upstream
bytes to ``PgServerRelay.feed`` (one native call per chunk: frame, mask rows,
swap marked errors) and sends what it returns; the session's idle watch
ends an idle session. Python holds the bytes only as opaque buffers.

While a statement waits for approval, :meth:`TrioRelay.watch_client` reads
what the client sends meanwhile (kept, up to ``max_message_size``, and
processed after the decision); EOF withdraws the request.
"""

from __future__ import annotations

import trio

from limen import _native
from limen.gateway.postgres.holds import PgHolds
from limen.gateway.postgres.judge import PgJudge
from limen.gateway.session import RECEIVE_SIZE, Session, SessionEnd
from limen.recording import U2C

__all__ = ["TrioRelay"]


class TrioRelay:
    """Moves one session's bytes on the Trio thread."""

    def __init__(
        self,
        session: Session,
        upstream: trio.abc.Stream,
        decoder: _native.PgClientDecoder,
        relay: _native.PgServerRelay,
        judge: PgJudge,
        holds: PgHolds,
        *,
        results_masked: bool,
    ) -> None:
        self.session = session
        self.client = session.client
        self.upstream = upstream
        self.decoder = decoder
        self.relay = relay
        self.judge = judge
        self.holds = holds
        self.results_masked = results_masked  # the relay masks what the client gets
        self.status = "I"
        self.discarding = False
        self.max_message_size = int(session.config.gateway.max_message_size)
        self.write_grace = session.config.gateway.handshake_timeout.seconds
        # Holds: client bytes read while waiting (processed after the
        # decision), and the one-writer guard for client sends (the notice
        # and the upstream's bytes).
        self._stash: list[bytes | bytearray] = []
        self._client_busy = False
        self._client_free: trio.Event | None = None

    async def run(self) -> None:
        s = self.session
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._client_to_upstream, nursery.cancel_scope)
            nursery.start_soon(self._upstream_to_client, nursery.cancel_scope)
            nursery.start_soon(
                s.idle_watch,
                nursery.cancel_scope,
                lambda: trio.current_time() - s.last_activity,
                lambda: self.holds.holds.waiting,
            )

    async def watch_client(self) -> None:
        """While a statement waits: keeps what the client sends; returns
        when it hangs up."""
        stashed = 0
        while stashed < self.max_message_size:
            data = await self.client.receive_some(RECEIVE_SIZE)
            if not data:
                return
            self._stash.append(data)
            stashed += len(data)
        await trio.sleep_forever()

    async def _client_to_upstream(self, scope: trio.CancelScope) -> None:
        while True:
            data: bytes | bytearray
            if self._stash:
                data = b"".join(self._stash)
                self._stash.clear()
            else:
                data = await self.client.receive_some(RECEIVE_SIZE)
            if not data:
                scope.cancel()
                return
            self.session.touch()
            try:
                msgs = self.decoder.feed(data)
            except _native.PgProtocolError as exc:
                self.session.finish(
                    SessionEnd("08P01", f"protocol error: {exc}; closing this connection")
                )
                scope.cancel()
                return
            out = bytearray()
            terminate = False
            described: bytes | None = None  # portal the client just described
            for kind, raw, a, b in msgs:
                if self.discarding and kind != "terminate":
                    if kind == "sync":
                        self.discarding = False
                        out += raw
                        self.relay.push_sync()
                    elif kind == "flush":
                        out += raw
                    continue
                if kind == "query" or kind == "parse":
                    if kind == "query":
                        assert isinstance(a, bytes)
                        sql, extended, name = a, False, ""
                    else:
                        assert isinstance(a, bytes)
                        assert isinstance(b, bytes)
                        sql, extended, name = b, True, a.decode("utf-8", "replace")
                    verdict = self.judge.statement(sql, raw, extended=extended, name=name)
                    if verdict.held:
                        # Held: what came before it runs now; the rest waits.
                        if out:
                            await self.upstream.send_all(out)
                            out = bytearray()
                        held = await self.holds.hold(
                            verdict,
                            sql,
                            raw,
                            extended=extended,
                            send=self.to_client,
                            watch=self.watch_client,
                        )
                        self.session.touch()
                        if held is None:  # the client left while waiting
                            scope.cancel()
                            return
                        verdict = held
                    assert isinstance(verdict.send, bytes)
                    out += verdict.send
                    if verdict.discard:
                        self.discarding = True
                    if kind == "query":
                        self.relay.push_sync()  # what is registered next: the next cycle
                elif kind == "function_call":
                    verdict = self.judge.function_call()
                    assert isinstance(verdict.send, bytes)
                    out += verdict.send
                    self.relay.push_sync()
                elif kind == "terminate":
                    terminate = True
                    break
                elif kind == "describe":
                    assert isinstance(a, bytes)
                    described = a[1:] if a[:1] == b"P" else None
                    self.relay.push_describe(False, described)
                    out += raw
                    continue
                elif kind == "bind":
                    assert isinstance(a, bytes)
                    assert isinstance(b, bytes)
                    self.relay.note_bind(a, b)  # the portal takes the statement's plan
                    out += raw
                elif kind == "execute":
                    assert isinstance(a, bytes)
                    if described != a:
                        # Learn this portal's columns and formats: the relay
                        # masks by them and swallows the answer.
                        out += _native.pg_describe("P", a)
                        self.relay.push_describe(True, a)
                    out += raw
                else:
                    out += raw
                    if kind == "sync":
                        self.relay.push_sync()
                described = None
            if out:
                await self.upstream.send_all(out)
            if terminate:
                scope.cancel()
                return

    async def to_client(self, data: bytes) -> None:
        """Send whole messages to the client; one sender at a time (the
        upstream direction and a hold's notice), in order."""
        while self._client_busy:
            if self._client_free is None:
                self._client_free = trio.Event()
            await self._client_free.wait()
        self._client_busy = True
        try:
            recorder = self.session.recorder
            if recorder is not None:
                recorder.append(U2C, data, masked=self.results_masked)
            await self._send_whole(data)
        finally:
            self._client_busy = False
            if self._client_free is not None:
                self._client_free.set()
                self._client_free = None

    async def _upstream_to_client(self, scope: trio.CancelScope) -> None:
        while True:
            data = await self.upstream.receive_some(RECEIVE_SIZE)
            if not data:
                self.session.finish(
                    SessionEnd("08006", "the upstream server closed the connection")
                )
                scope.cancel()
                return
            out, events = self.relay.feed(data)
            for ev in events:
                if ev[0] == "ready_for_query":
                    self.status = str(ev[1])
            if out:
                await self.to_client(out)
            self.session.touch()

    async def _send_whole(self, data: bytes) -> None:
        """Send without being cut by a cancel (session end, expiry): the
        client then gets whole messages before any FATAL. A client that
        reads nothing for the handshake timeout is dropped."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self.write_grace) as grace:
                await self.client.send_all(data)
        if grace.cancelled_caught:
            raise trio.BrokenResourceError("the client stopped reading")
