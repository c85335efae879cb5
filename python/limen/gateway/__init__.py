"""The gateway's listeners and sessions (Trio); see docs/architecture.md.

``server.py`` (listeners) -> ``postgres/`` (the PostgreSQL driver) ->
``session.py`` (the protocol-neutral skeleton), ``judging.py``,
``holds.py``, ``services.py`` (what a session needs from the gateway).
"""

from limen.gateway.postgres import PgSession
from limen.gateway.server import JsonLog, Listener, MySqlGateway, PgGateway
from limen.gateway.services import Services
from limen.gateway.session import Session, SessionEnd

__all__ = [
    "JsonLog",
    "Listener",
    "MySqlGateway",
    "PgGateway",
    "PgSession",
    "Services",
    "Session",
    "SessionEnd",
]
