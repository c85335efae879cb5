"""Holds: a statement that waits in place for humans, for every protocol.

:meth:`Holds.hold` takes a held decision and returns a frozen
:class:`HoldOutcome`: the statement runs (a grant from an earlier ``--for``
approval covers it, or the approvers approved it), it is refused (denied,
timed out, withdrawn by the client's cancel, or no approvals store), or
the client went away (the request is withdrawn; nothing is sent). Meanwhile
every step is recorded (``grant_used``, ``hold``, ``approval``,
``approval_withdrawn``) and refusals are logged.

The protocol's driver provides what differs: how the client is told that
the statement waits (``notify``: PostgreSQL sends a NOTICE) and how a
refusal looks (PostgreSQL: the denial stand-in with ``42501``, or ``57014``
when :attr:`HoldOutcome.cancelled`), and, on a relay where nobody else
reads the client, a ``watch`` coroutine that returns when the client hangs
up. :meth:`Holds.cancel` withdraws the waiting statement (a cancel request).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from limen.approvals import ApprovalHub, ApprovalRequest, format_duration, new_approval_id
from limen.identity import Identity
from limen.metrics import GatewayMetrics
from limen.policy import Decision

__all__ = ["HoldOutcome", "Holds"]

#: ``await notify(created, timeout)``: tell the client its statement waits.
Notify = Callable[[ApprovalRequest, float], Awaitable[None]]
#: ``await watch()`` returns when the client hangs up.
Watch = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class HoldOutcome:
    """How a hold ended."""

    run: bool
    """Send the statement (approved, or a grant covers it)."""
    gone: bool = False
    """The client went away while waiting: nothing to send."""
    cancelled: bool = False
    """Withdrawn by the client's cancel request."""
    message: str = ""
    """Why it is refused (when neither run nor gone)."""
    hint: str = ""


