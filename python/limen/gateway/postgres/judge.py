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
"""

from __future__ import annotations

import secrets

from limen import _native
from limen.gateway.judging import Judge, Verdict, local_denial
from limen.policy import Decision

__all__ = ["PgJudge"]


class PgJudge:
    """Verdicts on one session's Query, Parse and FunctionCall messages."""

    def __init__(self, judge: Judge, relay: _native.PgServerRelay) -> None:
        self.judge = judge
        self.relay = relay

    def statement(self, sql: bytes, raw: bytes, *, extended: bool, name: str) -> Verdict:
        """A Query (``extended`` False) or a Parse named ``name``: ``raw``
        goes upstream when allowed."""

        def refuse(decision: Decision) -> tuple[bytes, bool]:
            return self.refusal(decision, extended=extended)

        return self.judge.judge(sql, extended=extended, name=name, allow=raw, refuse=refuse)

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
