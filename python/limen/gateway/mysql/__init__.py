"""The MySQL/MariaDB driver: one module per job (see docs/architecture.md).

``judge.py`` (verdicts on client commands; their shape in ``verdict.py``),
``holds.py`` (waiting for approval), ``columns.py`` and ``colscan.py``
(column masks, the catalog and the token scans) and ``errors.py`` (ER codes
and ERR packets); the session, handshake, upstream and relay modules are the
driver's.
"""
