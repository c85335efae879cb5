"""PostgreSQL holds: the shared hold service (:mod:`limen.gateway.holds`)
with PostgreSQL's notice and refusals.

While a statement waits, the client gets a NoticeResponse naming the
approval, the rule, the approvers and how to approve or withdraw it. A
refusal is the denial stand-in (:mod:`limen.gateway.postgres.judge`) with
``42501``, or ``57014`` when a CancelRequest withdrew it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from limen import _native
from limen.approvals import ApprovalRequest, format_duration
from limen.gateway.holds import Holds, Watch
from limen.gateway.judging import Verdict
from limen.gateway.postgres.judge import PgJudge

__all__ = ["PgHolds", "SendClient"]

#: ``await send(data)``: whole messages to the client, in order.
SendClient = Callable[[bytes], Awaitable[None]]


def hold_notice(created: ApprovalRequest, message: str, timeout: float) -> bytes:
    """The NOTICE a client gets while its statement waits."""
    n = created.approvals_required
    return _native.pg_error(
        "NOTICE",
        "00000",
        f"limen: statement held for approval {created.id} (rule {created.rule}, class "
        f"{created.klass}); waiting up to {format_duration(timeout)}",
        f"{message}. It runs once {n} approver{'s' if n != 1 else ''} "
        f"from [{', '.join(created.approvers)}] {'have' if n != 1 else 'has'} "
        "approved it; a denial or the timeout fails it with SQLSTATE 42501.",
        f"an approver runs: limen approvals approve {created.id} --as NAME "
        f"(or POST /v1/approvals/{created.id}/approve); cancel the query to withdraw",
        notice=True,
    )


class PgHolds:
    """Turns held verdicts into what goes upstream."""

    def __init__(self, holds: Holds, judge: PgJudge, mask_statement: Callable[[bytes], str]):
        self.holds = holds
        self.judge = judge
        self.mask_statement = mask_statement

    async def hold(
        self,
        verdict: Verdict,
        sql: bytes,
        raw: bytes,
        *,
        extended: bool,
        send: SendClient,
        watch: Watch | None,
    ) -> Verdict | None:
        """Waits for humans on a held statement: the verdict with ``raw``
        to send once approved (or when a grant covers it), the refusal
        stand-in on denial, timeout or CancelRequest, and None when the
        client went away (the request is then withdrawn)."""
        decision = verdict.decision

        async def notify(created: ApprovalRequest, timeout: float) -> None:
            await send(hold_notice(created, decision.message, timeout))

        outcome = await self.holds.hold(
            decision, self.mask_statement(sql), notify=notify, watch=watch
        )
        if outcome.gone:
            return None
        if outcome.run:
            return dataclasses.replace(verdict, send=raw, discard=False, cache=False, shape=False)
        detail = (
            f"rule: {decision.rule or '(none)'}; class: {decision.klass}; action: hold "
            "(not approved)"
        )
        code = "57014" if outcome.cancelled else "42501"
        error = _native.pg_error("ERROR", code, outcome.message, detail, outcome.hint)
        data, discard = self.judge.stand_in(error, extended=extended)
        return dataclasses.replace(verdict, send=data, discard=discard, cache=False, shape=False)
