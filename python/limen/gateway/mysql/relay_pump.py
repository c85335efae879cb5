"""The native pump for MySQL sessions: who moves the bytes after the login.

With ``[gateway] relay = "native"`` (the default), a MySQL session whose
client and upstream connections are both plain TCP (and with nothing read
ahead on either) hands them to the process's pump thread
(``_native.mysql_pump``, the PostgreSQL gateway's hub) once the login is
done; TLS on either side, or ``relay = "trio"``, keeps the Trio relay
(:mod:`limen.gateway.mysql.relay_trio`).

The pump's MySQL core (``limen-pump``'s ``mysql`` module) frames the
client's commands, one at a time, and masks the upstream's answers with
the session's own ``MySqlServerRelay`` (shared: one masker for both
relays). It forwards by itself only what Python already decided and
marked reusable: a ``COM_QUERY``/``COM_STMT_PREPARE`` whose exact packet
the session's judge allowed before (no column plan, no secret, no
database switch), the ``COM_STMT_EXECUTE``/``CLOSE`` of a statement
prepared so, and ``COM_PING``. Everything else comes here as a judge
request: :class:`~limen.gateway.mysql.judge.MySqlJudge` decides and
records it exactly as on the Trio relay, on the pump's thread when the
decision is ready at once (:meth:`MySqlPumpRelay.fast`), on the Trio side
when it is held for humans (:class:`~limen.gateway.mysql.holds.MySqlHolds`;
the client direction stays paused meanwhile). Each request carries the
note of the upstream's answer to the last command judged here (prepared
statement ids, OK/ERR, the server status, the statements the pump closed
by itself), which the judge takes in first.

``COM_CHANGE_USER`` hands the session over: the pump stops (nothing is
in flight: commands are handled one at a time) and the session goes on on
the Trio relay from that packet (:attr:`MySqlPumpRelay.handoff`), which
re-authenticates with a token. A malformed command ends the session with a
protocol error, as on the Trio relay.
"""

from __future__ import annotations

import struct
from typing import Final, assert_never

import trio

from limen import _native
from limen.config import Config
from limen.gateway.mysql.holds import MySqlHolds
from limen.gateway.mysql.judge import MySqlJudge, MySqlVerdict
from limen.gateway.mysql.upstream import Upstream
from limen.gateway.mysql.wire import Packets
from limen.gateway.session import Session, SessionEnd
from limen.recording import NativeRecorder

__all__ = ["MySqlPumpRelay", "end_for", "pump_eligible"]

COM_CHANGE_USER: Final = 0x11
COM_STMT_EXECUTE: Final = 0x17
COM_STMT_CLOSE: Final = 0x19
COM_STMT_RESET: Final = 0x1A
COM_STMT_FETCH: Final = 0x1C
NOTE_OK: Final = 1
NOTE_ERR: Final = 2
NOTE_PREPARED: Final = 4


def pump_eligible(config: Config, client: Packets, upstream: Upstream) -> bool:
    """True when a session's bytes can move through the native pump."""
    return (
        config.gateway.relay == "native"
        and type(client.stream) is trio.SocketStream
        and type(upstream.stream) is trio.SocketStream
        and not client.buffer
        and not upstream.packets.buffer
    )


def end_for(reason: _native.EndReason, detail: str) -> SessionEnd | None:
    """The ERR a pump's end calls for (as the Trio relay ends), or None
    when there is nobody to tell or nothing to say."""
    match reason:
        case _native.EndReason.UPSTREAM_CLOSED | _native.EndReason.UPSTREAM_IO:
            return SessionEnd("08006", "the upstream server closed the connection")
        case _native.EndReason.CLIENT_PROTOCOL | _native.EndReason.UPSTREAM_PROTOCOL:
            return SessionEnd("08P01", f"protocol error: {detail}; closing this connection")
        case _native.EndReason.RECORD:
            return SessionEnd("58030", "the session could not be recorded; closing it")
        case _native.EndReason.INTERNAL:
            return SessionEnd("XX000", "the gateway's relay failed; closing this connection")
        case (
            _native.EndReason.CLIENT_CLOSED
            | _native.EndReason.TERMINATE
            | _native.EndReason.CLIENT_IO
            | _native.EndReason.CLIENT_STALLED
            | _native.EndReason.STOPPED
        ):
            return None
        case _:
            assert_never(reason)


