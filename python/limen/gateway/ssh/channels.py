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
masker stream each (recorded ``u2c`` masked), then the exit status.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Callable

import msgspec
import paramiko
import trio

from limen import _native
from limen.approvals import ApprovalRequest, format_duration
from limen.gateway.holds import Holds
from limen.gateway.inrecord import record_statement
from limen.gateway.ssh.bridge import CHUNK
from limen.gateway.ssh.clientside import ChannelRequest
from limen.inmask import InputMasker
from limen.policy import Decision
from limen.recording import C2U, EVENT, U2C, Recorder

__all__ = ["REFUSED_STATUS", "ChannelRelay"]

REFUSED_STATUS = 1
"""The exit status of a refused request (denied, hold not approved)."""
QUIET = 0.05
"""Seconds an interactive (pty) channel's stream stays quiet before the
masker releases what it holds back: a terminal waits for its user."""


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
        mask_text: Callable[[bytes], str],
        upstream: paramiko.Transport,
        log: Callable[..., None],
        session_id: str,
        touch: Callable[[], None],
        limiter: trio.CapacityLimiter,
    ) -> None:
        self.recorder = recorder
        self.input_masker = input_masker
        self.masker = masker
        self.holds = holds
        self.decide = decide
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

    async def _thread(self, fn: Callable[..., object], *args: object) -> object:
        return await trio.to_thread.run_sync(
            fn, *args, abandon_on_cancel=True, limiter=self.limiter
        )

    def resize(self, chanid: int, width: int, height: int) -> None:
        """A client's window change, passed to its upstream channel."""
        up = self.channels_up.get(chanid)
        if up is not None:
            self._event({"event": "resize", "channel": chanid, "width": width, "height": height})
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                up.resize_pty(width, height)

    def _event(self, obj: dict[str, object]) -> None:
        self.recorder.append(EVENT, msgspec.json.encode(obj))

    async def serve(self, item: ChannelRequest) -> None:
        chan = item.channel
        req = item.request
        text = req.command if req.kind == "exec" else f"@{req.kind} {req.command}".strip()
        self.requests += 1
        record_statement(self.recorder, self.input_masker, text.encode("utf-8", "replace"))
        decision = self.decide(item)
        self._event(
            {
                "event": "decision",
                "action": decision.action,
                "rule": decision.rule,
                "class": decision.klass,
                "channel": chan.get_id(),
                "request": req.kind,
            }
        )
        if decision.action == "hold":
            decision = await self._hold(chan, decision, text)
            if decision.action != "allow":
                return
        elif decision.action != "allow":
            self.log(
                "decision",
                session=self.session_id,
                action=decision.action,
                rule=decision.rule,
                klass=decision.klass,
            )
            hint = f"limen: hint: {decision.hint}\n" if decision.hint else ""
            await self._refuse(chan, f"limen: {decision.message}\n{hint}")
            return
        await self._run(item)

    async def _refuse(self, chan: paramiko.Channel, text: str) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            await self._thread(chan.sendall_stderr, text.encode())
            await self._thread(chan.send_exit_status, REFUSED_STATUS)
        chan.close()

    async def _hold(self, chan: paramiko.Channel, decision: Decision, text: str) -> Decision:
        async def notify(created: ApprovalRequest, timeout: float) -> None:
            line = hold_text(created, decision.message, timeout)
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                await self._thread(chan.sendall_stderr, line.encode())

        async def watch() -> None:
            while not chan.closed and chan.get_transport() is not None:
                await trio.sleep(0.2)

        outcome = await self.holds.hold(
            decision, self.mask_text(text.encode("utf-8", "replace")), notify=notify, watch=watch
        )
        if outcome.gone:
            chan.close()
            return decision
        if outcome.run:
            return Decision(
                action="allow",
                rule=decision.rule,
                klass=decision.klass,
                classes=decision.classes,
                tables=decision.tables,
                message="approved",
            )
        await self._refuse(chan, f"limen: {outcome.message}\nlimen: hint: {outcome.hint}\n")
        return decision

    async def _run(self, item: ChannelRequest) -> None:
        chan = item.channel
        req = item.request
        try:
            up = await self._thread(self.upstream.open_session)
            assert isinstance(up, paramiko.Channel)
            if item.env:
                with contextlib.suppress(paramiko.SSHException):
                    await self._thread(up.update_environment, item.env)
            if item.pty is not None:
                p = item.pty
                await self._thread(
                    up.get_pty, p.term, p.width, p.height, p.pixel_width, p.pixel_height
                )
            if req.kind == "exec":
                await self._thread(up.exec_command, req.command)
            elif req.kind == "shell":
                await self._thread(up.invoke_shell)
            else:
                await self._thread(up.invoke_subsystem, req.command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            await self._refuse(chan, f"limen: the upstream refused the request: {exc}\n")
            return
        self.channels_up[chan.get_id()] = up
        if item.pty is not None:
            self._event(
                {
                    "event": "pty",
                    "channel": chan.get_id(),
                    "term": item.pty.term,
                    "width": item.pty.width,
                    "height": item.pty.height,
                }
            )
        try:
            async with trio.open_nursery() as nursery:
                interactive = item.pty is not None
                nursery.start_soon(self._stdin, chan, up, interactive)
                async with trio.open_nursery() as outputs:
                    outputs.start_soon(self._output, up, chan, False, interactive)
                    outputs.start_soon(self._output, up, chan, True, interactive)
                with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                    await self._thread(chan.shutdown_write)  # EOF once both streams ended
                status = await self._thread(up.recv_exit_status)
                assert isinstance(status, int)
                with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                    await self._thread(chan.send_exit_status, status)
                self._event({"event": "exit", "channel": chan.get_id(), "status": status})
                nursery.cancel_scope.cancel()
        finally:
            self.channels_up.pop(chan.get_id(), None)
            up.close()
            chan.close()

    async def _read(
        self, src: paramiko.Channel, stream: _native.MaskStream | None, interactive: bool
    ) -> bytes | None:
        """The next bytes of ``src`` (b"" at its end), or None when an
        interactive channel's masker holds bytes back and ``src`` stayed
        quiet for :data:`QUIET` seconds (the caller then releases them)."""
        if interactive and stream is not None and stream.pending:
            data = await self._thread(_recv_unless_quiet, src, QUIET)
        else:
            data = await self._thread(src.recv, CHUNK)
        assert data is None or isinstance(data, bytes)
        return data

    def _release(self, stream: _native.MaskStream) -> tuple[bytes, _native.MaskStream]:
        """What ``stream`` holds back, masked as at an end, and a new stream."""
        assert self.masker is not None
        return stream.finish(), self.masker.stream()

    async def _stdin(self, chan: paramiko.Channel, up: paramiko.Channel, interactive: bool) -> None:
        stream = self.masker.stream() if self.masker is not None else None
        while True:
            data = await self._read(chan, stream, interactive)
            if data is None:
                assert stream is not None
                held, stream = self._release(stream)
                self.recorder.append(C2U, held, masked=True)
                continue
            self.touch()
            if not data:
                break
            if stream is not None:
                self.recorder.append(C2U, stream.feed(data), masked=True)
            else:
                self.recorder.append(C2U, data)
            await self._thread(up.sendall, data)
        if stream is not None:
            self.recorder.append(C2U, stream.finish(), masked=True)
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            await self._thread(up.shutdown_write)

    async def _output(
        self, up: paramiko.Channel, chan: paramiko.Channel, stderr: bool, interactive: bool
    ) -> None:
        stream = self.masker.stream() if self.masker is not None else None
        send = chan.sendall_stderr if stderr else chan.sendall
        while True:
            if stderr:
                data: bytes | None = await self._thread(up.recv_stderr, CHUNK)  # type: ignore[assignment]
            else:
                data = await self._read(up, stream, interactive)
            if data is None:
                assert stream is not None
                out, stream = self._release(stream)
            else:
                self.touch()
                out = data if stream is None else (stream.feed(data) if data else stream.finish())
            if out:
                self.recorder.append(U2C, out, masked=stream is not None)
                await self._thread(send, out)
            if data is not None and not data:
                break


def _recv_unless_quiet(chan: paramiko.Channel, quiet: float) -> bytes | None:
    """``chan.recv`` once it has data (or ended); None after ``quiet``
    seconds without (on a worker thread; paramiko channels are selectable)."""
    ready, _, _ = select.select([chan], [], [], quiet)
    if not ready:
        return None
    return chan.recv(CHUNK)
