"""Trio streams as sockets for paramiko.

paramiko runs its transports on threads over blocking sockets; limen's
connections are Trio streams (a listener's socket, or a memory stream in
tests, through ``Services.open_upstream``). :func:`bridge` gives paramiko
one end of a socket pair and pumps bytes between the other end and the
Trio stream until either side closes. Every read is capped at
:data:`CHUNK`; nothing is buffered beyond the socket pair's own buffers.
"""

from __future__ import annotations

import contextlib
import socket

import trio

__all__ = ["CHUNK", "Counted", "Detached", "bridge"]

CHUNK = 65536


class Counted:
    """Bytes moved each way by one bridge."""

    def __init__(self) -> None:
        self.inbound = 0
        """From the Trio stream (the peer) to paramiko."""
        self.outbound = 0


class Detached(trio.abc.Stream):
    """Stands in for a connection a bridge owns: writes are dropped, reads
    see the end, closing closes the real connection."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        return b""

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


async def _copy(
    src: trio.abc.ReceiveStream, dst: trio.abc.SendStream, counted: Counted, inbound: bool
) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        while data := await src.receive_some(CHUNK):
            if inbound:
                counted.inbound += len(data)
            else:
                counted.outbound += len(data)
            await dst.send_all(data)


async def bridge(
    stream: trio.abc.Stream,
    counted: Counted,
    *,
    task_status: trio.TaskStatus[socket.socket] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Pumps ``stream`` to and from a socket pair until one side ends;
    ``nursery.start(bridge, stream, counted)`` returns paramiko's end."""
    ours, theirs = socket.socketpair()
    local = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    try:
        task_status.started(theirs)
        async with trio.open_nursery() as nursery:

            async def one_way(
                src: trio.abc.ReceiveStream, dst: trio.abc.SendStream, inbound: bool
            ) -> None:
                await _copy(src, dst, counted, inbound)
                nursery.cancel_scope.cancel()

            nursery.start_soon(one_way, stream, local, True)
            nursery.start_soon(one_way, local, stream, False)
    finally:
        await trio.aclose_forcefully(local)
