"""The PostgreSQL driver: one module per job (see docs/architecture.md).

:class:`PgSession` (``session.py``) runs the protocol-neutral skeleton of
:mod:`limen.gateway.session` with ``handshake.py`` (startup packets, TLS,
token), ``upstream.py`` (connect, TLS, login), ``columns.py`` (column masks
and the catalog), ``judge.py`` (verdicts and denial stand-ins),
``holds.py`` (the hold NOTICE and refusals), ``relay_trio.py`` and
``relay_pump.py`` (the two relays) and ``cancel.py`` (cancel keys).
"""

from limen.gateway.postgres.cancel import CancelKeys
from limen.gateway.postgres.session import PgSession

__all__ = ["CancelKeys", "PgSession"]
