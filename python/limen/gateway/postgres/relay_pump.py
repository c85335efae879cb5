"""The native pump: who moves a PostgreSQL session's bytes after the handshake.

With ``[gateway] relay = "native"`` (the default), a session whose client
and upstream connections are plain TCP or TLS in rustls
(:class:`~limen.gateway.tlsnative.NativeTlsStream`) hands them to
``_native.PgPump`` once the handshake is done (the TLS handshakes, the
token, the upstream login and the column catalog all stay in Python). One
pump thread per process (an epoll loop over every pumped session, like a
pgbouncer process) reads both sockets (decrypting and encrypting TLS
there, the session's keys in its rustls connection, lent to the pump
until it ends), frames the client's messages, masks the upstream's rows
(the session's own ``PgServerRelay``, shared) and writes every record —
without the GIL. Other streams (TLS in Python's ``ssl``, tests' memory
streams) stay on the Trio relay
(:mod:`limen.gateway.postgres.relay_trio`), as does everything with
``relay = "trio"``.

Python keeps every decision. Each Query, Parse and FunctionCall whose
decision is not in the pump's per-session cache comes back here: the
session's :class:`~limen.gateway.postgres.judge.PgJudge` decides and
records it, exactly as on the Trio relay, and the frozen
:class:`~limen.gateway.judging.Verdict` says what goes upstream (the
message, or the denial marker with discard-until-Sync) and whether the
pump may cache the decision (its event, replayed into the recording on
each hit) and under the statement's shape. A decision that is ready at
once is made on the pump's thread (:meth:`PumpRelay.fast`, with the GIL: no
hand-off between threads per statement; judging touches only the
session's judge, the native relay and log, which lock, and the
thread-safe policy caches). A hold comes back as an event to the Trio
task, which waits for humans (:class:`~limen.gateway.postgres.holds.PgHolds`);
the pump's client direction stays paused (the upstream direction keeps
flowing) however long it takes. Which decisions may be cached is the
judge's business (:mod:`limen.gateway.judging`); why a shape key is sound:
docs/decision-cache.md.

While a decision waits, ``pump.send_client(data)`` sends the client whole
messages (a NoticeResponse naming the approval) at a message boundary; a
client that hangs up meanwhile ends the pump ("client_closed"), which
cancels the waiting task with the rest of the session.

Python also keeps the session's life: the idle timeout (from the pump's
last activity), token expiry and drain (which stop the pump: it flushes
what the client is owed, whole messages, and the session then sends its
FATAL on its own socket object, which stays open), and the end reasons the
pump reports (client or upstream closed, protocol errors, a record that
could not be written).

Recording: when the session's recorder is a native session log
(:class:`~limen.recording.recorder.NativeRecorder`), the pump appends to it
directly; other recorders (tests' ``MemoryRecorder``) get the pump's records
through a queue drained here, in order with the records Python writes.
"""

from __future__ import annotations

from typing import assert_never

import trio

from limen import _native
from limen.config import Config
from limen.gateway.judging import Verdict
from limen.gateway.postgres.ending import end_for
from limen.gateway.postgres.holds import PgHolds
from limen.gateway.postgres.judge import PgJudge, native_verdict
from limen.gateway.session import Session
from limen.gateway.tlsnative import NativeTlsStream
from limen.recording import U2C, NativeRecorder

__all__ = ["PumpRelay", "pump_eligible"]


def _pumpable(stream: trio.abc.Stream) -> bool:
    return type(stream) is trio.SocketStream or (
        type(stream) is NativeTlsStream and type(stream.transport) is trio.SocketStream
    )


def pump_eligible(config: Config, client: trio.abc.Stream, upstream: trio.abc.Stream) -> bool:
    """True when a session's bytes can move through the native pump."""
    return config.gateway.relay == "native" and _pumpable(client) and _pumpable(upstream)


def _socket_and_tls(
    stream: trio.abc.Stream,
) -> tuple[trio.socket.SocketType, _native.TlsSession | None]:
    if isinstance(stream, NativeTlsStream):
        return stream.socket, stream.session
    assert isinstance(stream, trio.SocketStream)
    return stream.socket, None


