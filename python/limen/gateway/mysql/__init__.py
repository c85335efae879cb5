"""The MySQL/MariaDB session driver (see :mod:`limen.gateway.mysql.session`)."""

from limen.gateway.mysql.handshake import ServerKey, process_key
from limen.gateway.mysql.session import MySqlSession

__all__ = ["MySqlSession", "ServerKey", "process_key"]
