"""Approvals and grants in the store: every change of a request is one
transaction that reads the row under a lock and changes it only while it is
still ``pending`` (see :mod:`limen.store`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec

from limen.store.records import (
    APPROVAL_COLUMNS,
    GRANT_COLUMNS,
    ApprovalError,
    ApprovalRequest,
    Grant,
    Vote,
    row_to_approval,
    row_to_grant,
)
from limen.store.segments import SegmentStore

__all__ = ["Store"]


class Store(SegmentStore):
    """What the gateway keeps outside a single process (see the package docs)."""

    # -- approvals ---------------------------------------------------------------

    _FOR_UPDATE = ""

    def approval_create(self, req: ApprovalRequest) -> None:
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    f"INSERT INTO limen_approvals ({APPROVAL_COLUMNS}) "  # noqa: S608
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
                f"SELECT {APPROVAL_COLUMNS} FROM limen_approvals WHERE id = ?{self._FOR_UPDATE}"  # noqa: S608
            ),
            (approval_id,),
        )
        row = cur.fetchone()
        return None if row is None else row_to_approval(row)

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
                    f"SELECT {APPROVAL_COLUMNS} FROM limen_approvals {where}"  # noqa: S608
                    "ORDER BY requested_at DESC LIMIT ?"
                ),
                (limit,),
            )
            return [row_to_approval(r) for r in cur.fetchall()]

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

    def approval_use(self, approval_id: str, *, now: float) -> tuple[ApprovalRequest, bool]:
        """Spend an ``approved`` request once (``Prefer: respond-async``:
        the client's retry runs it): it becomes ``used``, atomically, and
        True says this call spent it. A request past its deadline and still
        pending times out here. Returns the request either way."""
        with self._cursor() as cur:
            req = self._approval_locked(cur, approval_id)
            if req is None:
                raise ApprovalError(f"no approval request {approval_id!r}", kind="not_found")
            if req.status == "pending" and now >= req.expires_at:
                new = msgspec.structs.replace(req, status="timed_out", decided_at=now)
                self._approval_update(cur, new)
                return new, False
            if req.status != "approved":
                return req, False
            new = msgspec.structs.replace(req, status="used")
            self._approval_update(cur, new)
            return new, True

    # -- grants ------------------------------------------------------------------

    def _grant_insert(self, cur: Any, req: ApprovalRequest, now: float, seconds: float) -> None:
        cur.execute(
            self._q(
                f"INSERT INTO limen_grants ({GRANT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"  # noqa: S608
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
                    f"SELECT {GRANT_COLUMNS} FROM limen_grants WHERE subject = ? AND "  # noqa: S608
                    "issuer = ? AND resource = ? AND class = ? AND expires_at > ? "
                    "ORDER BY expires_at DESC LIMIT 1"
                ),
                (subject, issuer, resource, klass, now),
            )
            row = cur.fetchone()
        return None if row is None else row_to_grant(row)

    def grants(self, *, now: float | None = None) -> list[Grant]:
        """Grants still running at ``now`` (all of them when None), newest first."""
        with self._cursor() as cur:
            if now is None:
                cur.execute(
                    self._q(f"SELECT {GRANT_COLUMNS} FROM limen_grants ORDER BY granted_at DESC")  # noqa: S608
                )
            else:
                cur.execute(
                    self._q(
                        f"SELECT {GRANT_COLUMNS} FROM limen_grants WHERE expires_at > ? "  # noqa: S608
                        "ORDER BY granted_at DESC"
                    ),
                    (now,),
                )
            return [row_to_grant(r) for r in cur.fetchall()]
