"""PostgreSQL cancel keys: limen's own BackendKeyData per session.

A client gets limen's key, never the upstream's. A CancelRequest arrives
on a new connection (:mod:`limen.gateway.postgres.handshake`); the
listener's :class:`CancelKeys` finds the session that owns the key, which
withdraws its statement waiting for approval if there is one, else
forwards a CancelRequest with the upstream's key (:func:`send_cancel`).
Keys are per process (a fleet's load balancer must send a CancelRequest to
the node that owns the session, as with pgbouncer).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Protocol

import trio

from limen import _native
from limen.gateway.services import UpstreamOpener

__all__ = ["CancelKeys", "CancelTarget", "send_cancel"]

Key = tuple[int, bytes]


class CancelTarget(Protocol):
    """What a cancel key leads to (a PostgreSQL session)."""

    @property
    def session_id(self) -> str: ...

    def cancel_hold(self) -> bool:
        """Withdraws a statement waiting for approval (True), if any."""

    async def cancel_upstream(self) -> None:
        """Forwards a CancelRequest for the session's upstream backend."""


class CancelKeys:
    """The listener's cancel keys -> sessions."""

    def __init__(self, log: Callable[..., None]) -> None:
        self.log = log
        self._keys: dict[Key, CancelTarget] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def new(self, target: CancelTarget) -> Key:
        """A fresh key for ``target`` (process id, 4-byte secret)."""
        while True:
            key = (secrets.randbelow(2**31 - 1) + 1, secrets.token_bytes(4))
            if key not in self._keys:
                self._keys[key] = target
                return key

    def drop(self, key: Key) -> None:
        self._keys.pop(key, None)

    async def forward(self, process_id: int, secret_key: bytes) -> None:
        """A CancelRequest from a client: withdraw a hold or cancel upstream."""
        target = self._keys.get((process_id, secret_key))
        if target is None:
            self.log("cancel_ignored", reason="unknown key")
            return
        if target.cancel_hold():
            self.log("cancel_withdrew_hold", session=target.session_id)
            return
        await target.cancel_upstream()


async def send_cancel(
    open_upstream: UpstreamOpener, address: tuple[str, int], key: Key, timeout: float
) -> bool:
    """Sends a CancelRequest for ``key`` to the upstream at ``address``;
    False when it could not be reached."""
    host, port = address
    with trio.move_on_after(timeout):
        try:
            stream = await open_upstream(host, port)
        except OSError:
            return False
        try:
            await stream.send_all(_native.pg_cancel_request(*key))
            await stream.receive_some(16)
        except (trio.BrokenResourceError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)
    return True
