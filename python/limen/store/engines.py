"""The store's engines: SQLite (one gateway) and PostgreSQL (a fleet), and
:func:`open_store` for a ``[gateway] state`` URL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from limen.store.approvals import Store
from limen.store.records import StoreError

__all__ = ["PostgresStore", "SQLiteStore", "open_store"]


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

    _FOR_UPDATE = " FOR UPDATE"

    def _schema_lock(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(7315006001)")

    def _slot_lock(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(7315006002)")

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
