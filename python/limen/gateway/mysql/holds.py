"""MySQL holds: the shared hold service (:mod:`limen.gateway.holds`) with
MySQL's refusals.

MySQL has no channel for a message while a command runs (PostgreSQL's
NOTICE): a held statement simply takes long. The approval id reaches
people by the approvals store and its webhook (``limen approvals list``
shows it with the identity, resource, rule and masked statement; the
rule's webhook gets it the moment it is created), by the gateway's log
(``hold_waiting``, with the session id), and reaches the bot in the ERR
text when the hold ends without running (denied, timed out, withdrawn).
See docs/interface.md "Holds over MySQL".

A refusal is an ERR packet with the code of the statement's class
(:func:`limen.gateway.mysql.errors.code_for`, SQLSTATE ``42000``), or
``1317 ER_QUERY_INTERRUPTED`` (``70100``) when the driver withdrew it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

from limen.approvals import ApprovalRequest, format_duration
from limen.gateway.holds import Holds, Watch
from limen.gateway.mysql.errors import code_for, err_packet, label
from limen.gateway.mysql.judge import MySqlJudge, MySqlVerdict

__all__ = ["ER_QUERY_INTERRUPTED", "MySqlHolds"]

ER_QUERY_INTERRUPTED: Final = 1317


class MySqlHolds:
    """Turns held verdicts into what to forward or answer."""

    def __init__(self, holds: Holds, judge: MySqlJudge, mask: Callable[[bytes], str]) -> None:
        self.holds = holds
        self.judge = judge
        self.mask = mask

    async def wait(self, verdict: MySqlVerdict, *, watch: Watch | None = None) -> MySqlVerdict:
        """Waits for humans on a held verdict: the verdict that forwards
        the command once approved (or a grant covers it), one that answers
        the client with an ERR on denial, timeout or withdrawal, and one
        with ``command == "gone"`` (neither forward nor reply) when
        ``watch`` returned first (the client hung up; the request is
        withdrawn)."""
        held = verdict.held
        if held is None:
            return verdict
        decision = held.decision
        holds = self.holds

        async def notify(created: ApprovalRequest, timeout: float) -> None:
            holds.log(
                "hold_waiting",
                session=holds.session_id,
                approval=created.id,
                rule=created.rule,
                klass=created.klass,
                timeout=format_duration(timeout),
            )

        outcome = await holds.hold(
            decision, self.mask(verdict.statement), notify=notify, watch=watch
        )
        if outcome.gone:
            return dataclasses.replace(
                verdict, forward=None, reply=None, held=None, on_approval=None, command="gone"
            )
        if outcome.run:
            return dataclasses.replace(
                verdict, forward=verdict.on_approval, reply=None, held=None, on_approval=None
            )
        text = (
            f"{outcome.message} [rule: {decision.rule or '(none)'}; {label(decision.klass)}; "
            f"action: hold, not approved] {outcome.hint}"
        )
        if outcome.cancelled:
            reply = err_packet(verdict.seq + 1, ER_QUERY_INTERRUPTED, "70100", text)
        else:
            reply = err_packet(verdict.seq + 1, code_for(decision.klass), "42000", text)
        return dataclasses.replace(
            verdict, forward=None, reply=reply, held=None, on_approval=None, plan=None
        )
