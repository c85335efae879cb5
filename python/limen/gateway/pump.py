"""The native pump: who moves a PostgreSQL session's bytes after the handshake.

With ``[gateway] relay = "native"`` (the default), a session whose client
and upstream connections are both plain TCP hands them to
``_native.PgPump`` once the handshake is done (TLS, the token, the upstream
login and the column catalog all stay in Python). One pump thread per
process (an epoll loop over every pumped session, like a pgbouncer
process) reads both sockets, frames the client's messages, masks the
upstream's rows (the session's own ``PgServerRelay``, shared) and writes
every record — without the GIL. Sessions with TLS on either side stay on the Trio relay
(``PgSession._relay``'s nursery), as does everything with ``relay = "trio"``.

The pump's client side is the same state machine the Trio relay drives
(``limen_pump::PumpCore``; the Trio relay through ``_native.PgClientCore``).
Python keeps every decision. Each Query, Parse and FunctionCall whose
decision is not in the pump's per-session cache comes back here as a
``_native.JudgeRequest``: the session's ``judge_request`` decides and
records it, exactly as on the Trio relay, and ``PgSession.verdict`` makes
the ``_native.Verdict`` (the bytes, the message or the denial marker with
discard-until-Sync, and whether the decision may be cached). A decision
that is ready at once is made on the pump's thread (``_Run.fast``, with
the GIL: no hand-off between threads per statement; ``judge_request``
touches only its session, the native relay and log, which lock, and the
thread-safe policy caches). A hold (``judge_request`` returns the
Decision instead of bytes) comes back as an event
to the Trio task, which waits for humans in ``PgSession._held``; the
pump's client direction stays paused (the upstream direction keeps
flowing) however long it takes. Only allows of statements
that neither prepare nor execute are cached, with the decision event
``_judge`` recorded, which the pump records again for each hit; holds and
denials always come back here (denials are logged). An allow whose
classification holds for the statement's shape
(``Classification.shape_reusable``: no constant was read, and every
constant of this text is an ``A_Const`` of its tree) is cached under the
shape (``limen_pump::shape``), so the same query with other constants is
not asked again; why that is sound: docs/decision-cache.md.
Statements are recorded masked (:mod:`limen.gateway.inrecord`): a statement
whose recorded text was masked is never cached, a shape only when its
statement has no secret position in its parse tree (true of every
statement of that shape), and a shape hit in which the session's content
masker finds something comes back here to be recorded masked.

While a decision waits, ``session.pump.send_client(data)`` sends the client
whole messages (a NoticeResponse naming the approval) at a message
boundary; a client that hangs up meanwhile ends the pump ("client_closed"),
which cancels the waiting task with the rest of the session.

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

from typing import TYPE_CHECKING, assert_never

import trio

from limen import _native
from limen.gateway.pg import SessionEnd, end_for, reusable
from limen.recording import C2U, EVENT, NativeRecorder, Recorder

if TYPE_CHECKING:
    from limen.gateway.pg import PgSession
    from limen.policy import Decision

__all__ = ["pump_eligible", "reusable", "run_pump"]


def pump_eligible(session: PgSession) -> bool:
    """True when this session's bytes can move through the native pump."""
    return (
        session.config.gateway.relay == "native"
        and type(session.client) is trio.SocketStream
        and type(session.upstream) is trio.SocketStream
        and session.relay is not None
        and session.recorder is not None
    )


class _Tap:
    """The session's recorder while it is pumped: passes every record on and
    keeps the decision events ``_judge`` writes (the pump replays one on
    each cache hit). A native log is appended to directly (its statements
    are counted here and reported when the pump ends)."""

    def __init__(self, inner: Recorder) -> None:
        self.inner = inner
        self.native = inner.native_writer() if isinstance(inner, NativeRecorder) else None
        self.statements = 0
        self.events: list[bytes] = []

    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None:
        if self.native is not None:
            self.native.append(kind, payload, masked=masked)
            if kind == C2U:
                self.statements += 1
        else:
            self.inner.append(kind, payload, masked=masked)
        if kind == EVENT:
            self.events.append(bytes(payload))

    def close(self) -> None:
        self.inner.close()


