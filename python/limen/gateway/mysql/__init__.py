"""The MySQL/MariaDB driver: one module per job (see docs/architecture.md).

``judge.py`` (verdicts on client commands), ``holds.py`` (waiting for
approval), ``columns.py`` (column masks and the catalog) and ``errors.py``
(ER codes and ERR packets); the session, handshake, upstream and relay
modules are the driver's.
"""
