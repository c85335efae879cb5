"""An sftp channel relayed packet by packet, each request judged.

The client's bytes are cut into SFTP packets (:mod:`limen.gateway.ssh.
sftp`); every request that names a path (``open`` for reading or writing,
``opendir``, ``stat``, ``remove``, ``rename``, ``mkdir``, …) is recorded
and judged by the rules' ``@sftp OP PATH`` patterns
(:func:`limen.policy.ssh.decide_file`): an allowed one goes upstream, a
held one waits in place (the notice on the channel's stderr), a refused
one gets a ``PERMISSION_DENIED`` status from limen (and ``limen: …`` on
stderr) and never reaches the server. Requests on a handle (read, write,
close, …) go through when the handle came from a judged ``open``;
``fsetstat`` is judged as ``setstat`` of the handle's path. Unknown
requests and extensions are refused; bytes that do not parse end the
channel (fail closed).

The server's replies are cut into packets too, so a status limen answers
never lands inside one of the server's packets. File contents pass
unmasked and are not recorded (masking would change the protocol's
lengths and the files); the recording holds every operation, its
decision, and the byte counts (docs/ssh.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence

import paramiko
import trio

from limen.gateway.ssh.bridge import READ, close_quietly, send_all
from limen.gateway.ssh.sftp import (
    CLOSE,
    FX_PERMISSION_DENIED,
    HANDLE,
    Framer,
    Op,
    SftpError,
    client_op,
    handle_of,
    reply_id,
    status_packet,
)
from limen.policy import Decision

__all__ = ["MAX_HANDLES", "SftpRelay"]

MAX_HANDLES = 1024
"""Open handles limen tracks per channel; more end the channel."""

#: ``await judge(chan, text, kind, decide)``: None to run, else the refusal.
Judge = Callable[[paramiko.Channel, str, str, Callable[[], Decision]], Awaitable[str | None]]
#: ``decide_file(op, paths)``.
DecideFile = Callable[[str, Sequence[str]], Decision]
#: ``await thread(fn, *args)``: a blocking paramiko call on a worker thread.
Thread = Callable[..., Awaitable[object]]


class SftpRelay:
    """One sftp channel's two directions (module docs): the channel runs
    :meth:`client_to_upstream` and :meth:`upstream_to_client`."""

    def __init__(
        self,
        chan: paramiko.Channel,
        up: paramiko.Channel,
        *,
        judge: Judge,
        decide_file: DecideFile,
        thread: Thread,
        touch: Callable[[], None],
    ) -> None:
        self.chan = chan
        self.up = up
        self.judge = judge
        self.decide_file = decide_file
        self.thread = thread
        self.touch = touch
        self.lock = trio.Lock()
        """Held while bytes go to the client: whole packets only."""
        self.opening: dict[int, str] = {}
        """Request ids of allowed opens, to the path they open."""
        self.handles: dict[bytes, str] = {}
        self.started = False
        self.failed = False
        self.sent_up = 0
        self.sent_down = 0

    async def guarded(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Runs one direction; bytes that do not parse end the channel:
        ``limen: …`` on its stderr, the upstream channel closed."""
        try:
            await fn()
        except SftpError as exc:
            self.failed = True
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                text = f"limen: ended the sftp channel: {exc}\n"
                await self.thread(self.chan.sendall_stderr, text.encode())
            close_quietly(self.up)

    async def client_to_upstream(self) -> None:
        await self.guarded(self._client_to_upstream)

    async def upstream_to_client(self) -> None:
        await self.guarded(self._upstream_to_client)

    async def _to_client(self, packets: list[bytes]) -> None:
        data = b"".join(packets)
        if data:
            async with self.lock:
                await self.thread(send_all, self.chan, data)

    async def _client_to_upstream(self) -> None:
        framer = Framer()
        while True:
            data = await self.thread(self.chan.recv, READ)
            assert isinstance(data, bytes)
            if not data:
                break
            self.touch()
            out: list[bytes] = []
            for packet in framer.feed(data):
                op = client_op(packet)
                if await self._allowed(op, out):
                    out.append(packet)
                    self.sent_up += len(packet)
            if out:
                await self.thread(send_all, self.up, b"".join(out))
        if framer.pending:
            raise SftpError("the client ended inside a packet")
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            await self.thread(self.up.shutdown_write)

    async def _allowed(self, op: Op, out: list[bytes]) -> bool:
        """Whether ``op`` goes upstream; a refusal is answered here.
        ``out`` (the packets before it) is flushed before any wait."""
        if op.name == "init":
            if self.started:
                raise SftpError("a second SFTP init")
            self.started = True
            return True
        if not self.started:
            raise SftpError("an SFTP request before init")
        assert op.id is not None
        if op.handle is not None:
            path = self.handles.get(op.handle)
            if path is None:
                return await self._deny(op.id, "limen: denied: an sftp handle limen did not see\n")
            if op.kind == CLOSE:
                del self.handles[op.handle]
            if op.name != "setstat":
                return True
            paths: Sequence[str] = (path,)
        elif op.name == "free":
            return True
        elif op.name == "unknown":
            what = op.extension or f"request type {op.kind}"
            return await self._deny(op.id, f"limen: denied: an sftp {what} limen does not judge\n")
        else:
            paths = op.paths
        if out:
            await self.thread(send_all, self.up, b"".join(out))
            out.clear()
        text = " ".join(["@sftp", op.name, *paths])
        refusal = await self.judge(
            self.chan, text, "sftp", lambda: self.decide_file(op.name, paths)
        )
        if refusal is not None:
            return await self._deny(op.id, refusal)
        if op.name in ("read", "write", "list") and op.handle is None:
            self.opening[op.id] = paths[0]
        return True

    async def _deny(self, rid: int, refusal: str) -> bool:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            if refusal:
                await self.thread(self.chan.sendall_stderr, refusal.encode())
            first = refusal.splitlines()[0] if refusal else "limen: refused"
            await self._to_client([status_packet(rid, FX_PERMISSION_DENIED, first)])
        return False

    async def _upstream_to_client(self) -> None:
        framer = Framer()
        while True:
            data = await self.thread(self.up.recv, READ)
            assert isinstance(data, bytes)
            if not data:
                break
            self.touch()
            packets = framer.feed(data)
            for packet in packets:
                kind, rid = reply_id(packet)
                path = self.opening.pop(rid, None) if rid is not None else None
                if path is not None and kind == HANDLE:
                    if len(self.handles) >= MAX_HANDLES:
                        raise SftpError(f"more than {MAX_HANDLES} open sftp handles")
                    self.handles[handle_of(packet)] = path
                self.sent_down += len(packet)
            await self._to_client(packets)
        if framer.pending:
            raise SftpError("the server ended inside a packet")