class _Run:
    """One pumped session's Python side."""

    def __init__(self, session: PgSession, tap: _Tap) -> None:
        self.session = session
        self.tap = tap
        self.pump: _native.PgPump
        self.fd = -1
        self.queued = tap.native is None
        self.held: Decision | None = None
        self.ended = False
        self.reason: _native.EndReason | None = None
        self.detail = ""

    def attach(self, pump: _native.PgPump) -> None:
        self.pump = pump
        self.fd = pump.fileno()

    def drain_records(self) -> None:
        for kind, payload, masked in self.pump.take_records():
            self.tap.inner.append(kind, payload, masked=masked)

    def on_end(self, end: _native.PumpEnd) -> None:
        self.ended = True
        self.reason, self.detail = end.reason, end.detail

    async def events(self, nursery: trio.Nursery) -> None:
        """Handles the pump's events until it ends."""
        while not self.ended:
            await trio.lowlevel.wait_readable(self.fd)
            self.drain_records()
            for ev in self.pump.events():
                match ev:
                    case _native.JudgeRequest():
                        self.judge(ev, nursery)
                    case _native.PumpEnd():
                        self.on_end(ev)
                        self.session.status = self.pump.status
                    case _native.PumpRecords():
                        pass  # drained below
                    case _:
                        assert_never(ev)
            self.drain_records()

    def fast(self, request: _native.JudgeRequest) -> _native.Verdict | None:
        """The fast path, called on the pump's thread (with the GIL): the
        decision when it is ready at once, else None (the request then
        comes as an event and may wait, e.g. for an approval)."""
        if self.queued:
            self.drain_records()  # records stay in order (queued recorders)
        result = self._judge(request)
        if not isinstance(result, bytes):
            # A hold: decided and recorded; the wait happens on the Trio
            # side when the same statement comes back as a judge event.
            self.held = result
            return None
        return self.verdict(request, result)

    def judge(self, request: _native.JudgeRequest, nursery: trio.Nursery) -> None:
        """The slow path: a judge request as an event, on the Trio thread."""
        held = self.held
        self.held = None
        if held is None:
            judged = self._judge(request)
            if isinstance(judged, bytes):
                self.pump.resume(request.id, self.verdict(request, judged))
                return
            held = judged
        # Held for approval: the pump keeps this session's client direction
        # paused while humans decide; events keep flowing.
        nursery.start_soon(self._finish_hold, request, held)

    def _judge(self, request: _native.JudgeRequest) -> bytes | Decision:
        self.tap.events.clear()
        return self.session.judge_request(request)

    async def _finish_hold(self, request: _native.JudgeRequest, decision: Decision) -> None:
        extended = request.kind == _native.JudgeKind.PARSE
        data = await self.session._held(decision, request.sql, request.raw, extended=extended)
        if data is not None:  # None: the client left (the pump ends by itself)
            self.pump.resume(request.id, self.verdict(request, data))

    def verdict(self, request: _native.JudgeRequest, data: bytes) -> _native.Verdict:
        """What the pump gets for a decided statement (``PgSession.verdict``),
        with the decision event the tap saw."""
        event = self.tap.events[-1] if len(self.tap.events) == 1 else None
        return self.session.verdict(request, data, event)

    async def idle_watch(self, scope: trio.CancelScope) -> None:
        s = self.session
        resource = s.config.resource(s.resource_name or "")
        idle = (resource.idle_timeout if resource and resource.idle_timeout else None) or (
            s.config.gateway.idle_timeout
        )
        while True:
            if s._hold_scope is not None:  # waiting for humans is not idling
                await trio.sleep(min(idle.seconds, 1.0))
                continue
            left = idle.seconds - self.pump.idle
            if left <= 0:
                if s.end is None:
                    s.end = SessionEnd("57P05", f"idle for {idle}; the session is closed")
                scope.cancel()
                return
            await trio.sleep(left)

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
        self.session.status = self.pump.status


async def run_pump(session: PgSession) -> None:
    """Relays the session through the native pump until it ends; sets
    ``session.end`` (or raises ``trio.BrokenResourceError``) as the Trio
    relay would for the same ending (:func:`limen.gateway.pg.end_for`)."""
    assert isinstance(session.client, trio.SocketStream)
    assert isinstance(session.upstream, trio.SocketStream)
    assert session.relay is not None
    assert session.recorder is not None
    recorder = session.recorder
    tap = _Tap(recorder)
    run = _Run(session, tap)
    pump = _native.PgPump(
        session.client.socket,
        session.upstream.socket,
        session.decoder,
        session.relay,
        tap.native,
        judge=run.fast,
        input_masker=None if session.input_masker is None else session.input_masker.content,
        results_masked=session.results_masked,
        write_timeout=session.config.gateway.handshake_timeout.seconds,
    )
    run.attach(pump)
    session.recorder = tap
    pump.start()
    session.pump = pump
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run.idle_watch, nursery.cancel_scope)
            await run.events(nursery)
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await run.stop()
        session.pump = None
        session.recorder = recorder
        hits = pump.cache_hits
        session.statements += hits
        if isinstance(recorder, NativeRecorder):
            recorder.count_statements(hits + tap.statements)
        received, sent = pump.bytes
        session.gw.log(
            "pump_end",
            session=session.session_id,
            reason=run.reason.label if run.reason is not None else "cancelled",
            judged=pump.judged,
            cache_hits=hits,
            client_bytes=received,
            upstream_bytes=sent,
        )
    reason = run.reason
    if reason in (_native.EndReason.CLIENT_IO, _native.EndReason.CLIENT_STALLED):
        assert reason is not None
        raise trio.BrokenResourceError(f"the client connection failed ({reason.label})")
    end = None if reason is None else end_for(reason, run.detail)
    if end is not None and session.end is None:
        session.end = end