def statement_id(payload: bytes) -> int | None:
    """The statement id of a prepared statement's command (as the Trio relay)."""
    codes = (COM_STMT_EXECUTE, COM_STMT_CLOSE, COM_STMT_RESET, COM_STMT_FETCH)
    if len(payload) >= 5 and payload[0] in codes:
        return int.from_bytes(payload[1:5], "little")
    return None


class MySqlPumpRelay:
    """One pumped MySQL session's Python side."""

    def __init__(
        self,
        session: Session,
        client: trio.SocketStream,
        upstream: trio.SocketStream,
        relay: _native.MySqlServerRelay,
        judge: MySqlJudge,
        holds: MySqlHolds,
        *,
        results_masked: bool,
        max_packet_size: int,
    ) -> None:
        assert session.recorder is not None
        self.session = session
        self.recorder = session.recorder
        self.native = (
            self.recorder.native_writer() if isinstance(self.recorder, NativeRecorder) else None
        )
        self.queued = self.native is None
        self.relay = relay
        self.judge = judge
        self.holds = holds
        self.held: MySqlVerdict | None = None
        self.handoff: bytes | None = None
        """A COM_CHANGE_USER packet the Trio relay goes on with."""
        self.malformed: str | None = None
        self.ended = False
        self.reason: _native.EndReason | None = None
        self.detail = ""
        self.pump = _native.mysql_pump(
            client.socket,
            upstream.socket,
            relay,
            self.native,
            judge=self.fast,
            input_masked=session.input_masker is not None,
            input_masker=None if session.input_masker is None else session.input_masker.content,
            results_masked=results_masked,
            max_packet_size=max_packet_size,
            write_timeout=session.config.gateway.handshake_timeout.seconds,
        )
        self.fd = self.pump.fileno()
        session.cache_clearers.append(self.pump.clear_cache)  # a SIGHUP reload empties it

    def drain_records(self) -> None:
        for kind, payload, masked in self.pump.take_records():
            self.recorder.append(kind, payload, masked=masked)

    def noted(self, note: bytes) -> None:
        """Takes in what the upstream answered the last command judged here."""
        if len(note) < 2:
            return
        status = int.from_bytes(note[:2], "little")
        if len(note) >= 7:
            flags, sid = struct.unpack_from("<BI", note, 2)
            prepared = [sid] if flags & NOTE_PREPARED else []
            self.judge.answered(
                ok=bool(flags & NOTE_OK),
                failed=bool(flags & NOTE_ERR),
                prepared=prepared,
                status=status,
            )
        else:
            self.judge.answered(ok=False, failed=False, prepared=[], status=status)
        # Statements the pump closed by itself: the judge forgets them too.
        closed = note[7:]
        self.judge.closed(
            [int.from_bytes(closed[i : i + 4], "little") for i in range(0, len(closed) - 3, 4)]
        )

    def decide(self, request: _native.JudgeRequest) -> MySqlVerdict | _native.Verdict:
        """Judges one command (the judge records it); a verdict to apply."""
        if self.queued:
            self.drain_records()  # records stay in order (queued recorders)
        self.noted(request.name)
        payload, seq = request.sql, request.raw[3]
        try:
            return self.judge.command(seq, payload)
        except _native.MySqlProtocolError as exc:
            # As the Trio relay: the session ends with a protocol error.
            self.malformed = str(exc)
            self.pump.stop()
            return _native.Verdict(b"")

    def apply(self, verdict: MySqlVerdict, payload: bytes) -> _native.Verdict:
        """What the pump does with a decided command: the reply, or the
        packet forwarded with the relay told what answer follows."""
        if verdict.reply is not None:
            return _native.Verdict(verdict.reply, discard_until_sync=True)
        if verdict.forward is None:
            return _native.Verdict(b"")
        sid = statement_id(payload)
        code = payload[0]
        if code in (COM_STMT_CLOSE, COM_STMT_RESET) and sid is not None:
            self.relay.forget_statement(sid)  # its cursor columns
        if verdict.expect != _native.MySqlExpect.NONE:
            self.relay.expect(
                verdict.expect,
                verdict.seq,
                verdict.plan,
                statement_id=sid if code in (COM_STMT_EXECUTE, COM_STMT_FETCH) else None,
                secret_statement=verdict.secret,
            )
        return _native.Verdict(
            verdict.forward, cache_event=verdict.cache_event, cache_shape=verdict.cache_shape
        )

    def fast(self, request: _native.JudgeRequest) -> _native.Verdict | None:
        """The fast path, on the pump's thread (with the GIL): the verdict
        when the decision is ready at once, else None (a hold: the request
        then comes as an event)."""
        if request.sql[:1] == bytes([COM_CHANGE_USER]):
            return None  # handed over to the Trio relay (judge_event)
        if self.judge.pending is not None:
            return None  # a reload's column masks first: the Trio side waits
        if self.session.end is not None:
            return None  # killed (a reload, a revocation): nothing more runs
        verdict = self.decide(request)
        if isinstance(verdict, _native.Verdict):
            return verdict
        if verdict.held is not None:
            self.held = verdict  # decided and recorded; waited for on the Trio side
            return None
        return self.apply(verdict, request.sql)

    def judge_event(self, request: _native.JudgeRequest, nursery: trio.Nursery) -> None:
        """The slow path: a judge request as an event, on the Trio thread."""
        if request.sql[:1] == bytes([COM_CHANGE_USER]):
            if self.queued:
                self.drain_records()
            self.noted(request.name)
            self.handoff = request.raw
            self.pump.stop()
            return
        held = self.held
        self.held = None
        if held is None:
            pending = self.judge.pending
            if pending is not None:  # a reload's column masks (mysql.relive)
                nursery.start_soon(self._after_remask, pending, request, nursery)
                return
            verdict = self.decide(request)
            if isinstance(verdict, _native.Verdict):
                self.pump.resume(request.id, verdict)
                return
            if verdict.held is None:
                self.pump.resume(request.id, self.apply(verdict, request.sql))
                return
            held = verdict
        nursery.start_soon(self._finish_hold, request, held)

    async def _after_remask(
        self, pending: trio.Event, request: _native.JudgeRequest, nursery: trio.Nursery
    ) -> None:
        await pending.wait()
        if self.session.end is None:
            self.judge_event(request, nursery)

    async def _finish_hold(self, request: _native.JudgeRequest, verdict: MySqlVerdict) -> None:
        done = await self.holds.wait(verdict, watch=None)
        self.session.touch()
        if done.command != "gone":
            self.pump.resume(request.id, self.apply(done, request.sql))

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
                        self.ended = True
                        self.reason, self.detail = ev.reason, ev.detail
                    case _native.PumpRecords():
                        pass  # drained below
                    case _:
                        assert_never(ev)
            self.drain_records()

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
                            self.ended = True
                            self.reason, self.detail = ev.reason, ev.detail
        self.drain_records()

    async def run(self) -> None:
        """Relays the session through the pump until it ends; ends the
        session as the Trio relay would for the same ending."""
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
                relay="mysql",
                reason=self.reason.label if self.reason is not None else "cancelled",
                judged=pump.judged,
                cache_hits=hits,
                client_bytes=received,
                upstream_bytes=sent,
                masked_values=self.relay.masked_values,
            )
        if self.malformed is not None:
            msg = f"protocol error: {self.malformed}; closing this connection"
            session.finish(SessionEnd("08P01", msg))
            return
        reason = self.reason
        if self.handoff is not None and reason == _native.EndReason.STOPPED:
            return  # the session goes on on the Trio relay
        self.handoff = None
        end = None if reason is None else end_for(reason, self.detail)
        if end is not None:
            session.finish(end)
