"""The state store: the session index and the audit log.

SQLite (the embedded default, ``state = "sqlite:///…"``) for one gateway;
PostgreSQL (``state = "postgresql://…"``) for a fleet of gateways that share
state. Both speak the same small schema, created on first use. Calls are
synchronous and short; Trio code runs them with ``trio.to_thread.run_sync``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

SCHEMA_VERSION = 1

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS limen_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS limen_sessions (
        id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        groups TEXT NOT NULL,
        resource TEXT NOT NULL,
        protocol TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        statements INTEGER NOT NULL DEFAULT 0,
        recording TEXT NOT NULL,
        node TEXT NOT NULL,
        end_reason TEXT
    )""",
    """CREATE INDEX IF NOT EXISTS limen_sessions_started ON limen_sessions (started_at)""",
    """CREATE TABLE IF NOT EXISTS limen_audit (
        at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        session_id TEXT,
        subject TEXT,
        data TEXT NOT NULL
    )""",
]


class StoreError(Exception):
    """The state store cannot be opened or used; the message says which."""


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded session in the index."""

    id: str
    subject: str
    groups: list[str]
    resource: str
    protocol: str
    started_at: float
    ended_at: float | None = None
    statements: int = 0
    recording: str
    node: str
    end_reason: str | None = None


# A constant: the only thing interpolated into SQL text in this module.
_COLUMNS = (
    "id, subject, groups, resource, protocol, started_at, ended_at, statements, "
    "recording, node, end_reason"
)


def _row_to_session(row: Sequence[Any]) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        subject=row[1],
        groups=json.loads(row[2]),
        resource=row[3],
        protocol=row[4],
        started_at=float(row[5]),
        ended_at=None if row[6] is None else float(row[6]),
        statements=int(row[7]),
        recording=row[8],
        node=row[9],
        end_reason=row[10],
    )


class Store(ABC):
    """What the gateway keeps outside a single process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        with self._cursor() as cur:
            for stmt in _SCHEMA:
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

    @abstractmethod
    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor in a transaction that commits when the block ends."""

    @staticmethod
    def _q(sql: str) -> str:
        return sql

    @abstractmethod
    def close(self) -> None: ...

    # -- sessions ---------------------------------------------------------------

    def session_started(self, rec: SessionRecord) -> None:
        with self._cursor() as cur:
            cur.execute(
                self._q(f"INSERT INTO limen_sessions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"),  # noqa: S608
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
                self._q(f"SELECT {_COLUMNS} FROM limen_sessions ORDER BY started_at DESC LIMIT ?"),  # noqa: S608
                (limit,),
            )
            return [_row_to_session(r) for r in cur.fetchall()]

    def session(self, id_or_prefix: str) -> SessionRecord:
        """The session with this id, or the one whose id starts with it (at
        least 6 characters, and it must be unambiguous)."""
        with self._cursor() as cur:
            cur.execute(
                self._q(f"SELECT {_COLUMNS} FROM limen_sessions WHERE id = ?"),  # noqa: S608
                (id_or_prefix,),
            )
            row = cur.fetchone()
            if row is not None:
                return _row_to_session(row)
            if len(id_or_prefix) < 6:
                raise StoreError(f"no session {id_or_prefix!r} (give at least 6 characters)")
            cur.execute(
                self._q(f"SELECT {_COLUMNS} FROM limen_sessions WHERE id LIKE ? LIMIT 2"),  # noqa: S608
                (id_or_prefix.replace("%", "").replace("_", "") + "%",),
            )
            rows = cur.fetchall()
        if not rows:
            raise StoreError(f"no session {id_or_prefix!r}")
        if len(rows) > 1:
            raise StoreError(f"session id prefix {id_or_prefix!r} is ambiguous")
        return _row_to_session(rows[0])

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


class SQLiteStore(Store):
    """The embedded store: one file, WAL mode, safe across threads of one
    process and across processes on one machine."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the SQLite state store {path}: {exc}") from None
        self.path = path
        super().__init__()

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._db.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def close(self) -> None:
        self._db.close()


class PostgresStore(Store):
    """The fleet store: every gateway process connects to one PostgreSQL."""

    def __init__(self, url: str) -> None:
        import psycopg

        try:
            self._db = psycopg.connect(url, autocommit=False, connect_timeout=10)
        except psycopg.Error as exc:
            # psycopg's message names host and database, never the password.
            raise StoreError(f"cannot open the PostgreSQL state store: {exc}".strip()) from None
        super().__init__()

    @staticmethod
    def _q(sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._lock, self._db.transaction(), self._db.cursor() as cur:
            yield cur

    def close(self) -> None:
        self._db.close()


def open_store(state: str, base_dir: Path | None = None) -> Store:
    """Opens the store a ``[gateway] state`` URL names."""
    if state.startswith("sqlite://"):
        path = Path(state.removeprefix("sqlite://")).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return SQLiteStore(path)
    if state.startswith(("postgresql://", "postgres://")):
        return PostgresStore(state)
    raise StoreError("state must be sqlite:///path or postgresql://…")
