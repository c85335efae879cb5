"""One SSH channel: its request judged, held, refused or run upstream.

The request (an ``exec`` command line, a shell, a subsystem) is recorded
(masked like a statement) and judged by :func:`limen.policy.ssh.decide_ssh`;
the decision event is recorded. A denial writes ``limen: …`` lines on the
channel's stderr and exits with status 1. A hold tells the bot on stderr
that it waits (approval id, approve command), waits in place
(:class:`~limen.gateway.holds.Holds`), then runs or exits 1 with the
reason. An allowed request opens the same request on an upstream channel
and relays: stdin to upstream (recorded ``c2u``, masked by the session's
masker when it has one), stdout and stderr to the client through one
masker stream each (recorded ``u2c`` masked), then the exit status. Each
output stream runs whole on one worker thread (read, mask, record, send:
``quiet.blocking_copy``), so the bulk of the bytes never crosses into Trio.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Sequence

import msgspec
import paramiko
import trio

from limen import _native
from limen.approvals import ApprovalRequest, format_duration
from limen.gateway.holds import Holds
from limen.gateway.inrecord import record_statement
from limen.gateway.session import SessionEnd
from limen.gateway.ssh.bridge import READ, Counted, close_quietly, recv_within, send_all
from limen.gateway.ssh.clientside import ChannelRequest
from limen.gateway.ssh.quiet import QUIET_EXEC, QUIET_PTY, blocking_copy, masked_copy
from limen.gateway.ssh.sftprelay import SftpRelay
from limen.inmask import InputMasker
from limen.policy import Decision
from limen.policy.ssh import is_scp
from limen.recording import C2U, EVENT, U2C, Recorder

__all__ = ["REFUSED_STATUS", "ChannelRelay"]

REFUSED_STATUS = 1
"""The exit status of a refused request (denied, hold not approved)."""
REFUSE_LINGER = 1.0
"""Seconds a refused channel waits for the client to close it."""
ENDED_STATUS = 255
"""The exit status of a channel the session's end cut short."""
TOUCH_EVERY = 1.0
"""Seconds between the activity notes (the idle watch) of a busy output."""
#: ``await prepare(client channel id, upstream channel)``.
Prepare = Callable[[int, paramiko.Channel], Awaitable[None]]


def hold_text(created: ApprovalRequest, message: str, timeout: float) -> str:
    n = created.approvals_required
    return (
        f"limen: held for approval {created.id} (rule {created.rule}, class {created.klass}); "
        f"waiting up to {format_duration(timeout)}\n"
        f"limen: {message}; it runs once {n} approver{'s' if n != 1 else ''} from "
        f"[{', '.join(created.approvers)}] approve{'s' if n == 1 else ''} it\n"
        f"limen: an approver runs: limen approvals approve {created.id} --as NAME\n"
    )


