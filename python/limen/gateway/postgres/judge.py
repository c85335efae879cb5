"""PostgreSQL judging: the session's judge (:mod:`limen.gateway.judging`)
with PostgreSQL's refusals.

Denied statements keep the transaction state consistent by letting the
upstream fail too: instead of the denied statement the gateway sends a
statement that is a syntax error naming a random marker
(``limen_denied_<hex>``) — as a Query for a simple query, as a Parse for
the extended protocol, after which the client's messages are discarded
until Sync (:attr:`Verdict.discard`). The native relay swaps the
upstream's ErrorResponse that names the marker for the gateway's error
(``42501``), and the upstream's own ReadyForQuery (idle, in a failed
transaction block, ...) is what the client sees: client and upstream
agree on the transaction state by construction.

The judge also remembers the statements that leave column-plan state in
the session (named Parse messages, SQL ``PREPARE`` and ``DECLARE``): a
reload that changes the session's column masks plans them again under the
new ones (:mod:`limen.gateway.postgres.relive`). While that happens
(:attr:`PgJudge.pending`), both relays hold the next statement back.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from typing import assert_never

import trio

from limen import _native
from limen.gateway.judging import Judge, Verdict, local_denial
from limen.policy import Decision

__all__ = ["HISTORY_MAX", "PgJudge", "native_verdict"]

#: Statements that may leave column-plan state: prepared statements, cursors.
_STATEFUL = re.compile(rb"\b(prepare|declare)\b", re.IGNORECASE)
#: Remembered statements at most; past it a change of column masks ends
#: the session (fail closed) instead of planning them again.
HISTORY_MAX = 512


class PgJudge:
    """Verdicts on one session's Query, Parse and FunctionCall messages."""

    def __init__(self, judge: Judge, relay: _native.PgServerRelay) -> None:
        self.judge = judge
        self.relay = relay
        self.history: OrderedDict[tuple[bool, str], tuple[str, bool, str]] = OrderedDict()
        """Statements that left column-plan state, oldest first, as (text,
        extended, name), keyed by Parse name or text."""
        self.history_lost = False
        """More than :data:`HISTORY_MAX` were remembered: some are forgotten."""
        self.pending: trio.Event | None = None
        """Set while a reload's column masks are being resolved: the next
        statement waits for it (both relays)."""

    def statement(self, sql: bytes, raw: bytes, *, extended: bool, name: str) -> Verdict:
        """A Query (``extended`` False) or a Parse named ``name``: ``raw``
        goes upstream when allowed."""

        def refuse(decision: Decision) -> tuple[bytes, bool]:
            return self.refusal(decision, extended=extended)

        verdict = self.judge.judge(sql, extended=extended, name=name, allow=raw, refuse=refuse)
        if verdict.decision.action != "deny" and ((extended and name) or _STATEFUL.search(sql)):
            text = sql.decode("utf-8", "replace")
            key = (extended, name if extended else text)
            self.history.pop(key, None)
            self.history[key] = (text, extended, name)
            if len(self.history) > HISTORY_MAX:
                self.history.popitem(last=False)
                self.history_lost = True
        return verdict

    def request(self, request: _native.JudgeRequest) -> Verdict:
        """A message the client core asks about (both relays)."""
        match request.kind:
            case _native.JudgeKind.FUNCTION_CALL:
                return self.function_call()
            case _native.JudgeKind.QUERY | _native.JudgeKind.PARSE:
                return self.statement(
                    request.sql,
                    request.raw,
                    extended=request.kind == _native.JudgeKind.PARSE,
                    name=request.name.decode("utf-8", "replace"),
                )
            case _:
                assert_never(request.kind)

    def function_call(self) -> Verdict:
        """A FunctionCall message: always refused (not recorded as a decision)."""
        decision = local_denial(
            "admin",
            "the fast-path function call interface is not allowed",
            "call the function in a SQL statement",
        )
        data, discard = self.refusal(decision, extended=False)
        return Verdict(decision, None, data, discard=discard)

    def refusal(self, decision: Decision, *, extended: bool) -> tuple[bytes, bool]:
        """What the upstream gets instead of a denied message, and whether
        the client side then discards until Sync."""
        message = f"limen: {decision.message}"
        hint = decision.hint or "ask for a grant of this statement class"
        detail = (
            f"rule: {decision.rule or '(none)'}; class: {decision.klass}; action: deny "
            "(a denied statement cannot be approved)"
        )
        error = _native.pg_error("ERROR", "42501", message, detail, hint)
        return self.stand_in(error, extended=extended)

    def stand_in(self, error: bytes, *, extended: bool) -> tuple[bytes, bool]:
        """The marker statement that fails upstream in place of a refused
        one; the relay swaps the upstream's error for ``error``."""
        marker = f"limen_denied_{secrets.token_hex(8)}".encode()
        self.relay.replace_error(marker, error)
        if extended:
            return _native.pg_parse(b"", marker), True
        return _native.pg_query(marker), False


def native_verdict(verdict: Verdict) -> _native.Verdict:
    """The client core's verdict (both relays) for a decided message: its
    bytes, discard until Sync, and the decision event to cache (and whether
    under the statement's shape) when the decision may be reused."""
    assert isinstance(verdict.send, bytes)
    return _native.Verdict(
        verdict.send,
        discard_until_sync=verdict.discard,
        cache_event=verdict.event if verdict.cache else None,
        cache_shape=verdict.cache and verdict.shape,
    )
