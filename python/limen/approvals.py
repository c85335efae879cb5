"""Just-in-time approvals: a held statement waits in place for humans.

A session whose statement is held calls :meth:`ApprovalHub.hold`: the hub
writes an :class:`~limen.store.ApprovalRequest` to the state store, logs a
line, notifies the rule's webhook in the background, and waits until the
request is no longer pending — approved or denied by approvers (the CLI or
the admin API of *any* gateway process sharing the store), or timed out, or
withdrawn because the waiting task was cancelled (the bot disconnected, sent
a CancelRequest, its token expired, the gateway drains).

How a waiting hub learns of a decision made elsewhere: one poller task per
process asks the store for the status of every request it holds, in one
query every ``poll_interval`` seconds (0.25 s by default; only while
something waits). A decision taken through this process's admin API wakes
the waiter at once. The store makes every transition atomic (see
:mod:`limen.store`), so a decision, a timeout and a withdrawal that race
resolve to exactly one final status, which every party honours: a
statement runs only after its request reached ``approved``.

Grants: an approver may approve "for the next N minutes"; the store then
records a grant, and :meth:`ApprovalHub.grant_for` lets the same identity's
statements of that class on that resource through without asking until it
expires.

Webhooks get a Slack-compatible JSON body (``text`` plus a ``limen`` object
with the request) with retries and a timeout, from a background task: a slow
or failing webhook never delays a session. The webhook URL (which often
carries a secret) is never logged.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import httpx
import msgspec
import trio

from limen.config import Duration
from limen.store import ApprovalError, ApprovalRequest, Grant, Store

__all__ = [
    "MAX_REASON",
    "ApprovalError",
    "ApprovalHub",
    "ApprovalRequest",
    "format_duration",
    "new_approval_id",
    "parse_duration",
]

ID_BYTES: Final = 6
"""Approval ids are 12 lowercase hex characters."""
MAX_REASON: Final = 1000
"""An approver's reason, at most (characters)."""


def new_approval_id() -> str:
    return secrets.token_hex(ID_BYTES)


