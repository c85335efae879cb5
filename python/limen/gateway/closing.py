"""Closing a database upstream: the protocol's goodbye first (PostgreSQL's
Terminate, MySQL's ``COM_QUIT``: the server then ends the backend at once
instead of logging an unexpected EOF), then the connection.

Used for a session's upstream and for the side connections a reload reads
the catalog on (``relive.py`` of both drivers).
"""

from __future__ import annotations

import contextlib

import trio

__all__ = ["say_goodbye"]


async def say_goodbye(stream: trio.abc.Stream, goodbye: bytes) -> None:
    """Sends ``goodbye`` (for a second at most; a connection already broken
    or closed is fine), then closes ``stream`` forcefully."""
    with trio.move_on_after(1):
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await stream.send_all(goodbye)
    await trio.aclose_forcefully(stream)
