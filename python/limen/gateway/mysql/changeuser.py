"""``COM_CHANGE_USER``: re-authentication with a token, or a refusal.

limen answers with an AuthSwitchRequest to ``caching_sha2_password`` (a
fresh scramble) and reads the token the same way as at login (clear over
TLS, RSA on plaintext loopback, :func:`~limen.gateway.mysql.handshake.receive_token`).
The new token must be valid and name the same identity (issuer and
subject) as the session's, and the database must be the session's
resource (or none): the session's policy, recording and upstream stay what
they are. The upstream session is reset (``COM_RESET_CONNECTION``, as
MySQL resets a changed user's session) and the client gets an OK. Any
refusal is an ERR (``1045 28000`` for the token) and ends the session: a
client whose change of user failed has no user to go on with. The session
still ends when its first token expires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from limen import _native
from limen.config import Resource
from limen.gateway.mysql.ending import MySqlRefusal
from limen.gateway.mysql.handshake import (
    ServerKey,
    new_scramble,
    receive_token,
    verify_token,
)
from limen.gateway.mysql.wire import Packets
from limen.gateway.services import Services
from limen.identity import Identity

__all__ = ["ChangeUserSide", "change_user"]


class ChangeUserSide(Protocol):
    """What a change of user reads and changes (a MySqlSession)."""

    client: trio.abc.Stream
    tls: bool
    peer_host: str
    services: Services
    packets: Packets
    key: ServerKey
    caps: int
    identity: Identity | None
    resource: Resource | None

    def event(self, obj: dict[str, object]) -> None: ...


async def change_user(
    side: ChangeUserSide,
    packet: _native.MySqlPacket,
    reset_upstream: Callable[[], Awaitable[int]],
) -> None:
    """Handles one COM_CHANGE_USER packet (see the module docs)."""
    assert side.identity is not None
    assert side.resource is not None
    cmd = _native.mysql_parse_command(packet.payload, side.caps)
    if not isinstance(cmd, _native.MySqlChangeUser):
        raise _native.MySqlProtocolError("expected COM_CHANGE_USER")
    user = cmd.username.decode("utf-8", "replace")
    database = cmd.database.decode("utf-8", "replace")
    resource = side.resource
    scramble = new_scramble()
    token = await receive_token(side, side.key, scramble, None, b"")
    identity = await verify_token(side.services, token, user, resource.name)
    if (identity.issuer, identity.subject) != (side.identity.issuer, side.identity.subject):
        side.services.auth_refused("mysql", "other_identity", resource=resource.name)
        raise MySqlRefusal(
            "28P01",
            1045,
            "28000",
            f"Access denied for user {user!r}: a session keeps its identity",
            "open a new connection for another identity",
        )
    if database and database != resource.name:
        raise MySqlRefusal(
            "28000",
            1044,  # ER_DBACCESS_DENIED_ERROR
            "42000",
            f"a session keeps its resource ({resource.name!r}), not {database!r}",
            "open a new connection for another resource",
        )
    status = await reset_upstream()
    side.event({"event": "change_user", "subject": identity.subject})
    await side.packets.send(_native.mysql_encode_ok(side.caps, status=status))
