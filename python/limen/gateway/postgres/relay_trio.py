"""The Trio relay of a PostgreSQL session (``relay = "trio"``, and every
session with TLS on either side).

A thin socket loop around the session's client core
(``_native.PgClientCore``: ``limen_pump::PumpCore``, the client-side state
machine the native pump drives too; h11's way, one state machine, two
drivers). Three tasks in a nursery on the Trio thread:
:meth:`TrioRelay._client_to_upstream` hands client bytes to the core and
sends what it returns upstream, judging each message the core asks about
(:meth:`~limen.gateway.postgres.judge.PgJudge.request`) and resuming it
with the verdict; :meth:`TrioRelay._upstream_to_client` feeds upstream
bytes to the core (one native call per chunk: frame, mask rows, swap marked
errors, record) and sends what it returns; the session's idle watch ends an
idle session. Python holds the bytes only as opaque buffers.

While a statement waits for approval, :meth:`TrioRelay.watch_client` reads
what the client sends meanwhile into the core (kept, up to
``max_message_size``, past which the session ends with a protocol error,
and handled after the decision); EOF withdraws the request. The relay ends
for the same reasons as the pump (:func:`~limen.gateway.postgres.ending.end_for`).
"""

from __future__ import annotations

import trio

from limen import _native
from limen.gateway.postgres.ending import end_for
from limen.gateway.postgres.holds import PgHolds
from limen.gateway.postgres.judge import PgJudge, native_verdict
from limen.gateway.session import RECEIVE_SIZE, Session
from limen.recording import U2C, NativeRecorder

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
        self.judge = judge
        self.holds = holds
        self.results_masked = results_masked  # the relay masks what the client gets
        self.status = "I"
        self.write_grace = session.config.gateway.handshake_timeout.seconds
        input_masker = session.input_masker
        recorder = session.recorder
        # A native log is appended to by the core itself, without a copy
        # through Python (as the pump does); other recorders get the core's
        # records through take_records.
        self.core = _native.PgClientCore(
            decoder,
            relay,
            recorder.native_writer() if isinstance(recorder, NativeRecorder) else None,
            input_masker=None if input_masker is None else input_masker.content,
            results_masked=results_masked,
            max_paused=int(session.config.gateway.max_message_size),
        )
        session.cache_clearers.append(self.core.clear_cache)  # a SIGHUP reload empties it
        # The one-writer guard for client sends (the upstream's bytes and a
        # hold's notice).
        self._client_busy = False
        self._client_free: trio.Event | None = None

    async def run(self) -> None:
        s = self.session
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._client_to_upstream, nursery.cancel_scope)
                nursery.start_soon(self._upstream_to_client, nursery.cancel_scope)
                nursery.start_soon(
                    s.idle_watch,
                    nursery.cancel_scope,
                    lambda: trio.current_time() - s.last_activity,
                    lambda: self.holds.holds.waiting,
                )
        finally:
            core = self.core
            s.statements += core.cache_hits
            if isinstance(s.recorder, NativeRecorder):
                s.recorder.count_statements(core.cache_hits)
            received, sent = core.bytes
            s.services.relay_ended(
                s.protocol, client_bytes=received, upstream_bytes=sent, cache_hits=core.cache_hits
            )
            s.services.log(
                "relay_end",
                session=s.session_id,
                relay="trio",
                judged=core.judged,
                cache_hits=core.cache_hits,
                client_bytes=received,
                upstream_bytes=sent,
            )

    def _ended(self, reason: _native.EndReason, detail: str, scope: trio.CancelScope) -> None:
        """Ends the relay as the pump would end for the same reason."""
        end = end_for(reason, detail)
        if end is not None:
            self.session.finish(end)  # the first reason wins
        scope.cancel()

    def _drain_core(self) -> None:
        """Moves the core's records (cache hits, bytes for the client) into
        the session's recorder, in order with the ones Python writes."""
        recorder = self.session.recorder
        for kind, payload, masked in self.core.take_records():
            if recorder is not None:
                recorder.append(kind, payload, masked=masked)

    async def watch_client(self) -> None:
        """While a statement waits: hands what the client sends to the core
        (buffered, capped); returns when it hangs up or breaks the protocol."""
        while True:
            data = await self.client.receive_some(RECEIVE_SIZE)
            if not data:
                return
            try:
                self.core.client_data(data)
            except _native.PgProtocolError as exc:
                end = end_for(_native.EndReason.CLIENT_PROTOCOL, str(exc))
                assert end is not None
                self.session.finish(end)
                return

    async def _client_to_upstream(self, scope: trio.CancelScope) -> None:
        data: bytes | bytearray = b""  # first, what the handshake's decoder still holds
        while True:
            try:
                step = self.core.client_data(data)
                out = bytearray()
                while True:
                    self._drain_core()
                    out += step.upstream
                    if step.terminate:
                        if out:
                            await self.upstream.send_all(out)
                        return self._ended(
                            _native.EndReason.TERMINATE, "the client terminated", scope
                        )
                    if step.judge is None:
                        break
                    # The client direction waits for the decision; what the
                    # client sends meanwhile waits in the core.
                    next_step = await self._decide(step.judge, out)
                    if next_step is None:  # the client left while waiting
                        return self._ended(
                            _native.EndReason.CLIENT_CLOSED, "the client hung up", scope
                        )
                    step = next_step
                if out:
                    await self.upstream.send_all(out)
            except _native.PgProtocolError as exc:
                return self._ended(_native.EndReason.CLIENT_PROTOCOL, str(exc), scope)
            except _native.RecordError as exc:
                return self._ended(_native.EndReason.RECORD, str(exc), scope)
            data = await self.client.receive_some(RECEIVE_SIZE)
            if not data:
                return self._ended(
                    _native.EndReason.CLIENT_CLOSED, "the client closed the connection", scope
                )
            self.session.touch()

    async def _decide(
        self, request: _native.JudgeRequest, out: bytearray
    ) -> _native.ClientStep | None:
        """Judges one request of the core (waiting for humans on a hold,
        after sending ``out``, what came before it) and resumes the core
        with the verdict; None when the client went away meanwhile."""
        pending = self.judge.pending
        if pending is not None:  # a reload's column masks first (postgres.relive)
            if out:
                await self.upstream.send_all(bytes(out))
                out.clear()
            await pending.wait()
        verdict = self.judge.request(request)
        if verdict.held:
            if out:
                await self.upstream.send_all(bytes(out))
                out.clear()
            held = await self.holds.hold(
                verdict,
                request.sql,
                request.raw,
                extended=request.kind == _native.JudgeKind.PARSE,
                send=self.to_client,
                watch=self.watch_client,
            )
            self.session.touch()
            if held is None:
                return None
            verdict = held
        return self.core.resume(request.id, native_verdict(verdict))

    async def to_client(self, data: bytes, *, recorded: bool = False) -> None:
        """Send whole messages to the client; one sender at a time (the
        upstream direction and a hold's notice), in order. ``recorded``:
        the core has recorded them already."""
        while self._client_busy:
            if self._client_free is None:
                self._client_free = trio.Event()
            await self._client_free.wait()
        self._client_busy = True
        try:
            recorder = self.session.recorder
            if recorder is not None and not recorded:
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
                return self._ended(
                    _native.EndReason.UPSTREAM_CLOSED,
                    "the upstream server closed the connection",
                    scope,
                )
            try:
                out = self.core.upstream_data(data)
            except _native.PgProtocolError as exc:
                return self._ended(_native.EndReason.UPSTREAM_PROTOCOL, str(exc), scope)
            except _native.RecordError as exc:
                return self._ended(_native.EndReason.RECORD, str(exc), scope)
            self.status = self.core.status
            self._drain_core()
            if out:
                await self.to_client(out, recorded=True)
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
