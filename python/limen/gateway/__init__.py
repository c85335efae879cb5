"""The gateway's listeners and sessions (Trio). PostgreSQL first:
:class:`PgGateway` (``server.py``) and :class:`PgSession` (``pg.py``)."""

from limen.gateway.pg import PgSession, SessionEnd
from limen.gateway.server import JsonLog, PgGateway

__all__ = [
    "JsonLog",
    "PgGateway",
    "PgSession",
    "SessionEnd",
]
