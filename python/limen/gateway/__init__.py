"""The gateway's listeners and sessions (Trio); see docs/architecture.md.

``server.py`` (listeners) -> ``postgres/``, ``mysql/``, ``http/`` (the drivers) ->
``session.py`` (the protocol-neutral skeleton), ``judging.py``,
``holds.py``, ``services.py`` (what a session needs from the gateway).
"""

from limen.gateway.http import HttpSession
from limen.gateway.postgres import PgSession
from limen.gateway.server import (
    HttpGateway,
    JsonLog,
    Listener,
    MySqlGateway,
    PgGateway,
    SshGateway,
)
from limen.gateway.services import Services
from limen.gateway.session import Session, SessionEnd

__all__ = [
    "HttpGateway",
    "HttpSession",
    "JsonLog",
    "Listener",
    "MySqlGateway",
    "PgGateway",
    "PgSession",
    "Services",
    "Session",
    "SessionEnd",
    "SshGateway",
]
