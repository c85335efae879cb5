"""The native pump: who moves a PostgreSQL session's bytes after the handshake.

With ``[gateway] relay = "native"`` (the default), a session whose client
and upstream connections are both plain TCP hands them to
``_native.PgPump`` once the handshake is done (TLS, the token, the upstream
login and the column catalog all stay in Python). One pump thread per
process (an epoll loop over every pumped session, like a pgbouncer
process) reads both sockets, frames the client's messages, masks the
upstream's rows (the session's own ``PgServerRelay``, shared) and writes
every record — without the GIL. Sessions with TLS on either side stay on
the Trio relay (:mod:`limen.gateway.postgres.relay_trio`), as does
everything with ``relay = "trio"``.

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

import trio

from limen import _native
from limen.config import Config
from limen.gateway.judging import Verdict
from limen.gateway.postgres.holds import PgHolds
from limen.gateway.postgres.judge import PgJudge
from limen.gateway.session import Session, SessionEnd
from limen.recording import C2U, EVENT, U2C, NativeRecorder

__all__ = ["PumpRelay", "pump_eligible"]

#: What the pump's judge callback returns: (bytes for the upstream, discard
#: until Sync, the decision event to cache, whether it holds for every
#: simple query of the same shape).
NativeVerdict = tuple[bytes, bool, bytes | None, bool]


def pump_eligible(config: Config, client: trio.abc.Stream, upstream: trio.abc.Stream) -> bool:
    """True when a session's bytes can move through the native pump."""
    return (
        config.gateway.relay == "native"
        and type(client) is trio.SocketStream
        and type(upstream) is trio.SocketStream
    )


def _native_verdict(verdict: Verdict) -> NativeVerdict:
    assert isinstance(verdict.send, bytes)
    event = verdict.event if verdict.cache else None
    return verdict.send, verdict.discard, event, verdict.cache and verdict.shape


class PumpRelay:
    """One pumped session's Python side."""

    def __init__(
        self,
        session: Session,
        upstream: trio.SocketStream,
        decoder: _native.PgClientDecoder,
        relay: _native.PgServerRelay,
        judge: PgJudge,
        holds: PgHolds,
        *,
        results_masked: bool,
    ) -> None:
        assert isinstance(session.client, trio.SocketStream)
        assert session.recorder is not None
        self.session = session
        self.recorder = session.recorder
        self.native = (
            self.recorder.native_writer() if isinstance(self.recorder, NativeRecorder) else None
        )
        self.queued = self.native is None
        self.judge = judge
        self.holds = holds
        self.results_masked = results_masked
        self.input_masked = session.input_masker is not None
        self.held: Verdict | None = None
        self.ended = False
        self.reason = ""
        self.detail = ""
        self.status = "I"
        self.pump = _native.PgPump(
            session.client.socket,
            upstream.socket,
            decoder,
            relay,
            self.native,
            judge=self.fast,
            input_masker=None if session.input_masker is None else session.input_masker.content,
            results_masked=results_masked,
            write_timeout=session.config.gateway.handshake_timeout.seconds,
        )
        self.fd = self.pump.fileno()

    def drain_records(self) -> None:
        for kind, payload in self.pump.take_records():
            masked = self.input_masked if kind == C2U else self.results_masked
            self.recorder.append(kind, payload, masked=masked and kind != EVENT)

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
                if ev[0] == "judge":
                    self.judge_event(ev, nursery)
                elif ev[0] == "end":
                    self.ended = True
                    self.reason, self.detail = str(ev[1]), str(ev[2])
                    self.status = self.pump.status
            self.drain_records()

    def fast(self, kind: str, name: bytes, sql: bytes, raw: bytes) -> NativeVerdict | None:
        """The fast path, called on the pump's thread (with the GIL): the
        decision when it is ready at once, else None (the request then
        comes as an event and may wait, e.g. for an approval)."""
        if self.queued:
            self.drain_records()  # records stay in order (queued recorders)
        verdict = self._judge(kind, name, sql, raw)
        if verdict.held:
            # Decided and recorded; the wait happens on the Trio side when
            # the same statement comes back as a judge event.
            self.held = verdict
            return None
        return _native_verdict(verdict)

    def judge_event(self, ev: tuple[object, ...], nursery: trio.Nursery) -> None:
        """The slow path: a judge request as an event, on the Trio thread."""
        _, rid, kind, name, sql, raw = ev
        assert isinstance(rid, int)
        assert isinstance(kind, str)
        assert isinstance(name, bytes)
        assert isinstance(sql, bytes)
        assert isinstance(raw, bytes)
        held = self.held
        self.held = None
        if held is None:
            judged = self._judge(kind, name, sql, raw)
            if not judged.held:
                self.resume(rid, judged)
                return
            held = judged
        # Held for approval: the pump keeps this session's client direction
        # paused while humans decide; events keep flowing.
        nursery.start_soon(self._finish_hold, rid, held, kind == "parse", sql, raw)

    def _judge(self, kind: str, name: bytes, sql: bytes, raw: bytes) -> Verdict:
        if kind == "function_call":
            return self.judge.function_call()
        return self.judge.statement(
            sql, raw, extended=kind == "parse", name=name.decode("utf-8", "replace")
        )

    async def _finish_hold(
        self, rid: int, verdict: Verdict, extended: bool, sql: bytes, raw: bytes
    ) -> None:
        done = await self.holds.hold(
            verdict, sql, raw, extended=extended, send=self.to_client, watch=None
        )
        self.session.touch()
        if done is not None:  # None: the client left (the pump ends by itself)
            self.resume(rid, done)

    def resume(self, rid: int, verdict: Verdict) -> None:
        data, discard, cache, shape = _native_verdict(verdict)
        self.pump.resume(rid, data, discard=discard, cache_event=cache, cache_shape=shape)

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
                        if ev[0] == "end":
                            self.ended = True
                            self.reason, self.detail = str(ev[1]), str(ev[2])
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
            session.services.log(
                "pump_end",
                session=session.session_id,
                reason=self.reason or "cancelled",
                judged=pump.judged,
                cache_hits=hits,
                client_bytes=received,
                upstream_bytes=sent,
            )
        end = self.end_of(self.reason, self.detail)
        if end is not None:
            session.finish(end)

    @staticmethod
    def end_of(reason: str, detail: str) -> SessionEnd | None:
        """The session's end for the pump's end reason (None: the client
        closed, or the session was ended from outside)."""
        if reason in ("client_io", "client_stalled"):
            raise trio.BrokenResourceError(f"the client connection failed ({reason})")
        if reason == "upstream_closed":
            return SessionEnd("08006", "the upstream server closed the connection")
        if reason == "upstream_io":
            return SessionEnd("08006", "the connection to the upstream server failed")
        if reason in ("client_protocol", "upstream_protocol"):
            return SessionEnd("08P01", f"protocol error: {detail}; closing this connection")
        if reason == "record":
            return SessionEnd("58030", "the session could not be recorded; closing it")
        if reason == "internal":
            return SessionEnd("XX000", "the gateway's relay failed; closing this connection")
        return None