class Holds:
    """The hold service of one session."""

    def __init__(
        self,
        hub: ApprovalHub | None,
        *,
        identity: Identity,
        resource: str,
        protocol: str,
        session_id: str,
        default_timeout: float,
        record: Callable[[dict[str, object]], None],
        log: Callable[..., None],
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.hub = hub
        self.identity = identity
        self.resource = resource
        self.protocol = protocol
        self.session_id = session_id
        self.default_timeout = default_timeout
        self.record = record
        self.log = log
        self.metrics = metrics
        """Hold waits are observed into ``limen_hold_wait_seconds``."""
        self._scope: trio.CancelScope | None = None

    @property
    def waiting(self) -> bool:
        """A statement of this session waits for humans now."""
        return self._scope is not None

    def cancel(self) -> bool:
        """Withdraws the waiting statement, if any (True)."""
        if self._scope is None:
            return False
        self._scope.cancel()
        return True

    def _refused(
        self, decision: Decision, message: str, hint: str, *, cancelled: bool = False
    ) -> HoldOutcome:
        self.log(
            "decision",
            session=self.session_id,
            action="deny",
            rule=decision.rule,
            klass=decision.klass,
            why="hold refused",
        )
        return HoldOutcome(False, cancelled=cancelled, message=message, hint=hint)

    async def granted(self, decision: Decision) -> bool:
        """Whether a grant from an earlier ``--for`` approval covers
        ``decision`` (recorded as ``grant_used``); a failing lookup does not."""
        hub = self.hub
        if hub is None:
            return False
        identity = self.identity
        try:
            grant = await hub.grant_for(
                subject=identity.subject,
                issuer=identity.issuer,
                resource=self.resource,
                klass=decision.klass,
            )
        except Exception as exc:  # fail closed
            self.log("grant_lookup_failed", session=self.session_id, error=type(exc).__name__)
            return False
        if grant is None:
            return False
        self.record(
            {
                "event": "grant_used",
                "approval": grant.approval_id,
                "class": decision.klass,
                "rule": grant.rule,
                "granted_by": grant.granted_by,
                "expires_at": grant.expires_at,
            }
        )
        return True

    def new_request(self, decision: Decision, statement: str) -> tuple[ApprovalRequest, float]:
        """The approval request of a held ``decision`` and its timeout."""
        assert self.hub is not None
        identity = self.identity
        timeout = (
            decision.hold_timeout if decision.hold_timeout is not None else self.default_timeout
        )
        now = self.hub.clock()
        req = ApprovalRequest(
            id=new_approval_id(),
            session_id=self.session_id,
            subject=identity.subject,
            issuer=identity.issuer,
            groups=list(identity.groups),
            resource=self.resource,
            protocol=self.protocol,
            statement=statement,
            klass=decision.klass,
            rule=decision.rule or "(none)",
            approvers=list(decision.approvers),
            approvals_required=max(1, decision.approvals_required),
            requested_at=now,
            expires_at=now + timeout,
            node=self.hub.node,
        )
        return req, timeout

    async def hold(
        self, decision: Decision, statement: str, *, notify: Notify, watch: Watch | None
    ) -> HoldOutcome:
        """Waits for humans on ``decision`` (held); ``statement`` is the
        text approvers see (masked)."""
        started = trio.current_time()
        outcome = await self._hold(decision, statement, notify=notify, watch=watch)
        if self.metrics is not None:
            kind = "run" if outcome.run else "gone" if outcome.gone else "refused"
            waited = trio.current_time() - started
            self.metrics.hold_wait.observe(waited, protocol=self.protocol, outcome=kind)
        return outcome

    async def _hold(
        self, decision: Decision, statement: str, *, notify: Notify, watch: Watch | None
    ) -> HoldOutcome:
        hub = self.hub
        rule = decision.rule or "(none)"
        if hub is None:
            return self._refused(
                decision,
                f"limen: {decision.message}; but this gateway has no approvals store, so it "
                "is refused",
                "ask the operator to run limen serve with a state store",
            )
        if await self.granted(decision):
            return HoldOutcome(True)
        req, timeout = self.new_request(decision, statement)

        async def created(request: ApprovalRequest) -> None:
            self.record(
                {
                    "event": "hold",
                    "approval": request.id,
                    "rule": rule,
                    "class": decision.klass,
                    "approvers": request.approvers,
                    "approvals_required": request.approvals_required,
                    "timeout": timeout,
                }
            )
            await notify(request, timeout)

        gone = False
        final: ApprovalRequest | None = None
        with trio.CancelScope() as scope:
            self._scope = scope
            try:
                async with trio.open_nursery() as nursery:
                    if watch is not None:

                        async def watch_client() -> None:
                            nonlocal gone
                            await watch()
                            gone = True
                            nursery.cancel_scope.cancel()

                        nursery.start_soon(watch_client)
                    final = await hub.hold(
                        req, timeout=timeout, webhook=decision.webhook, on_created=created
                    )
                    nursery.cancel_scope.cancel()
            finally:
                self._scope = None
        if gone:
            self.record({"event": "approval_withdrawn", "approval": req.id, "why": "disconnect"})
            return HoldOutcome(False, gone=True)
        if final is None:  # a cancel request while waiting
            self.record({"event": "approval_withdrawn", "approval": req.id, "why": "cancel"})
            return self._refused(
                decision,
                f"canceling statement due to user request (approval {req.id} withdrawn)",
                "send the statement again to ask for a new approval",
                cancelled=True,
            )
        self.record(
            {
                "event": "approval",
                "approval": final.id,
                "status": final.status,
                "by": final.decided_by,
                "votes": [v.name for v in final.votes],
                "reason": final.reason,
                "grant_seconds": final.grant_seconds,
            }
        )
        if final.status == "approved":
            return HoldOutcome(True)
        if final.status == "denied":
            why = f"denied by {final.decided_by}" + (f": {final.reason}" if final.reason else "")
            hint = "do not retry as is; ask the approver what would be acceptable"
        elif final.status == "timed_out":
            why = f"timed out after {format_duration(timeout)} with no decision"
            hint = "ask an approver to watch for it, then send the statement again"
        else:
            why = final.status.replace("_", " ")
            hint = "send the statement again to ask for a new approval"
        return self._refused(
            decision,
            f"limen: approval {final.id} {why} (rule {rule}, class {decision.klass})",
            hint,
        )
