"""The store's base: the schema created on first use, the session index
and the audit log. Approvals and grants: :mod:`limen.store.approvals`;
the engines: :mod:`limen.store.engines`."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from limen.store.records import (
    SCHEMA,
    SCHEMA_VERSION,
    SESSION_COLUMNS,
    SessionRecord,
    StoreError,
    row_to_session,
)

__all__ = ["StoreCore"]

_INSERT_SESSION = f"INSERT INTO limen_sessions ({SESSION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
_NEWEST_SESSIONS = f"SELECT {SESSION_COLUMNS} FROM limen_sessions ORDER BY started_at DESC LIMIT ?"  # noqa: S608


class StoreCore(ABC):
    """What the gateway keeps outside a single process: the schema, the
    session index and the audit log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        with self._cursor() as cur:
            self._schema_lock(cur)
            for stmt in SCHEMA:
                cur.execute(stmt)
            cur.execute(self._q("SELECT value FROM limen_meta WHERE key = ?"), ("schema",))
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    self._q("INSERT INTO limen_meta (key, value) VALUES (?, ?)"),
                    ("schema", str(SCHEMA_VERSION)),
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"state store schema {row[0]} is newer than this limen ({SCHEMA_VERSION}); "
                    "upgrade limen"
                )
            elif int(row[0]) < SCHEMA_VERSION:
                # Every version so far only added tables (created above).
                cur.execute(
                    self._q("UPDATE limen_meta SET value = ? WHERE key = ?"),
                    (str(SCHEMA_VERSION), "schema"),
                )

    @abstractmethod
    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor in a transaction that commits when the block ends."""

    @staticmethod
    def _q(sql: str) -> str:
        return sql

    def _schema_lock(self, cur: Any) -> None:  # noqa: B027 (optional hook)
        """Serialise schema creation between processes (SQLite's BEGIN
        IMMEDIATE already does)."""

    @abstractmethod
    def close(self) -> None: ...

    def ping(self) -> None:
        """One round trip to the store (readiness); raises when it fails."""
        with self._cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    # -- sessions ---------------------------------------------------------------

    def session_started(self, rec: SessionRecord) -> None:
        with self._cursor() as cur:
            cur.execute(
                self._q(_INSERT_SESSION),
                (
                    rec.id,
                    rec.subject,
                    json.dumps(rec.groups),
                    rec.resource,
                    rec.protocol,
                    rec.started_at,
                    rec.ended_at,
                    rec.statements,
                    rec.recording,
                    rec.node,
                    rec.end_reason,
                ),
            )

    def session_ended(
        self, session_id: str, *, ended_at: float, statements: int, reason: str
    ) -> None:
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    "UPDATE limen_sessions SET ended_at = ?, statements = ?, end_reason = ? "
                    "WHERE id = ?"
                ),
                (ended_at, statements, reason, session_id),
            )

    def sessions(self, limit: int = 100) -> list[SessionRecord]:
        """Newest first."""
        with self._cursor() as cur:
            cur.execute(
                self._q(_NEWEST_SESSIONS),
                (limit,),
            )
            return [row_to_session(r) for r in cur.fetchall()]

    def session(self, id_or_prefix: str) -> SessionRecord:
        """The session with this id, or the one whose id starts with it (at
        least 6 characters, and it must be unambiguous)."""
        with self._cursor() as cur:
            cur.execute(
                self._q(f"SELECT {SESSION_COLUMNS} FROM limen_sessions WHERE id = ?"),  # noqa: S608
                (id_or_prefix,),
            )
            row = cur.fetchone()
            if row is not None:
                return row_to_session(row)
            if len(id_or_prefix) < 6:
                raise StoreError(f"no session {id_or_prefix!r} (give at least 6 characters)")
            cur.execute(
                self._q(f"SELECT {SESSION_COLUMNS} FROM limen_sessions WHERE id LIKE ? LIMIT 2"),  # noqa: S608
                (id_or_prefix.replace("%", "").replace("_", "") + "%",),
            )
            rows = cur.fetchall()
        if not rows:
            raise StoreError(f"no session {id_or_prefix!r}")
        if len(rows) > 1:
            raise StoreError(f"session id prefix {id_or_prefix!r} is ambiguous")
        return row_to_session(rows[0])

    # -- audit -------------------------------------------------------------------

    def audit(
        self,
        kind: str,
        data: dict[str, Any],
        *,
        at: float,
        session_id: str | None = None,
        subject: str | None = None,
    ) -> None:
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    "INSERT INTO limen_audit (at, kind, session_id, subject, data) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (at, kind, session_id, subject, json.dumps(data, sort_keys=True)),
            )

    def audit_events(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    "SELECT at, kind, session_id, subject, data FROM limen_audit "
                    "ORDER BY at DESC LIMIT ?"
                ),
                (limit,),
            )
            return [
                {"at": r[0], "kind": r[1], "session_id": r[2], "subject": r[3], **json.loads(r[4])}
                for r in cur.fetchall()
            ]
