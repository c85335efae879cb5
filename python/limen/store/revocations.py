"""Revocations in the store: written by ``limen identity revoke`` on any
node, read by every gateway's revocation poller
(:mod:`limen.gateway.revocations`)."""

from __future__ import annotations

from limen.store.core import StoreCore
from limen.store.records import REVOCATION_COLUMNS, Revocation, StoreError, row_to_revocation

__all__ = ["RevocationStore"]

_INSERT = f"INSERT INTO limen_revocations ({REVOCATION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)"  # noqa: S608
_ACTIVE = (
    f"SELECT {REVOCATION_COLUMNS} FROM limen_revocations "  # noqa: S608
    "WHERE expires_at IS NULL OR expires_at > ? ORDER BY revoked_at, id"
)


class RevocationStore(StoreCore):
    """The store's revocations (the session index and audit log beneath)."""

    def revoke(self, rev: Revocation) -> None:
        with self._cursor() as cur:
            cur.execute(
                self._q(_INSERT),
                (
                    rev.id,
                    rev.kind,
                    rev.value,
                    rev.issuer,
                    rev.reason,
                    rev.revoked_by,
                    rev.revoked_at,
                    rev.expires_at,
                ),
            )

    def revocations(self, *, now: float) -> list[Revocation]:
        """Those still in force at ``now``, oldest first."""
        with self._cursor() as cur:
            cur.execute(self._q(_ACTIVE), (now,))
            return [row_to_revocation(r) for r in cur.fetchall()]

    def lift_revocation(self, revocation_id: str) -> Revocation:
        """Removes a revocation (the credential works again); raises
        :class:`StoreError` for an unknown id."""
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    f"SELECT {REVOCATION_COLUMNS} FROM limen_revocations WHERE id = ?"  # noqa: S608
                ),
                (revocation_id,),
            )
            row = cur.fetchone()
            if row is None:
                raise StoreError(f"no revocation {revocation_id!r}")
            cur.execute(self._q("DELETE FROM limen_revocations WHERE id = ?"), (revocation_id,))
            return row_to_revocation(row)
