"""Trio streams as sockets for paramiko.

paramiko runs its transports on threads over blocking sockets; limen's
connections are Trio streams (a listener's socket, or a memory stream in
tests, through ``Services.open_upstream``). :func:`bridge` gives paramiko
one end of a socket pair and pumps bytes between the other end and the
Trio stream until either side closes. Every read is capped at
:data:`CHUNK`; nothing is buffered beyond the socket pair's own buffers.
A plain TCP connection skips the bridge: :func:`handoff` gives paramiko a
duplicate of its socket.
"""

from __future__ import annotations

import contextlib
import os
import socket

import paramiko
import trio
from paramiko.buffered_pipe import PipeTimeout
from paramiko.common import cMSG_CHANNEL_WINDOW_ADJUST
from paramiko.message import Message

from limen.gateway.ssh.packets import ChannelData, GcmPacketizer

__all__ = [
    "BATCH",
    "CHUNK",
    "MAX_PACKET",
    "READ",
    "WINDOW",
    "Counted",
    "Detached",
    "bridge",
    "close_quietly",
    "handoff",
    "recv_within",
    "send_all",
]

CHUNK = 65536
"""The bridge's reads (socket to socket)."""
READ = 1 << 20
"""A channel relay's reads: what paramiko has buffered, up to 1 MiB (one
thread hop moves it all; the masker and the recording take it whole)."""
WINDOW = 8 << 20
"""The SSH channel window limen grants each peer (paramiko's default is
2 MiB): the upstream can run that far ahead of the client."""
MAX_PACKET = 128 << 10
"""The largest SSH data packet limen accepts (paramiko's default is 32
KiB; OpenSSH sends up to what is granted): fewer packets to decrypt."""
BATCH = 16
"""Packets :func:`send_all` seals and writes at once (window permitting):
16 of OpenSSH's 32 KiB packets, 512 KiB per socket write."""


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


async def handoff(stream: trio.abc.Stream) -> socket.socket | None:
    """paramiko's own socket for ``stream`` when it is a plain TCP
    connection (a duplicate of its descriptor; the Trio stream is closed,
    paramiko's socket now owns the connection), else None (then
    :func:`bridge` it). No bytes cross Trio: the fast path."""
    if type(stream) is not trio.SocketStream:
        return None
    sock = socket.socket(fileno=os.dup(stream.socket.fileno()))
    await trio.aclose_forcefully(stream)
    return sock


def close_quietly(chan: paramiko.Channel) -> None:
    """Closes a paramiko channel whose transport may be gone already (the
    client or upstream hung up as the channel ended): paramiko raises
    ``EOFError`` or ``OSError`` then, and there is nothing left to tell."""
    with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
        chan.close()


def recv_within(
    chan: paramiko.Channel, stderr: bool, timeout: float | None, nbytes: int = READ
) -> bytes | None:
    """``chan.recv(nbytes)`` (``recv_stderr``) waiting at most ``timeout``
    seconds (None: until data or the end): None when none came. paramiko's
    own timeout (``settimeout``) is one for every call on the channel,
    other threads' sends included; this one is this call's. The channel's
    window is adjusted as ``recv`` does it."""
    pipe = chan.in_stderr_buffer if stderr else chan.in_buffer
    try:
        data: bytes = pipe.read(nbytes, timeout)
    except PipeTimeout:
        return None
    grant = int(getattr(chan, "_check_add_window")(len(data)))  # noqa: B009  # paramiko's own
    if grant > 0:
        m = Message()
        m.add_byte(cMSG_CHANNEL_WINDOW_ADJUST)
        m.add_int(chan.remote_chanid)
        m.add_int(grant)
        transport = chan.get_transport()
        if transport is not None:
            getattr(transport, "_send_user_message")(m)  # noqa: B009
    return data


def send_all(chan: paramiko.Channel, data: bytes, stderr: bool = False) -> None:
    """``chan.sendall(data)`` (``sendall_stderr`` with ``stderr``) without
    its copies: paramiko slices off the rest of the buffer after every
    packet (a 1 MiB chunk in the client's 32 KiB packets copies 16 MiB),
    then copies each packet into a ``Message`` and out again. On limen's
    transports this takes the channel's window for up to :data:`BATCH`
    packets at once and hands the slice of ``data`` to the native seal
    (:class:`~limen.gateway.ssh.packets.ChannelData`: one call, one socket
    write, each byte copied once, into its packet); elsewhere it sends
    slices of one memoryview. A channel that can take no more (closed, EOF
    sent) raises ``OSError``, as ``sendall`` ends up doing."""
    transport = chan.get_transport()
    if transport is None or not isinstance(transport.packetizer, GcmPacketizer):
        send = chan.send_stderr if stderr else chan.send
        view = memoryview(data)
        while view:
            sent = send(view)  # type: ignore[arg-type]  # paramiko takes any buffer
            if sent <= 0:
                raise OSError("the channel is closed")
            view = view[sent:]
        return
    offset = 0
    while offset < len(data):
        sent = _send_batch(chan, transport, stderr, data, offset)
        if sent <= 0:
            raise OSError("the channel is closed")
        offset += sent


def _send_batch(
    chan: paramiko.Channel, transport: paramiko.Transport, stderr: bool, data: bytes, offset: int
) -> int:
    """paramiko's ``Channel._send`` for up to :data:`BATCH` packets: the
    window taken under the channel's lock (waiting for the first packet's
    only), then one :class:`ChannelData`. Bytes sent; 0 when the channel
    takes no more."""
    wait = getattr(chan, "_wait_for_send_window")  # noqa: B009  # paramiko's own
    left = len(data) - offset
    with chan.lock:
        if chan.closed:
            raise OSError("the channel is closed")
        chunk = int(wait(left))
        if chunk == 0:
            return 0
        taken = chunk
        for _ in range(BATCH - 1):
            if taken >= left or chan.out_window_size <= 0:
                break
            more = int(wait(left - taken))
            if more == 0:
                break
            taken += more
    message = ChannelData(chan.remote_chanid, 1 if stderr else None, data, offset, taken, chunk)
    getattr(transport, "_send_user_message")(message)  # noqa: B009
    return taken
