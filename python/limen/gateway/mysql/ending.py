"""How a MySQL session's fatal end reads to the client: the skeleton's end
codes (SQLSTATEs, PostgreSQL's vocabulary) as MySQL ERR packets a client
shows (``ERROR 1045 (28000): ...``).

:class:`MySqlRefusal` is a :class:`~limen.gateway.session.SessionEnd` that
names its MySQL error number itself (e.g. 3159 for "TLS required"); every
other end is mapped by :data:`END_ERRORS`.
"""

from __future__ import annotations

from limen import _native
from limen.gateway.session import SessionEnd

__all__ = ["END_ERRORS", "MySqlRefusal", "err_packet", "mysql_error"]

#: end code -> (MySQL error number, SQLSTATE). Unlisted codes: 1105 HY000.
END_ERRORS: dict[str, tuple[int, str]] = {
    "28P01": (1045, "28000"),  # token refused or expired: ER_ACCESS_DENIED_ERROR
    "28000": (1045, "28000"),
    "3D000": (1049, "42000"),  # no such resource: ER_BAD_DB_ERROR
    "53300": (1203, "42000"),  # too many connections: ER_TOO_MANY_USER_CONNECTIONS
    "57P05": (4031, "HY000"),  # idle: ER_CLIENT_INTERACTION_TIMEOUT
    "57P01": (1053, "08S01"),  # shutting down: ER_SERVER_SHUTDOWN
    "08006": (2013, "HY000"),  # upstream lost: CR_SERVER_LOST's number
    "08P01": (1835, "08S01"),  # protocol error: ER_MALFORMED_PACKET
    "0A000": (1235, "42000"),  # not supported: ER_NOT_SUPPORTED_YET
    "58030": (1105, "HY000"),  # recording failed
    "XX000": (1105, "HY000"),
}


class MySqlRefusal(SessionEnd):
    """A fatal end with its own MySQL error number and SQLSTATE."""

    def __init__(
        self,
        code: str,
        errno: int,
        sql_state: str,
        message: str,
        hint: str | None = None,
    ) -> None:
        super().__init__(code, message, hint)
        self.errno = errno
        self.sql_state = sql_state


def mysql_error(end: SessionEnd) -> tuple[int, str]:
    """The error number and SQLSTATE of ``end``."""
    if isinstance(end, MySqlRefusal):
        return end.errno, end.sql_state
    return END_ERRORS.get(end.code, (1105, "HY000"))


def err_packet(seq: int, end: SessionEnd) -> bytes:
    """``end`` as one framed ERR packet with sequence id ``seq``: the
    message says it comes from limen, and the hint follows it."""
    errno, state = mysql_error(end)
    text = f"limen: {end.message}"
    if end.hint:
        text += f" ({end.hint})"
    return _native.mysql_packet(seq, _native.mysql_encode_err(errno, state, text.encode())).data