class ChannelRelay:
    """What every channel of one session shares."""

    def __init__(
        self,
        *,
        recorder: Recorder,
        input_masker: InputMasker | None,
        masker: _native.Masker | None,
        holds: Holds,
        decide: Callable[[ChannelRequest], Decision],
        decide_file: Callable[[ChannelRequest, str, Sequence[str]], Decision],
        mask_text: Callable[[bytes], str],
        upstream: paramiko.Transport,
        log: Callable[..., None],
        session_id: str,
        touch: Callable[[], None],
        limiter: trio.CapacityLimiter,
        ended: Callable[[], SessionEnd | None] = lambda: None,
        counted: Counted | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        self.prepare = prepare
        """Asks the upstream for a channel's allowed agent forwarding and X11
        (``Forwards.prepare``) before its command starts."""
        self.counted = counted or Counted()
        """Channel payload: from the client (``inbound``), to it (``outbound``)."""
        self.counting = threading.Lock()
        """Guards ``counted``: output streams count on their worker threads."""
        self.ended = ended
        """Why the session ends, once known (told to running channels)."""
        self.recorder = recorder
        self.input_masker = input_masker
        self.masker = masker
        self.holds = holds
        self.decide = decide
        self.decide_file = decide_file
        self.mask_text = mask_text
        self.upstream = upstream
        self.log = log
        self.session_id = session_id
        self.touch = touch
        self.limiter = limiter
        """This session's worker threads (blocking paramiko calls), apart
        from Trio's default limiter so SSH sessions cannot starve it."""
        self.requests = 0
        self.channels_up: dict[int, paramiko.Channel] = {}
        """The upstream channel of each running client channel (by id)."""

    async def thread(self, fn: Callable[..., object], *args: object) -> object:
        return await trio.to_thread.run_sync(
            fn, *args, abandon_on_cancel=True, limiter=self.limiter
        )

    def resize(self, chanid: int, width: int, height: int) -> None:
        """A client's window change, passed to its upstream channel."""
        up = self.channels_up.get(chanid)
        if up is not None:
            self.event({"event": "resize", "channel": chanid, "width": width, "height": height})
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                up.resize_pty(width, height)

    def event(self, obj: dict[str, object]) -> None:
        self.recorder.append(EVENT, msgspec.json.encode(obj))

    async def judge(
        self, chan: paramiko.Channel, text: str, kind: str, decide: Callable[[], Decision]
    ) -> str | None:
        """Records a request (``text``), judges it, holds it in place when
        held: None when it runs, else the refusal to tell the bot ("" when
        the channel went away while held)."""
        self.requests += 1
        record_statement(self.recorder, self.input_masker, text.encode("utf-8", "replace"))
        decision = decide()
        self.event(
            {
                "event": "decision",
                "action": decision.action,
                "rule": decision.rule,
                "class": decision.klass,
                "channel": chan.get_id(),
                "request": kind,
            }
        )
        if decision.action == "hold":
            return await self._hold(chan, decision, text)
        if decision.action == "allow":
            return None
        self.log(
            "decision",
            session=self.session_id,
            action=decision.action,
            rule=decision.rule,
            klass=decision.klass,
        )
        hint = f"limen: hint: {decision.hint}\n" if decision.hint else ""
        return f"limen: {decision.message}\n{hint}"

    async def serve(self, item: ChannelRequest) -> None:
        chan = item.channel
        req = item.request
        text = req.command if req.kind == "exec" else f"@{req.kind} {req.command}".strip()
        refusal = await self.judge(chan, text, req.kind, lambda: self.decide(item))
        if refusal:
            await self._refuse(chan, refusal)
        if refusal is None:
            await self._run(item)

    async def _refuse(self, chan: paramiko.Channel, text: str) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            await self.thread(chan.sendall_stderr, text.encode())
            await self.thread(chan.send_exit_status, REFUSED_STATUS)
            await self.thread(chan.shutdown_write)
        # The client closes on the exit status; closing first could overtake
        # paramiko's reply to the request itself (the client then sees the
        # channel close before its request was answered).
        with trio.move_on_after(REFUSE_LINGER):
            while not chan.closed:
                await trio.sleep(0.02)
        close_quietly(chan)

    async def _hold(self, chan: paramiko.Channel, decision: Decision, text: str) -> str | None:
        async def notify(created: ApprovalRequest, timeout: float) -> None:
            line = hold_text(created, decision.message, timeout)
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                await self.thread(chan.sendall_stderr, line.encode())

        async def watch() -> None:
            while not chan.closed and chan.get_transport() is not None:
                await trio.sleep(0.2)

        outcome = await self.holds.hold(
            decision, self.mask_text(text.encode("utf-8", "replace")), notify=notify, watch=watch
        )
        if outcome.gone:
            close_quietly(chan)
            return ""
        if outcome.run:
            return None
        return f"limen: {outcome.message}\nlimen: hint: {outcome.hint}\n"

    async def _run(self, item: ChannelRequest) -> None:
        chan = item.channel
        req = item.request
        try:
            up = await self.thread(self.upstream.open_session)
            assert isinstance(up, paramiko.Channel)
            if item.env:
                with contextlib.suppress(paramiko.SSHException):
                    await self.thread(up.update_environment, item.env)
            if item.pty is not None:
                p = item.pty
                await self.thread(
                    up.get_pty, p.term, p.width, p.height, p.pixel_width, p.pixel_height
                )
            if self.prepare is not None:
                await self.prepare(chan.get_id(), up)
            if req.kind == "exec":
                await self.thread(up.exec_command, req.command)
            elif req.kind == "shell":
                await self.thread(up.invoke_shell)
            else:
                await self.thread(up.invoke_subsystem, req.command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            await self._refuse(chan, f"limen: the upstream refused the request: {exc}\n")
            return
        self.channels_up[chan.get_id()] = up
        if item.pty is not None:
            self.event(
                {
                    "event": "pty",
                    "channel": chan.get_id(),
                    "term": item.pty.term,
                    "width": item.pty.width,
                    "height": item.pty.height,
                }
            )
        exited = False
        try:
            async with trio.open_nursery() as nursery:
                interactive = item.pty is not None
                sftp = self._sftp(item, up)
                raw = sftp is None and is_scp(req)  # file bytes: neither masked nor recorded
                if sftp is not None:
                    nursery.start_soon(sftp.client_to_upstream)
                else:
                    nursery.start_soon(self._stdin, chan, up, interactive, raw)
                async with trio.open_nursery() as outputs:
                    if sftp is not None:
                        outputs.start_soon(sftp.upstream_to_client)
                    else:
                        outputs.start_soon(self._output, up, chan, False, interactive, raw)
                    outputs.start_soon(self._output, up, chan, True, interactive, False)
                with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                    await self.thread(chan.shutdown_write)  # EOF once both streams ended
                status = await self.thread(up.recv_exit_status)
                assert isinstance(status, int)
                if status < 0 or (sftp is not None and sftp.failed):
                    status = ENDED_STATUS  # closed without a status, or ended by limen
                with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                    await self.thread(chan.send_exit_status, status)
                self.event({"event": "exit", "channel": chan.get_id(), "status": status})
                exited = True
                nursery.cancel_scope.cancel()
        finally:
            if not exited:
                await self._tell_end(chan)
            self.channels_up.pop(chan.get_id(), None)
            close_quietly(up)
            close_quietly(chan)

    def _sftp(self, item: ChannelRequest, up: paramiko.Channel) -> SftpRelay | None:
        req = item.request
        if req.kind != "subsystem" or req.command != "sftp":
            return None
        chan = item.channel
        return SftpRelay(
            chan,
            up,
            judge=self.judge,
            decide_file=lambda op, paths: self.decide_file(item, op, paths),
            thread=self.thread,
            touch=self.touch,
        )

    async def _tell_end(self, chan: paramiko.Channel) -> None:
        """The session is ending under a running channel (revoked, expired,
        drained): say why on its stderr, exit status 255 (bounded, shielded)."""
        end = self.ended()
        if end is None:
            return
        hint = f"limen: hint: {end.hint}\n" if end.hint else ""
        text = f"limen: {end.message}\n{hint}".encode()
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(2),
            contextlib.suppress(OSError, EOFError, paramiko.SSHException),
        ):
            await self.thread(chan.sendall_stderr, text)
            await self.thread(chan.send_exit_status, ENDED_STATUS)

    def _streams(self, raw: bool) -> Callable[[], _native.Masker | None]:
        """The masker of a channel's stream now (a reload replaces ``masker``)."""
        return (lambda: None) if raw else (lambda: self.masker)

    async def _stdin(
        self, chan: paramiko.Channel, up: paramiko.Channel, interactive: bool, raw: bool
    ) -> None:
        moved = 0

        async def read() -> bytes:
            nonlocal moved
            data = await self.thread(chan.recv, READ)
            assert isinstance(data, bytes)
            if data:
                self.touch()
                moved += len(data)
                with self.counting:
                    self.counted.inbound += len(data)
                await self.thread(send_all, up, data)  # upstream gets the bot's bytes as sent
            return data

        async def record(data: bytes, masked: bool) -> None:
            if not raw:
                self.recorder.append(C2U, data, masked=masked)

        quiet = QUIET_PTY if interactive else QUIET_EXEC
        await masked_copy(read, record, self._streams(raw), quiet, self.limiter)
        if raw:
            self.event({"event": "transfer", "channel": chan.get_id(), "c2u_bytes": moved})
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            await self.thread(up.shutdown_write)

    async def _output(
        self,
        up: paramiko.Channel,
        chan: paramiko.Channel,
        stderr: bool,
        interactive: bool,
        raw: bool,
    ) -> None:
        """stdout (stderr) of the upstream channel to the client, masked and
        recorded: the whole loop on one worker thread (``blocking_copy``),
        no thread hop per chunk."""
        moved = 0
        stop = False
        token = trio.lowlevel.current_trio_token()
        touched = 0.0

        def read(timeout: float | None) -> bytes | None:
            nonlocal touched
            data = recv_within(up, stderr, timeout)
            if data and (now := time.monotonic()) - touched >= TOUCH_EVERY:
                touched = now
                with contextlib.suppress(trio.RunFinishedError):
                    trio.from_thread.run_sync(self.touch, trio_token=token)
            return data

        def forward(data: bytes, masked: bool) -> None:
            nonlocal moved
            moved += len(data)
            with self.counting:
                self.counted.outbound += len(data)
            if not raw:
                self.recorder.append(U2C, data, masked=masked)
            send_all(chan, data, stderr)

        quiet = QUIET_PTY if interactive else QUIET_EXEC
        try:
            await self.thread(blocking_copy, read, forward, self._streams(raw), quiet, lambda: stop)
        finally:
            stop = True
        if raw:
            self.event({"event": "transfer", "channel": chan.get_id(), "u2c_bytes": moved})
