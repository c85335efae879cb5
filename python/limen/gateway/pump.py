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

Python keeps every decision. Each Query, Parse and FunctionCall whose
decision is not in the pump's per-session cache comes back here: the
session's own ``_judge`` decides and records it, exactly as on the Trio
relay, and its bytes (the message, or the denial marker with
discard-until-Sync) go upstream. A decision that is ready at once is made
on the pump's thread (``_Run.fast``, with the GIL: no hand-off between
threads per statement; ``_judge`` touches only its session, the native
relay and log, which lock, and the thread-safe policy caches). A hold
(``_judge`` returns the Decision instead of bytes) comes back as an event
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

from typing import TYPE_CHECKING

import trio

from limen import _native
from limen.recording import C2U, EVENT, NativeRecorder, Recorder

if TYPE_CHECKING:
    from limen.gateway.pg import PgSession
    from limen.policy import Decision

__all__ = ["pump_eligible", "reusable", "run_pump"]

#: (bytes for the upstream, discard until Sync, the decision event to cache,
#: whether it holds for every simple query of the same shape)
Verdict = tuple[bytes, bool, bytes | None, bool]


def pump_eligible(session: PgSession) -> bool:
    """True when this session's bytes can move through the native pump."""
    return (
        session.config.gateway.relay == "native"
        and type(session.client) is trio.SocketStream
        and type(session.upstream) is trio.SocketStream
        and session.relay is not None
        and session.recorder is not None
    )


def reusable(decision: Decision | None) -> bool:
    """Whether the pump may reuse this decision for the same statement text
    (same session: same identity and rules): allows of statements that do
    not prepare or execute (their classes depend on the session's prepared
    statements). Holds never are, and denials come back to be logged."""
    if decision is None or decision.action != "allow" or decision.classification is None:
        return False
    return not any(s.executes or s.prepares is not None for s in decision.classification.statements)


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
        self.reason = ""
        self.detail = ""

    def attach(self, pump: _native.PgPump) -> None:
        self.pump = pump
        self.fd = pump.fileno()

    def drain_records(self) -> None:
        s = self.session
        for kind, payload in self.pump.take_records():
            masked = s.input_masker is not None if kind == C2U else s.results_masked
            self.tap.inner.append(kind, payload, masked=masked and kind != EVENT)

    async def events(self, nursery: trio.Nursery) -> None:
        """Handles the pump's events until it ends."""
        while not self.ended:
            await trio.lowlevel.wait_readable(self.fd)
            self.drain_records()
            for ev in self.pump.events():
                if ev[0] == "judge":
                    self.judge(ev, nursery)
                elif ev[0] == "end":
                    self.ended = True
                    self.reason, self.detail = str(ev[1]), str(ev[2])
                    self.session.status = self.pump.status
            self.drain_records()

    def fast(self, kind: str, name: bytes, sql: bytes, raw: bytes) -> Verdict | None:
        """The fast path, called on the pump's thread (with the GIL): the
        decision when it is ready at once, else None (the request then
        comes as an event and may wait, e.g. for an approval)."""
        if self.queued:
            self.drain_records()  # records stay in order (queued recorders)
        result = self._judge(kind, name, sql, raw)
        if not isinstance(result, bytes):
            # A hold: decided and recorded; the wait happens on the Trio
            # side when the same statement comes back as a judge event.
            self.held = result
            return None
        return self.verdict(result)

    def judge(self, ev: tuple[object, ...], nursery: trio.Nursery) -> None:
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
            if isinstance(judged, bytes):
                self.resume(rid, judged)
                return
            held = judged
        # Held for approval: the pump keeps this session's client direction
        # paused while humans decide; events keep flowing.
        nursery.start_soon(self._finish_hold, rid, held, kind == "parse", sql, raw)

    def _judge(self, kind: str, name: bytes, sql: bytes, raw: bytes) -> bytes | Decision:
        s = self.session
        self.tap.events.clear()
        s.last_decision = None
        if kind == "function_call":
            return s.deny_function_call()
        extended = kind == "parse"
        result: bytes | Decision = s._judge(
            sql, raw, extended=extended, name=name.decode("utf-8", "replace")
        )
        return result

    async def _finish_hold(
        self, rid: int, decision: Decision, extended: bool, sql: bytes, raw: bytes
    ) -> None:
        data = await self.session._held(decision, sql, raw, extended=extended)
        if data is not None:  # None: the client left (the pump ends by itself)
            self.resume(rid, data)

    def resume(self, rid: int, data: bytes) -> None:
        data, discard, cache, shape = self.verdict(data)
        self.pump.resume(rid, data, discard=discard, cache_event=cache, cache_shape=shape)

    def verdict(self, data: bytes) -> Verdict:
        """What the pump gets for a decided statement: the bytes, whether to
        discard until Sync, the decision event when it may be reused, and
        whether it may be reused for the same statement with other
        constants (``Classification.shape_reusable``)."""
        s = self.session
        discard = s.discarding
        s.discarding = False
        event = self.tap.events[-1] if len(self.tap.events) == 1 else None
        decision = s.last_decision
        # A statement masked for the record is judged each time (a hit would
        # be recorded as sent); a secret position bars its whole shape.
        masked = s.last_input
        cache = event if event is not None and reusable(decision) else None
        if masked is not None and masked.masked:
            cache = None
        if s.columns is not None and not s.columns.cacheable:  # see limen.gateway.colmask
            cache = None
        shape = (
            cache is not None
            and (masked is None or not masked.structural)
            and decision is not None
            and decision.classification is not None
            and decision.classification.shape_reusable
        )
        return data, discard, cache, shape

    async def idle_watch(self, scope: trio.CancelScope) -> None:
        from limen.gateway.pg import SessionEnd

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
                        if ev[0] == "end":
                            self.ended = True
                            self.reason, self.detail = str(ev[1]), str(ev[2])
        self.drain_records()
        self.session.status = self.pump.status


async def run_pump(session: PgSession) -> None:
    """Relays the session through the native pump until it ends; sets
    ``session.end`` (or raises ``trio.BrokenResourceError``) as the Trio
    relay would for the same ending."""
    from limen.gateway.pg import SessionEnd

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
            reason=run.reason or "cancelled",
            judged=pump.judged,
            cache_hits=hits,
            client_bytes=received,
            upstream_bytes=sent,
        )
    reason, detail = run.reason, run.detail
    if reason in ("client_io", "client_stalled"):
        raise trio.BrokenResourceError(f"the client connection failed ({reason})")
    end: SessionEnd | None = None
    if reason == "upstream_closed":
        end = SessionEnd("08006", "the upstream server closed the connection")
    elif reason == "upstream_io":
        end = SessionEnd("08006", "the connection to the upstream server failed")
    elif reason in ("client_protocol", "upstream_protocol"):
        end = SessionEnd("08P01", f"protocol error: {detail}; closing this connection")
    elif reason == "record":
        end = SessionEnd("58030", "the session could not be recorded; closing it")
    elif reason == "internal":
        end = SessionEnd("XX000", "the gateway's relay failed; closing this connection")
    if end is not None and session.end is None:
        session.end = end
