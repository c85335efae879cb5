"""The state store's schema, the records it keeps (sessions, approvals and
their votes, grants), its errors, and how a row becomes a record."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec

SCHEMA_VERSION = 6

SCHEMA = [
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
    """CREATE TABLE IF NOT EXISTS limen_revocations (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        issuer TEXT,
        reason TEXT NOT NULL,
        revoked_by TEXT NOT NULL,
        revoked_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION
    )""",
    """CREATE INDEX IF NOT EXISTS limen_revocations_expiry ON limen_revocations (expires_at)""",
    # Schema 4: the fleet's heartbeats (limen.store.nodes).
    """CREATE TABLE IF NOT EXISTS limen_nodes (
        node TEXT PRIMARY KEY,
        started_at DOUBLE PRECISION NOT NULL,
        seen_at DOUBLE PRECISION NOT NULL
    )""",
    # Schema 5: fleet-wide connection limits (limen.store.slots).
    """CREATE TABLE IF NOT EXISTS limen_slots (
        session_id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        identity TEXT NOT NULL,
        resource TEXT NOT NULL,
        acquired_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS limen_slots_identity ON limen_slots (identity)""",
    """CREATE INDEX IF NOT EXISTS limen_slots_resource ON limen_slots (resource)""",
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
    # Schema 6: recording copies in the store (limen.store.segments).
    """CREATE TABLE IF NOT EXISTS limen_recording_segments (
        session_id TEXT NOT NULL,
        byte_offset BIGINT NOT NULL,
        data BYTEA NOT NULL,
        node TEXT NOT NULL,
        copied_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (session_id, byte_offset)
    )""",
]

#: Statuses of an approval request; every one but ``pending`` is final
#: (``approved`` becomes ``used`` once, when an HTTP ``Prefer: respond-async``
#: request's retry spends it: :meth:`Store.approval_use`).
APPROVAL_STATUSES = ("pending", "approved", "denied", "timed_out", "withdrawn", "used")


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


REVOCATION_KINDS = ("subject", "token", "key")


class Revocation(msgspec.Struct, frozen=True, kw_only=True):
    """A credential limen refuses from now on, and whose live sessions end:
    every token of a ``subject`` (of one ``issuer``, or of any), one token
    by its ``jti`` (``token``), or a static ``key`` by name."""

    id: str
    kind: str
    value: str
    issuer: str | None = None
    reason: str
    revoked_by: str
    revoked_at: float
    expires_at: float | None
    """When it stops mattering: the tokens it covers have all expired by
    then (None: until lifted, for static keys)."""


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
SESSION_COLUMNS = (
    "id, subject, groups, resource, protocol, started_at, ended_at, statements, "
    "recording, node, end_reason"
)


APPROVAL_COLUMNS = (
    "id, session_id, subject, issuer, groups, resource, protocol, statement, class, rule, "
    "approvers, approvals_required, requested_at, expires_at, node, status, votes, "
    "decided_at, decided_by, reason, grant_seconds"
)
GRANT_COLUMNS = (
    "approval_id, subject, issuer, resource, class, rule, granted_by, granted_at, expires_at"
)


def row_to_approval(row: Sequence[Any]) -> ApprovalRequest:
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


def row_to_grant(row: Sequence[Any]) -> Grant:
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


REVOCATION_COLUMNS = "id, kind, value, issuer, reason, revoked_by, revoked_at, expires_at"


def row_to_revocation(row: Sequence[Any]) -> Revocation:
    return Revocation(
        id=row[0],
        kind=row[1],
        value=row[2],
        issuer=row[3],
        reason=row[4],
        revoked_by=row[5],
        revoked_at=float(row[6]),
        expires_at=None if row[7] is None else float(row[7]),
    )


def row_to_session(row: Sequence[Any]) -> SessionRecord:
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
