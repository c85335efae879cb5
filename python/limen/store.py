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

SCHEMA_VERSION = 2

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
    """CREATE TABLE IF NOT EXISTS limen_approvals (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        groups TEXT NOT NULL,
        resource TEXT NOT NULL,
        protocol TEXT NOT NULL,
        statement TEXT NOT NULL,
        class TEXT NOT NULL,
        rule TEXT NOT NULL,
        approvers TEXT NOT NULL,
        approvals_required INTEGER NOT NULL,
        requested_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        node TEXT NOT NULL,
        status TEXT NOT NULL,
        votes TEXT NOT NULL,
        decided_at DOUBLE PRECISION,
        decided_by TEXT,
        reason TEXT,
        grant_seconds DOUBLE PRECISION
    )""",
    """CREATE INDEX IF NOT EXISTS limen_approvals_status ON limen_approvals (status)""",
    """CREATE TABLE IF NOT EXISTS limen_grants (
        approval_id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        resource TEXT NOT NULL,
        class TEXT NOT NULL,
        rule TEXT NOT NULL,
        granted_by TEXT NOT NULL,
        granted_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    )""",
]

#: Statuses of an approval request; every one but ``pending`` is final.
APPROVAL_STATUSES = ("pending", "approved", "denied", "timed_out", "withdrawn")


class StoreError(Exception):
    """The state store cannot be opened or used; the message says which."""


class ApprovalError(Exception):
    """A vote that cannot be taken (unknown id, already decided, expired,
    self-approval, a second vote by the same approver); the message says
    which and is safe to show the approver."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
        """``not_found``, ``decided``, ``expired``, ``self_approval``, ``duplicate``."""


class Vote(msgspec.Struct, frozen=True, kw_only=True):
    """One approver's approval."""

    name: str
    at: float
    reason: str | None = None


class ApprovalRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A held statement waiting for humans (or the final word on one)."""

    id: str
    session_id: str
    subject: str
    issuer: str
    groups: list[str]
    resource: str
    protocol: str
    statement: str
    """Masked statement text (as the approver should see it)."""
    klass: str = msgspec.field(name="class")
    rule: str
    approvers: list[str]
    """Groups whose members may approve (checked by the admin API)."""
    approvals_required: int
    requested_at: float
    expires_at: float
    node: str
    status: str = "pending"
    votes: list[Vote] = msgspec.field(default_factory=list)
    decided_at: float | None = None
    decided_by: str | None = None
    """Who decided (the approvers joined with ", " for an approval)."""
    reason: str | None = None
    grant_seconds: float | None = None
    """An approval that also grants the class for this long."""


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """Just-in-time access: a class on a resource for one identity, until
    ``expires_at``, from an approval."""

    approval_id: str
    subject: str
    issuer: str
    resource: str
    klass: str = msgspec.field(name="class")
    rule: str
    granted_by: str
    granted_at: float
    expires_at: float


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


_APPROVAL_COLUMNS = (
    "id, session_id, subject, issuer, groups, resource, protocol, statement, class, rule, "
    "approvers, approvals_required, requested_at, expires_at, node, status, votes, "
    "decided_at, decided_by, reason, grant_seconds"
)
_GRANT_COLUMNS = (
    "approval_id, subject, issuer, resource, class, rule, granted_by, granted_at, expires_at"
)


def _row_to_approval(row: Sequence[Any]) -> ApprovalRequest:
    return ApprovalRequest(
        id=row[0],
        session_id=row[1],
        subject=row[2],
        issuer=row[3],
        groups=json.loads(row[4]),
        resource=row[5],
        protocol=row[6],
        statement=row[7],
        klass=row[8],
        rule=row[9],
        approvers=json.loads(row[10]),
        approvals_required=int(row[11]),
        requested_at=float(row[12]),
        expires_at=float(row[13]),
        node=row[14],
        status=row[15],
        votes=msgspec.json.decode(row[16], type=list[Vote]),
        decided_at=None if row[17] is None else float(row[17]),
        decided_by=row[18],
        reason=row[19],
        grant_seconds=None if row[20] is None else float(row[20]),
    )


def _row_to_grant(row: Sequence[Any]) -> Grant:
    return Grant(
        approval_id=row[0],
        subject=row[1],
        issuer=row[2],
        resource=row[3],
        klass=row[4],
        rule=row[5],
        granted_by=row[6],
        granted_at=float(row[7]),
        expires_at=float(row[8]),
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
            self._schema_lock(cur)
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

    # -- approvals ---------------------------------------------------------------

    _FOR_UPDATE = ""

    def approval_create(self, req: ApprovalRequest) -> None:
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    f"INSERT INTO limen_approvals ({_APPROVAL_COLUMNS}) "  # noqa: S608
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                ),
                (
                    req.id,
                    req.session_id,
                    req.subject,
                    req.issuer,
                    json.dumps(req.groups),
                    req.resource,
                    req.protocol,
                    req.statement,
                    req.klass,
                    req.rule,
                    json.dumps(req.approvers),
                    req.approvals_required,
                    req.requested_at,
                    req.expires_at,
                    req.node,
                    req.status,
                    msgspec.json.encode(req.votes).decode(),
                    req.decided_at,
                    req.decided_by,
                    req.reason,
                    req.grant_seconds,
                ),
            )

    def _approval_locked(self, cur: Any, approval_id: str) -> ApprovalRequest | None:
        cur.execute(
            self._q(
                f"SELECT {_APPROVAL_COLUMNS} FROM limen_approvals WHERE id = ?{self._FOR_UPDATE}"  # noqa: S608
            ),
            (approval_id,),
        )
        row = cur.fetchone()
        return None if row is None else _row_to_approval(row)

    def approval(self, approval_id: str) -> ApprovalRequest:
        """The request with this id (any status)."""
        with self._cursor() as cur:
            req = self._approval_locked(cur, approval_id)
        if req is None:
            raise ApprovalError(f"no approval request {approval_id!r}", kind="not_found")
        return req

    def approvals(self, *, pending_only: bool = True, limit: int = 200) -> list[ApprovalRequest]:
        """Newest first; by default only what still waits."""
        where = "WHERE status = 'pending' " if pending_only else ""
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    f"SELECT {_APPROVAL_COLUMNS} FROM limen_approvals {where}"  # noqa: S608
                    "ORDER BY requested_at DESC LIMIT ?"
                ),
                (limit,),
            )
            return [_row_to_approval(r) for r in cur.fetchall()]

    def approval_statuses(self, ids: Sequence[str]) -> dict[str, str]:
        """The status of each of ``ids`` that exists (one query)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._cursor() as cur:
            cur.execute(
                self._q(f"SELECT id, status FROM limen_approvals WHERE id IN ({marks})"),  # noqa: S608
                tuple(ids),
            )
            return {str(r[0]): str(r[1]) for r in cur.fetchall()}

    def _approval_update(self, cur: Any, req: ApprovalRequest) -> None:
        cur.execute(
            self._q(
                "UPDATE limen_approvals SET status = ?, votes = ?, decided_at = ?, "
                "decided_by = ?, reason = ?, grant_seconds = ? WHERE id = ?"
            ),
            (
                req.status,
                msgspec.json.encode(req.votes).decode(),
                req.decided_at,
                req.decided_by,
                req.reason,
                req.grant_seconds,
                req.id,
            ),
        )

    def approval_vote(
        self,
        approval_id: str,
        *,
        approver: str,
        approve: bool,
        now: float,
        reason: str | None = None,
        grant_seconds: float | None = None,
    ) -> ApprovalRequest:
        """One approver's word, atomically: a denial decides at once; an
        approval counts toward ``approvals_required`` distinct approvers and
        decides when the last one arrives (and then records the grant, if
        any approver asked for one: the shortest asked for wins). Raises
        :class:`ApprovalError` when the vote cannot be taken."""
        with self._cursor() as cur:
            req = self._approval_locked(cur, approval_id)
            if req is None:
                raise ApprovalError(f"no approval request {approval_id!r}", kind="not_found")
            if req.status != "pending":
                raise ApprovalError(
                    f"approval {req.id} is already {req.status.replace('_', ' ')}"
                    + (f" (by {req.decided_by})" if req.decided_by else ""),
                    kind="decided",
                )
            if now >= req.expires_at:
                raise ApprovalError(f"approval {req.id} has expired", kind="expired")
            if approver == req.subject:
                raise ApprovalError(
                    f"{approver} requested approval {req.id} and cannot decide it",
                    kind="self_approval",
                )
            if any(v.name == approver for v in req.votes):
                raise ApprovalError(
                    f"{approver} already approved {req.id}; it needs "
                    f"{req.approvals_required - len(req.votes)} more distinct approver(s)",
                    kind="duplicate",
                )
            if not approve:
                new = msgspec.structs.replace(
                    req, status="denied", decided_at=now, decided_by=approver, reason=reason
                )
            else:
                votes = [*req.votes, Vote(name=approver, at=now, reason=reason)]
                grants = [g for g in (req.grant_seconds, grant_seconds) if g is not None]
                grant = min(grants) if grants else None
                if len(votes) >= req.approvals_required:
                    new = msgspec.structs.replace(
                        req,
                        status="approved",
                        votes=votes,
                        decided_at=now,
                        decided_by=", ".join(v.name for v in votes),
                        reason=reason,
                        grant_seconds=grant,
                    )
                    if grant is not None and grant > 0:
                        self._grant_insert(cur, new, now, grant)
                else:
                    new = msgspec.structs.replace(req, votes=votes, grant_seconds=grant)
            self._approval_update(cur, new)
            return new

    def approval_finish(self, approval_id: str, *, status: str, now: float) -> ApprovalRequest:
        """End a request that nobody decided (``timed_out`` or ``withdrawn``)
        — only if it is still pending. Returns the final request either way:
        a decision that won the race is what the caller must honour."""
        if status not in ("timed_out", "withdrawn"):
            raise ValueError(f"approval_finish takes timed_out or withdrawn, not {status!r}")
        with self._cursor() as cur:
            req = self._approval_locked(cur, approval_id)
            if req is None:
                raise ApprovalError(f"no approval request {approval_id!r}", kind="not_found")
            if req.status != "pending":
                return req
            new = msgspec.structs.replace(req, status=status, decided_at=now)
            self._approval_update(cur, new)
            return new

    # -- grants ------------------------------------------------------------------

    def _grant_insert(self, cur: Any, req: ApprovalRequest, now: float, seconds: float) -> None:
        cur.execute(
            self._q(
                f"INSERT INTO limen_grants ({_GRANT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"  # noqa: S608
            ),
            (
                req.id,
                req.subject,
                req.issuer,
                req.resource,
                req.klass,
                req.rule,
                req.decided_by or "",
                now,
                now + seconds,
            ),
        )

    def grant_active(
        self, *, subject: str, issuer: str, resource: str, klass: str, now: float
    ) -> Grant | None:
        """The grant (the one lasting longest) that lets this identity run
        ``klass`` on ``resource`` now, if any."""
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    f"SELECT {_GRANT_COLUMNS} FROM limen_grants WHERE subject = ? AND "  # noqa: S608
                    "issuer = ? AND resource = ? AND class = ? AND expires_at > ? "
                    "ORDER BY expires_at DESC LIMIT 1"
                ),
                (subject, issuer, resource, klass, now),
            )
            row = cur.fetchone()
        return None if row is None else _row_to_grant(row)

    def grants(self, *, now: float | None = None) -> list[Grant]:
        """Grants still running at ``now`` (all of them when None), newest first."""
        with self._cursor() as cur:
            if now is None:
                cur.execute(
                    self._q(f"SELECT {_GRANT_COLUMNS} FROM limen_grants ORDER BY granted_at DESC")  # noqa: S608
                )
            else:
                cur.execute(
                    self._q(
                        f"SELECT {_GRANT_COLUMNS} FROM limen_grants WHERE expires_at > ? "  # noqa: S608
                        "ORDER BY granted_at DESC"
                    ),
                    (now,),
                )
            return [_row_to_grant(r) for r in cur.fetchall()]


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
