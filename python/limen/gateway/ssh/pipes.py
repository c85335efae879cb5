"""Channel receive buffers without paramiko's copies.

paramiko keeps what a channel received in a ``BufferedPipe`` over an
``array``: every packet's data is copied into the array, and every read
copies it out twice (a slice of the array, then ``tobytes``) and shifts
what is left. :class:`ChunkPipe` is the same pipe (paramiko's own lock,
condition, event, close and timeout code) over a list of the ``bytes``
objects the transport handed it: a read of everything buffered returns the
one ``bytes`` as it came (no copy) or joins several (one copy).

Every channel of limen's transports gets two (stdout and stderr) as it is
created: :class:`ChunkChannels` replaces paramiko's channel map and swaps
them in when a channel is registered, before the transport can feed it.

Tests: ``tests/test_ssh_pipes.py`` (the same feeds and reads through
``BufferedPipe`` and :class:`ChunkPipe` give the same bytes).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import paramiko
from paramiko.buffered_pipe import BufferedPipe
from paramiko.transport import ChannelMap

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["ChunkChannels", "ChunkPipe", "Chunks"]


class Chunks:
    """The bytes a pipe holds, as the ``bytes`` objects fed: what
    ``BufferedPipe`` asks of its ``array`` (length, a copy of the first
    ``limit`` bytes, deleting the first ``n``)."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: deque[bytes] = deque()
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def append(self, data: ReadableBuffer) -> None:
        part = data if type(data) is bytes else bytes(data)
        if part:
            self.parts.append(part)
            self.size += len(part)

    def head(self, limit: int | None = None) -> bytes:
        """The first ``limit`` bytes (all without one); nothing removed."""
        parts = self.parts
        if limit is None or limit >= self.size:
            if len(parts) == 1:
                return parts[0]
            return b"".join(parts)
        if limit <= 0:
            return b""
        first = parts[0]
        if limit <= len(first):
            return first[:limit]
        out = []
        left = limit
        for part in parts:
            if len(part) >= left:
                out.append(part[:left])
                break
            out.append(part)
            left -= len(part)
        return b"".join(out)

    def __delitem__(self, where: slice) -> None:
        """``del chunks[:n]`` (``del chunks[:]``: everything)."""
        n = self.size if where.stop is None else min(where.stop, self.size)
        if where.start not in (None, 0) or where.step not in (None, 1) or n < 0:
            raise ValueError("only the first bytes can be deleted")
        parts = self.parts
        if n == self.size:
            parts.clear()
            self.size = 0
            return
        self.size -= n
        while n:
            first = parts[0]
            if len(first) > n:
                parts[0] = first[n:]
                return
            parts.popleft()
            n -= len(first)


if TYPE_CHECKING:
    _Pipe = BufferedPipe[bytes]
else:
    _Pipe = BufferedPipe  # generic only in paramiko's stubs


class ChunkPipe(_Pipe):
    """paramiko's ``BufferedPipe`` holding :class:`Chunks` (its own
    locking, waiting, timeouts, events and close)."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks = Chunks()
        self._buffer = self._chunks  # paramiko's own code reads it by this name

    def _buffer_frombytes(self, data: ReadableBuffer) -> None:
        self._chunks.append(data)

    def _buffer_tobytes(self, limit: int | None = None) -> bytes:
        return self._chunks.head(limit)


class ChunkChannels(ChannelMap):
    """paramiko's channel map, giving each channel :class:`ChunkPipe`
    buffers as it is registered (paramiko registers a channel before it
    sends or accepts the open, so nothing was fed to it yet)."""

    def put(self, chanid: int, chan: paramiko.Channel) -> None:
        if type(chan.in_buffer) is BufferedPipe and not len(chan.in_buffer):
            chan.in_buffer = ChunkPipe()
        if type(chan.in_stderr_buffer) is BufferedPipe and not len(chan.in_stderr_buffer):
            chan.in_stderr_buffer = ChunkPipe()
        super().put(chanid, chan)
