"""What the MySQL judge (:mod:`limen.gateway.mysql.judge`) answers for one
client command, and what it needs of the session's column masks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import msgspec

from limen import _native
from limen.gateway.judging import ColumnHook, Verdict, decision_record
from limen.policy import Decision
from limen.policy.mysql import Server

__all__ = ["LAST_PREPARED", "NO_BACKSLASH_ESCAPES", "MySqlVerdict", "PlanSource", "Prepared"]

LAST_PREPARED: Final = 0xFFFFFFFF
"""MariaDB's statement id for "the statement prepared last"."""
NO_BACKSLASH_ESCAPES: Final = 0x0200
"""``SERVER_STATUS_NO_BACKSLASH_ESCAPES`` in an OK/EOF packet's status."""


@dataclass(frozen=True)
class Prepared:
    """A statement the client prepared: its decision, column plan and text."""

    decision: Decision
    plan: _native.MySqlColumnPlan | None
    sql: bytes
    secret: bool = False


class PlanSource(ColumnHook, Protocol):
    """What the judge needs of the session's column masks
    (:class:`limen.gateway.mysql.columns.MySqlColumns`)."""

    plan: _native.MySqlColumnPlan | None
    server: Server | None
    backslash_escapes: bool
    refused: bool

    def use(self, database: str | None) -> None: ...


@dataclass(frozen=True)
class MySqlVerdict:
    """What to do with one client command (the driver's relay loop)."""

    forward: bytes | None
    """Framed packet bytes for the upstream (the client's own)."""
    reply: bytes | None
    """Framed bytes for the client instead (the ERR of a refusal)."""
    expect: _native.MySqlExpect
    """The response that follows ``forward``."""
    seq: int
    """The command's sequence id (for ``relay.expect``)."""
    plan: _native.MySqlColumnPlan | None
    held: Verdict | None
    """Not None: the statement waits for approval (:class:`MySqlHolds`)."""
    command: str
    """``query``, ``prepare``, ``execute``, ``init_db``, ``quit``, ``change_user``, ..."""
    allow_infile: bool = False
    """A rule allows ``local-infile`` for this statement."""
    on_approval: bytes | None = None
    """For a held verdict: what to forward once approved."""
    statement: bytes = b""
    """For a held verdict: the statement text (approvers see it masked)."""
    statement_id: int | None = None
    """The binary-protocol statement the command names (execute, fetch,
    reset, send_long_data, close), for the relay."""
    cache_event: bytes | None = None
    """Set when a relay's decision cache (the native pump's) may reuse this
    allow for the same packet: the decision event it records for each hit
    (for a prepare: that event, a newline, then the execute event up to its
    statement id's value)."""
    cache_shape: bool = False
    """With ``cache_event`` (a ``COM_QUERY``): the decision holds for every
    text of the same shape (other constants; :mod:`limen.policy.mysql.shape`),
    so the cache may reuse it for those too."""
    secret: bool = False
    """The statement held a secret (:mod:`limen.inmask_mysql` masked a
    secret position): the relay masks the names of expression columns."""


def decision_event(decision: Decision, command: str, *, statement: int | None) -> bytes:
    """A MySQL decision as its ``event`` record."""
    obj = decision_record(decision, "binary" if statement is not None else "command")
    obj["command"] = command
    if statement is not None:
        obj["statement_id"] = statement
    return msgspec.json.encode(obj)
