"""The MySQL/MariaDB driver: one module per job (see docs/architecture.md).

The driver's: ``session.py`` (:class:`MySqlSession`), ``handshake.py``
(limen's greeting, TLS, the token), ``upstream.py`` (connect, TLS, login,
one-off queries), ``relay_trio.py`` (the command loop), ``changeuser.py``
(COM_CHANGE_USER), ``ending.py`` (fatal ends as ERR packets), ``wire.py``
(packets over a Trio stream). The policy side: ``judge.py`` (verdicts on
client commands; their shape in ``verdict.py``), ``holds.py`` (waiting for
approval), ``columns.py`` and ``colscan.py`` (column masks, the catalog and
the token scans) and ``errors.py`` (ER codes and ERR packets).
"""

from limen.gateway.mysql.handshake import ServerKey, process_key
from limen.gateway.mysql.session import MySqlSession

__all__ = ["MySqlSession", "ServerKey", "process_key"]
