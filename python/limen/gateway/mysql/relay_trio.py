"""The command loop of a MySQL session (Trio).

MySQL is strictly request/response, so the gateway handles one client
command at a time: read one command packet (the client decoder checks its
sequence id and size), judge it (:class:`~limen.gateway.mysql.judge.MySqlJudge`;
a held statement waits for humans in place,
:class:`~limen.gateway.mysql.holds.MySqlHolds`), then either answer the
client itself (the verdict's ERR; nothing goes upstream) or forward the
client's packet upstream and relay the whole response through the native
``MySqlServerRelay`` (rows masked as they stream, lengths and sequence ids
rewritten) until it is done. A client that pipelines waits in the socket
buffer. A ``LOCAL INFILE`` request from the upstream is refused at the
gateway (the relay answers the server "no file" and the client gets an ERR).

``COM_QUIT`` ends the session quietly. ``COM_CHANGE_USER`` re-authenticates
with a token (:mod:`limen.gateway.mysql.changeuser`, through the session). Token expiry, the idle
watch and kills come from the skeleton (:mod:`limen.gateway.session`).
Recorded: each statement (by the judge, masked for the record as
configured) and every byte sent to the client (``u2c``, ``masked=`` whether
the relay masks results).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn

import trio

from limen import _native
from limen.gateway.mysql.holds import MySqlHolds
from limen.gateway.mysql.judge import MySqlJudge, MySqlVerdict
from limen.gateway.mysql.upstream import Upstream
from limen.gateway.mysql.wire import Packets
from limen.gateway.session import RECEIVE_SIZE, Session, SessionEnd
from limen.recording import U2C

__all__ = ["ChangeUser", "CommandRelay"]

COM_QUIT = 0x01
COM_CHANGE_USER = 0x11
COM_STMT_EXECUTE = 0x17
COM_STMT_CLOSE = 0x19
COM_STMT_RESET = 0x1A
COM_STMT_FETCH = 0x1C
ER_NOT_ALLOWED_COMMAND = 1148


class _Ended(Exception):
    """The loop ends (the session's end, if any, is already set)."""


#: ``await change_user(packet, reset_upstream)``: the session's COM_CHANGE_USER.
ChangeUser = Callable[[_native.MySqlPacket, Callable[[], Awaitable[int]]], Awaitable[None]]


class CommandRelay:
    """Moves one session's commands and responses."""

    def __init__(
        self,
        session: Session,
        packets: Packets,
        upstream: Upstream,
        relay: _native.MySqlServerRelay,
        judge: MySqlJudge,
        holds: MySqlHolds,
        *,
        results_masked: bool,
        change_user: ChangeUser,
        caps: int,
        first: bytes | None = None,
    ) -> None:
        self.session = session
        self.first = first
        """A command packet read already (the native pump handed the
        session over at a COM_CHANGE_USER)."""
        self.caps = caps
        self._statement: tuple[int, int | None] = (0, None)
        self.packets = packets
        self.change_user = change_user
        self.upstream = upstream
        self.relay = relay
        self.judge = judge
        self.holds = holds
        self.results_masked = results_masked
        self.write_grace = session.config.gateway.handshake_timeout.seconds
        self.commands = 0

    async def run(self) -> None:
        s = self.session
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._loop, nursery.cancel_scope)
                nursery.start_soon(
                    s.idle_watch,
                    nursery.cancel_scope,
                    lambda: trio.current_time() - s.last_activity,
                    lambda: self.holds.holds.waiting,
                )
        finally:
            s.services.log(
                "relay_end",
                session=s.session_id,
                relay="mysql",
                commands=self.commands,
                masked_values=self.relay.masked_values,
            )

    async def _loop(self, scope: trio.CancelScope) -> None:
        s = self.session
        try:
            while True:
                await self._command()
        except _Ended:
            pass
        except SessionEnd as exc:  # a refused COM_CHANGE_USER
            s.finish(exc)
        except trio.BrokenResourceError:
            pass  # the client went away: nobody to tell
        except _native.MySqlProtocolError as exc:
            s.finish(SessionEnd("08P01", f"protocol error: {exc}; closing this connection"))
        except _native.RecordError:
            s.finish(SessionEnd("58030", "the session could not be recorded; closing it"))
        scope.cancel()

    async def _command(self) -> None:
        s, packets = self.session, self.packets
        packets.restart(0)  # a pipelined command waits in the buffer until now
        if self.first is not None:
            got = packets.decoder.feed(self.first)
            self.first = None
            if len(got) != 1:
                raise _native.MySqlProtocolError("a command handed over cut short")
            packet = got[0]
            packets.next_seq = (packet.last_seq + 1) % 256
        else:
            packet = await packets.read()
        s.touch()
        self.commands += 1
        payload = packet.payload
        if not payload:
            raise _native.MySqlProtocolError("an empty command packet")
        if payload[0] == COM_QUIT:
            raise _Ended
        if payload[0] == COM_CHANGE_USER:
            await self.change_user(packet, self._reset_upstream)
            return
        pending = self.judge.pending
        if pending is not None:  # a reload's column masks first (mysql.relive)
            await pending.wait()
            if s.end is not None:
                raise _Ended
        verdict = self.judge.command(packet.seq, payload)
        self._statement = _statement_id(payload, self.caps)
        if verdict.held is not None:
            verdict = await self.holds.wait(verdict, watch=self._watch)
            s.touch()
            if verdict.command == "gone":
                raise _Ended
        if verdict.reply is not None:
            await self._to_client(verdict.reply, masked=False)
        elif verdict.forward is not None:
            await self._forward(verdict)

    async def _forward(self, verdict: MySqlVerdict) -> None:
        await self._to_upstream(verdict.forward or b"")
        code, statement = self._statement
        if code in (COM_STMT_CLOSE, COM_STMT_RESET) and statement is not None:
            self.relay.forget_statement(statement)  # its cursor columns
        if verdict.expect == _native.MySqlExpect.NONE:
            return
        if code not in (COM_STMT_EXECUTE, COM_STMT_FETCH):
            statement = None
        self.relay.expect(
            verdict.expect,
            verdict.seq,
            verdict.plan,
            statement_id=statement,
            secret_statement=verdict.secret,
        )
        await self._response()

    async def _response(self, *, to_client: bool = True) -> None:
        """Relays the upstream's response to the command in progress."""
        relay = self.relay
        while not relay.done:
            data = await self.upstream.stream.receive_some(RECEIVE_SIZE)
            if not data:
                self.session.finish(
                    SessionEnd("08006", "the upstream server closed the connection")
                )
                raise _Ended
            try:
                out = relay.feed(data)
            except _native.MySqlProtocolError as exc:
                self.session.finish(
                    SessionEnd("08P01", f"upstream protocol error: {exc}; closing this connection")
                )
                raise _Ended from None
            if out.events:
                self._events(out.events)
                self.judge.response(out.events, relay.status)
            if out.data and to_client:
                await self._to_client(out.data, masked=self.results_masked)
            if any(isinstance(e, _native.MySqlInfileRequest) for e in out.events):
                # Never read a client file on the upstream's request.
                message = b"limen: LOCAL INFILE is refused at the gateway"
                await self._to_upstream(
                    relay.refuse_infile(ER_NOT_ALLOWED_COMMAND, "42000", message)
                )
            self.session.touch()
        if to_client:  # the client's exchange is over: a fatal ERR now has sequence id 0
            self.packets.restart(0)

    def _events(self, events: list[_native.MySqlRelayEvent]) -> None:
        for ev in events:
            match ev:
                case _native.MySqlErrSeen(code=code, sql_state=state):
                    self.session.event({"event": "upstream_error", "code": code, "state": state})
                case _native.MySqlInfileRequest():
                    self.session.event({"event": "infile_refused"})
                case _:
                    pass

    async def _reset_upstream(self) -> int:
        """COM_RESET_CONNECTION upstream on the judge's terms (prepared
        statements forgotten), its answer kept from the client; returns the
        server status."""
        verdict = self.judge.command(0, b"\x1f")
        if verdict.forward is None:
            raise SessionEnd("08P01", "the session could not be reset for the new user")
        await self._to_upstream(verdict.forward)
        self.relay.expect(verdict.expect, verdict.seq, None)
        await self._response(to_client=False)
        return self.relay.status

    async def _watch(self) -> None:
        """While a statement waits: returns when the client hangs up;
        what it sends meanwhile waits, a little of it at most."""
        packets = self.packets
        while True:
            data = await packets.stream.receive_some(RECEIVE_SIZE)
            if not data:
                return
            try:
                packets.stash(data)
            except _native.MySqlProtocolError as exc:
                self.session.finish(
                    SessionEnd("08P01", f"protocol error: {exc}; closing this connection")
                )
                return

    async def _to_upstream(self, data: bytes) -> None:
        try:
            await self.upstream.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self._upstream_lost()

    def _upstream_lost(self) -> NoReturn:
        self.session.finish(SessionEnd("08006", "the upstream server closed the connection"))
        raise _Ended

    async def _to_client(self, data: bytes, *, masked: bool) -> None:
        """Records and sends whole packets, not cut by a cancel (the client
        gets whole packets before any fatal ERR)."""
        recorder = self.session.recorder
        if recorder is not None:
            recorder.append(U2C, data, masked=masked)
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self.write_grace) as grace:
                await self.session.client.send_all(data)
        if grace.cancelled_caught:
            raise trio.BrokenResourceError("the client stopped reading")


def _statement_id(payload: bytes, caps: int) -> tuple[int, int | None]:
    """The command code and, for a prepared statement's command, its id
    (the relay keeps a cursor's columns by statement id)."""
    code = payload[0] if payload else 0
    if code not in (COM_STMT_EXECUTE, COM_STMT_CLOSE, COM_STMT_RESET, COM_STMT_FETCH):
        return code, None
    cmd = _native.mysql_parse_command(payload, caps)
    match cmd:
        case (
            _native.MySqlStmtExecute(statement_id=sid)
            | _native.MySqlStmtClose(statement_id=sid)
            | _native.MySqlStmtReset(statement_id=sid)
            | _native.MySqlStmtFetch(statement_id=sid)
        ):
            return code, sid
        case _:
            return code, None
