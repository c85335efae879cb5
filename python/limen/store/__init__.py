"""The state store: the session index, the audit log, approvals and grants.

SQLite (the embedded default, ``state = "sqlite:///…"``) for one gateway;
PostgreSQL (``state = "postgresql://…"``) for a fleet of gateways that share
state. Both speak the same small schema, created on first use. Calls are
synchronous and short; Trio code runs them with ``trio.to_thread.run_sync``.

Approvals are fleet-safe by construction: every change of a request is one
transaction that reads the row under a lock (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers) and changes it
only while it is still ``pending``. So when a vote, a timeout and a
withdrawal race — in one process or in two — exactly one of them decides,
and every party reads the same final status.
"""

from limen.store.approvals import Store
from limen.store.engines import PostgresStore, SQLiteStore, open_store
from limen.store.nodes import LOST, LostNode
from limen.store.records import (
    APPROVAL_STATUSES,
    REVOCATION_KINDS,
    SCHEMA_VERSION,
    ApprovalError,
    ApprovalRequest,
    Grant,
    Revocation,
    SessionRecord,
    StoreError,
    Vote,
)

__all__ = [
    "APPROVAL_STATUSES",
    "LOST",
    "REVOCATION_KINDS",
    "SCHEMA_VERSION",
    "ApprovalError",
    "ApprovalRequest",
    "Grant",
    "LostNode",
    "PostgresStore",
    "Revocation",
    "SQLiteStore",
    "SessionRecord",
    "Store",
    "StoreError",
    "Vote",
    "open_store",
]
