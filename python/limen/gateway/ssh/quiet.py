"""A channel's stream through the masker, released when it goes quiet.

The masker holds back the tail of a stream (up to its longest pattern,
about 2 KiB with the built-in detectors) until more bytes show that no
secret is split there. A program that prints a line and waits (a prompt,
``tail -f``, a progress line) would have it held until more output came.
:func:`masked_copy` releases what the masker holds, masked as at the end
of a stream, once the stream stayed quiet for ``quiet`` seconds; the next
bytes start a new masker stream. The trade-off (docs/ssh.md): a secret
whose halves arrive more than ``quiet`` seconds apart is masked only where
each half is recognisable alone.

Two implementations of the same copy:

- :func:`masked_copy` (a channel's stdin): reading runs in its own task
  (one chunk ahead), so the quiet timer is a Trio timeout (testable under
  ``trio.testing.MockClock``) and no read is ever abandoned mid-way.
- :func:`blocking_copy` (a channel's stdout and stderr, the bulk): the
  whole loop on one worker thread, the quiet timer the read's own timeout;
  no Trio task switch or thread hop per chunk (``masked_copy`` costs two
  or three: read, mask, send).

``tests/test_ssh_quiet.py`` runs the same scripts (chunks, quiet gaps,
masker changes) through both and compares what they emit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from limen import _native

__all__ = ["QUIET_EXEC", "QUIET_PTY", "blocking_copy", "masked_copy"]

QUIET_PTY = 0.05
"""Seconds a terminal's (pty) stream stays quiet before the release: a
terminal waits for its user."""
OFFLOAD = 64 << 10
"""Chunks this large are masked on a worker thread (:func:`_feed`)."""
QUIET_EXEC = 0.25
"""The same for channels without a pty (exec, subsystems): longer, so a
program's own pauses between writes rarely split a secret."""


async def masked_copy(
    read: Callable[[], Awaitable[bytes]],
    emit: Callable[[bytes, bool], Awaitable[None]],
    masker: Callable[[], _native.Masker | None],
    quiet: float,
    limiter: trio.CapacityLimiter | None = None,
) -> None:
    """Copies ``read()`` (until it returns b"") to ``emit(data, masked)``
    through a stream of the masker ``masker()`` gives (none: as read),
    releasing held-back bytes after ``quiet`` seconds without input. When
    ``masker()`` gives another masker (a reload), what the old one held
    back is released, masked, before the next chunk goes through the new.
    Large chunks are masked on a worker thread of ``limiter`` (Trio's
    default: None)."""
    send, receive = trio.open_memory_channel[bytes](1)
    async with trio.open_nursery() as nursery:

        async def reader() -> None:
            async with send:
                while data := await read():
                    await send.send(data)

        nursery.start_soon(reader)
        current = masker()
        stream = current.stream() if current is not None else None
        async with receive:
            while True:
                if stream is not None and stream.pending:
                    data = None
                    with trio.move_on_after(quiet):
                        data = await _next(receive)
                    if data is None:
                        await _emit(emit, stream.finish(), True)
                        stream = current.stream() if current is not None else None
                        continue
                else:
                    data = await _next(receive)
                if masker() is not current:
                    if stream is not None:
                        await _emit(emit, stream.finish(), True)
                    current = masker()
                    stream = current.stream() if current is not None else None
                if not data:
                    if stream is not None:
                        await _emit(emit, stream.finish(), True)
                    return
                if stream is None:
                    await _emit(emit, data, False)
                else:
                    await _emit(emit, await _feed(stream, data, limiter), True)


async def _feed(
    stream: _native.MaskStream, data: bytes, limiter: trio.CapacityLimiter | None
) -> bytes:
    """``stream.feed(data)``; a large chunk on a worker thread (the masker
    lets go of the GIL there), so masking 1 MiB never stalls the Trio
    loop, and every other session on it, for the scan's length. Not
    abandoned on cancel: the stream is whole again when this returns."""
    if len(data) < OFFLOAD:
        return stream.feed(data)
    return await trio.to_thread.run_sync(stream.feed, data, limiter=limiter)


async def _next(receive: trio.MemoryReceiveChannel[bytes]) -> bytes:
    try:
        return await receive.receive()
    except trio.EndOfChannel:
        return b""


async def _emit(emit: Callable[[bytes, bool], Awaitable[None]], data: bytes, masked: bool) -> None:
    if data:
        await emit(data, masked)


def blocking_copy(
    read: Callable[[float | None], bytes | None],
    emit: Callable[[bytes, bool], None],
    masker: Callable[[], _native.Masker | None],
    quiet: float,
    stopped: Callable[[], bool] = lambda: False,
) -> None:
    """:func:`masked_copy` on the calling (worker) thread: ``read(timeout)``
    blocks for the next chunk (b"" at the end), or returns None once
    ``timeout`` seconds passed without one (asked only while the masker
    holds bytes back); ``emit(data, masked)`` forwards. Stops without
    emitting more once ``stopped()`` says so (the Trio side was
    cancelled)."""
    current = masker()
    stream = current.stream() if current is not None else None
    while True:
        data = read(quiet if stream is not None and stream.pending else None)
        if stopped():
            return
        if data is None:
            if stream is not None:
                _emit_now(emit, stream.finish(), True)
            stream = current.stream() if current is not None else None
            continue
        if masker() is not current:
            if stream is not None:
                _emit_now(emit, stream.finish(), True)
            current = masker()
            stream = current.stream() if current is not None else None
        if not data:
            if stream is not None:
                _emit_now(emit, stream.finish(), True)
            return
        if stream is None:
            _emit_now(emit, data, False)
        else:
            _emit_now(emit, stream.feed(data), True)


def _emit_now(emit: Callable[[bytes, bool], None], data: bytes, masked: bool) -> None:
    if data:
        emit(data, masked)