class PumpRelay:
    """One pumped session's Python side."""

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
        assert session.recorder is not None
        client_socket, client_tls = _socket_and_tls(session.client)
        upstream_socket, upstream_tls = _socket_and_tls(upstream)
        self.session = session
        self.recorder = session.recorder
        self.native = (
            self.recorder.native_writer() if isinstance(self.recorder, NativeRecorder) else None
        )
        self.queued = self.native is None
        self.judge = judge
        self.holds = holds
        self.results_masked = results_masked
        self.held: Verdict | None = None
        self.ended = False
        self.reason: _native.EndReason | None = None
        self.detail = ""
        self.status = "I"
        self.pump = _native.PgPump(
            client_socket,
            upstream_socket,
            decoder,
            relay,
            self.native,
            judge=self.fast,
            input_masker=None if session.input_masker is None else session.input_masker.content,
            results_masked=results_masked,
            write_timeout=session.config.gateway.handshake_timeout.seconds,
            client_tls=client_tls,
            upstream_tls=upstream_tls,
        )
        self.fd = self.pump.fileno()
        session.cache_clearers.append(self.pump.clear_cache)  # a SIGHUP reload empties it

    def drain_records(self) -> None:
        for kind, payload, masked in self.pump.take_records():
            self.recorder.append(kind, payload, masked=masked)

    def on_end(self, end: _native.PumpEnd) -> None:
        self.ended = True
        self.reason, self.detail = end.reason, end.detail

    async def to_client(self, data: bytes) -> None:
        """Whole messages for the client, sent by the pump at a message
        boundary (a hold's notice)."""
        self.recorder.append(U2C, data, masked=self.results_masked)
        self.pump.send_client(data)

    async def events(self, nursery: trio.Nursery) -> None:
        """Handles the pump's events until it ends."""
        while not self.ended:
            await trio.lowlevel.wait_readable(self.fd)
            self.drain_records()
            for ev in self.pump.events():
                match ev:
                    case _native.JudgeRequest() if self.session.end is None:
                        self.judge_event(ev, nursery)
                    case _native.JudgeRequest():
                        pass  # the session is ending (killed: a reload, a revocation)
                    case _native.PumpEnd():
                        self.on_end(ev)
                        self.status = self.pump.status
                    case _native.PumpRecords():
                        pass  # drained below
                    case _:
                        assert_never(ev)
            self.drain_records()

    def fast(self, request: _native.JudgeRequest) -> _native.Verdict | None:
        """The fast path, called on the pump's thread (with the GIL): the
        decision when it is ready at once, else None (the request then
        comes as an event and may wait, e.g. for an approval)."""
        if self.judge.pending is not None:
            return None  # a reload's column masks first: the Trio side waits
        if self.session.end is not None:
            return None  # killed (a reload, a revocation): nothing more runs
        if self.queued:
            self.drain_records()  # records stay in order (queued recorders)
        verdict = self.judge.request(request)
        if verdict.held:
            # Decided and recorded; the wait happens on the Trio side when
            # the same statement comes back as a judge event.
            self.held = verdict
            return None
        return native_verdict(verdict)

    def judge_event(self, request: _native.JudgeRequest, nursery: trio.Nursery) -> None:
        """The slow path: a judge request as an event, on the Trio thread."""
        held = self.held
        self.held = None
        if held is None:
            pending = self.judge.pending
            if pending is not None:  # a reload's column masks (postgres.relive)
                nursery.start_soon(self._after_remask, pending, request, nursery)
                return
            judged = self.judge.request(request)
            if not judged.held:
                self.pump.resume(request.id, native_verdict(judged))
                return
            held = judged
        # Held for approval: the pump keeps this session's client direction
        # paused while humans decide; events keep flowing.
        nursery.start_soon(self._finish_hold, request, held)

    async def _after_remask(
        self, pending: trio.Event, request: _native.JudgeRequest, nursery: trio.Nursery
    ) -> None:
        await pending.wait()
        self.judge_event(request, nursery)

    async def _finish_hold(self, request: _native.JudgeRequest, verdict: Verdict) -> None:
        extended = request.kind == _native.JudgeKind.PARSE
        done = await self.holds.hold(
            verdict, request.sql, request.raw, extended=extended, send=self.to_client, watch=None
        )
        self.session.touch()
        if done is not None:  # None: the client left (the pump ends by itself)
            self.pump.resume(request.id, native_verdict(done))

    async def stop(self) -> None:
        """Stops the pump (if it still runs) and waits for its end."""
        if not self.ended:
            self.pump.stop()
            wait = self.session.config.gateway.handshake_timeout.seconds + 2
            with trio.move_on_after(wait):
                while not self.ended:
                    await trio.lowlevel.wait_readable(self.fd)
                    self.drain_records()
                    for ev in self.pump.events():
                        if isinstance(ev, _native.PumpEnd):
                            self.on_end(ev)
        self.drain_records()
        self.status = self.pump.status

    async def run(self) -> None:
        """Relays the session through the native pump until it ends; ends
        the session (or raises ``trio.BrokenResourceError``) as the Trio
        relay would for the same ending."""
        session, pump = self.session, self.pump
        pump.start()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    session.idle_watch,
                    nursery.cancel_scope,
                    lambda: pump.idle,
                    lambda: self.holds.holds.waiting,
                )
                await self.events(nursery)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self.stop()
            hits = pump.cache_hits
            session.statements += hits
            if isinstance(self.recorder, NativeRecorder):
                self.recorder.count_statements(hits)
            received, sent = pump.bytes
            session.services.relay_ended(
                session.protocol, client_bytes=received, upstream_bytes=sent, cache_hits=hits
            )
            session.services.log(
                "pump_end",
                session=session.session_id,
                reason=self.reason.label if self.reason is not None else "cancelled",
                judged=pump.judged,
                cache_hits=hits,
                client_bytes=received,
                upstream_bytes=sent,
            )
        reason = self.reason
        if reason in (_native.EndReason.CLIENT_IO, _native.EndReason.CLIENT_STALLED):
            assert reason is not None
            raise trio.BrokenResourceError(f"the client connection failed ({reason.label})")
        end = None if reason is None else end_for(reason, self.detail)
        if end is not None:
            session.finish(end)