def format_duration(seconds: float) -> str:
    """``900`` → ``15m`` (the config's own duration syntax)."""
    return Duration(seconds).text


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``1h30m``, ``1d``; ValueError saying what is wrong."""
    return Duration.parse(text).seconds


class ApprovalHub:
    """The approvals of one gateway process (see the module docs)."""

    def __init__(
        self,
        store: Store,
        *,
        node: str | None = None,
        log: Callable[..., None] | None = None,
        poll_interval: float = 0.25,
        webhook_timeout: float = 5.0,
        webhook_attempts: int = 3,
        webhook_backoff: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.node = node or f"{socket.gethostname()}:{os.getpid()}"
        self.log: Callable[..., None] = log if log is not None else (lambda *_a, **_k: None)
        self.poll_interval = poll_interval
        self.webhook_timeout = webhook_timeout
        self.webhook_attempts = webhook_attempts
        self.webhook_backoff = webhook_backoff
        self.clock = clock
        self._waiters: dict[str, trio.Event] = {}
        self._nursery: trio.Nursery | None = None
        self._wake_poller = trio.Event()

    # -- running -----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The poller and the webhook senders; run it in the gateway's
        nursery (``await nursery.start(hub.run)``) until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._poll)
            task_status.started()
            await trio.sleep_forever()

    async def _poll(self) -> None:
        while True:
            if not self._waiters:
                await self._wake_poller.wait()
                self._wake_poller = trio.Event()
            await trio.sleep(self.poll_interval)
            ids = list(self._waiters)
            if not ids:
                continue
            try:
                statuses = await trio.to_thread.run_sync(self.store.approval_statuses, ids)
            except Exception as exc:  # a store hiccup: keep waiting, try again
                self.log("approvals_poll_failed", error=type(exc).__name__)
                continue
            for approval_id, status in statuses.items():
                if status != "pending":
                    self.wake(approval_id)

    def wake(self, approval_id: str) -> None:
        """A decision on ``approval_id`` was taken in this process."""
        event = self._waiters.get(approval_id)
        if event is not None:
            event.set()

    # -- the session side ---------------------------------------------------------

    async def grant_for(
        self, *, subject: str, issuer: str, resource: str, klass: str
    ) -> Grant | None:
        return await trio.to_thread.run_sync(
            lambda: self.store.grant_active(
                subject=subject, issuer=issuer, resource=resource, klass=klass, now=self.clock()
            )
        )

    async def hold(
        self,
        req: ApprovalRequest,
        *,
        timeout: float,
        webhook: str | None = None,
        on_created: Callable[[ApprovalRequest], Awaitable[None]] | None = None,
    ) -> ApprovalRequest:
        """Create ``req`` and wait (at most ``timeout`` seconds of the Trio
        clock) for its final status, which is returned. ``on_created`` runs
        once the request is in the store (the session sends its NOTICE
        there). Cancelled while waiting: the request is withdrawn (unless a
        decision won the race) and the cancellation propagates."""
        await trio.to_thread.run_sync(self.store.approval_create, req)
        event = trio.Event()
        self._waiters[req.id] = event
        self._wake_poller.set()
        try:
            await self._announce(req, timeout, webhook)
            if on_created is not None:
                await on_created(req)
            deadline = trio.current_time() + timeout if math.isfinite(timeout) else math.inf
            with trio.move_on_at(deadline):
                while True:
                    await event.wait()
                    final = await trio.to_thread.run_sync(self.store.approval, req.id)
                    if final.status != "pending":
                        await self._decided(final)
                        return final
                    event = self._waiters[req.id] = trio.Event()
            final = await trio.to_thread.run_sync(
                lambda: self.store.approval_finish(req.id, status="timed_out", now=self.clock())
            )
            await self._decided(final)
            return final
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                try:
                    final = await trio.to_thread.run_sync(
                        lambda: self.store.approval_finish(
                            req.id, status="withdrawn", now=self.clock()
                        )
                    )
                    await self._decided(final)
                except Exception as exc:
                    self.log("approval_withdraw_failed", approval=req.id, error=type(exc).__name__)
            raise
        finally:
            self._waiters.pop(req.id, None)

    async def request(
        self, req: ApprovalRequest, *, timeout: float, webhook: str | None = None
    ) -> None:
        """Create ``req`` without waiting for it (``Prefer: respond-async``:
        the client asks for its status and sends the request again)."""
        await trio.to_thread.run_sync(self.store.approval_create, req)
        await self._announce(req, timeout, webhook)

    async def _announce(self, req: ApprovalRequest, timeout: float, webhook: str | None) -> None:
        self.log(
            "approval_requested",
            approval=req.id,
            session=req.session_id,
            subject=req.subject,
            resource=req.resource,
            rule=req.rule,
            klass=req.klass,
            approvals_required=req.approvals_required,
            timeout=format_duration(timeout),
        )
        await self._audit(req, "approval_requested")
        if webhook is not None and self._nursery is not None:
            self._nursery.start_soon(self._send_webhook, webhook, req)

    async def _decided(self, req: ApprovalRequest) -> None:
        self.log(
            "approval_" + req.status,
            approval=req.id,
            session=req.session_id,
            subject=req.subject,
            by=req.decided_by,
            grant=format_duration(req.grant_seconds) if req.grant_seconds else None,
        )
        await self._audit(req, "approval_" + req.status)

    async def _audit(self, req: ApprovalRequest, kind: str) -> None:
        data = {
            "approval": req.id,
            "resource": req.resource,
            "rule": req.rule,
            "class": req.klass,
            "status": req.status,
            "by": req.decided_by,
            "votes": [v.name for v in req.votes],
            "reason": req.reason,
            "grant_seconds": req.grant_seconds,
            "node": self.node,
        }
        try:
            await trio.to_thread.run_sync(
                lambda: self.store.audit(
                    kind, data, at=self.clock(), session_id=req.session_id, subject=req.subject
                )
            )
        except Exception as exc:
            self.log("audit_failed", kind=kind, error=type(exc).__name__)

    # -- the approver side (admin API in this process) ----------------------------

    async def vote(
        self,
        approval_id: str,
        *,
        approver: str,
        approve: bool,
        reason: str | None = None,
        grant_seconds: float | None = None,
    ) -> ApprovalRequest:
        """Record a vote (see :meth:`Store.approval_vote`) and wake a waiter
        of this process at once."""
        req = await trio.to_thread.run_sync(
            lambda: self.store.approval_vote(
                approval_id,
                approver=approver,
                approve=approve,
                now=self.clock(),
                reason=reason,
                grant_seconds=grant_seconds,
            )
        )
        self.wake(approval_id)
        return req

    # -- webhooks ----------------------------------------------------------------

    async def _send_webhook(self, url: str, req: ApprovalRequest) -> None:
        body = webhook_payload(req)
        for attempt in range(1, self.webhook_attempts + 1):
            outcome: str
            try:
                with trio.fail_after(self.webhook_timeout):
                    async with httpx.AsyncClient(timeout=self.webhook_timeout) as client:
                        response = await client.post(url, json=body)
                if 200 <= response.status_code < 300:
                    self.log("webhook_sent", approval=req.id, rule=req.rule, attempt=attempt)
                    return
                outcome = f"status {response.status_code}"
            except trio.TooSlowError:
                outcome = "timeout"
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            self.log(
                "webhook_failed", approval=req.id, rule=req.rule, attempt=attempt, error=outcome
            )
            if attempt < self.webhook_attempts:
                await trio.sleep(self.webhook_backoff * 2 ** (attempt - 1))


def webhook_payload(req: ApprovalRequest) -> dict[str, Any]:
    """A Slack-compatible message (``text``) with the request attached."""
    n = req.approvals_required
    text = (
        f"limen: {req.subject} wants to run a {req.klass} statement on {req.resource} "
        f"(rule {req.rule}); approval {req.id} needs {n} approval{'s' if n != 1 else ''} "
        f"from [{', '.join(req.approvers)}]. Approve: `limen approvals approve {req.id} "
        f"--as NAME` or POST /v1/approvals/{req.id}/approve"
    )
    return {
        "text": text,
        "limen": msgspec.to_builtins(req),
    }
