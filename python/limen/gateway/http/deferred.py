"""``Prefer: respond-async``: a held request answered at once, run later
by the client's retry with a single-use approval.

A held request whose client sends ``Prefer: respond-async`` does not wait
in place: limen creates the approval request (approvers see the same
``METHOD /r/RESOURCE/PATH?QUERY``), answers ``202 Accepted`` with
``Preference-Applied: respond-async``, the approval id and its status URL
(``Location``), and nothing goes upstream. The client polls the status
URL (:func:`status_answer`, ``GET /.well-known/limen/approvals/ID`` on
the gateway, with a token of the same subject); once it says
``approved``, the client sends the same request again with
``Limen-Approval: ID``. That retry spends the approval: the store turns it
from ``approved`` to ``used`` atomically (:meth:`Store.approval_use`),
so the request runs exactly once however many retries race, and only
when it is the request that was approved (same subject, resource, class
and approver's text: method, normalised path and query). The retry must
come within the hold timeout after the decision.

Why the retry and not limen running the request itself: the request
then runs on the client's connection with its own body, the answer goes
to the client that asked (masked and recorded as any other), and nothing
of it is kept in the gateway between the approval and the retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Final

import msgspec
import trio

from limen.gateway.http.parts import RelayParts
from limen.gateway.http.problem import Problem, problem, problem_bytes
from limen.gateway.http.reader import ClientRequest
from limen.identity import Identity
from limen.policy import Decision
from limen.recording import U2C
from limen.store import ApprovalError, ApprovalRequest, Store

__all__ = [
    "APPROVAL_HEADER",
    "STATUS_PREFIX",
    "defer",
    "is_status_request",
    "redeem",
    "status_answer",
    "wants_async",
]

STATUS_PREFIX: Final = "/.well-known/limen/approvals/"
APPROVAL_HEADER: Final = b"limen-approval"


def wants_async(req: ClientRequest) -> bool:
    """Whether the client asked for ``Prefer: respond-async``."""
    for k, v in req.headers:
        if k == b"prefer":
            for pref in v.split(b","):
                if pref.split(b";", 1)[0].split(b"=", 1)[0].strip().lower() == b"respond-async":
                    return True
    return False


def is_status_request(req: ClientRequest) -> bool:
    return req.target.split("?", 1)[0].startswith(STATUS_PREFIX)


def json_response(
    status: int, obj: object, headers: list[tuple[bytes, bytes]], *, close: bool
) -> bytes:
    """A complete HTTP/1.1 response with a JSON body."""
    body = msgspec.json.encode(obj)
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode(),
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"cache-control: no-store",
    ]
    lines += [k + b": " + v for k, v in headers]
    if close:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def answer_raw(relay: RelayParts, req: ClientRequest, make: Callable[[bool], bytes]) -> bool:
    """Sends limen's own answer ``make(close)`` for ``req``; then reads its
    body to keep the connection (True) or closes (False)."""
    keep = req.keep_alive and not req.conn.they_are_waiting_for_100_continue
    data = make(not keep)
    req.response_started = True
    await relay.session.client.send_all(data)
    relay.record(U2C, data)
    if not keep:
        return False
    return await relay.reader.discard_body(req, relay.discard_limit)


def _view(found: ApprovalRequest, now: float) -> dict[str, object]:
    window = found.expires_at - found.requested_at
    out: dict[str, object] = {
        "approval": found.id,
        "status": found.status,
        "resource": found.resource,
        "request": found.statement,
        "class": found.klass,
        "rule": found.rule,
        "requested_at": found.requested_at,
        "expires_at": found.expires_at,
        "status_url": STATUS_PREFIX + found.id,
    }
    if found.decided_by is not None:
        out["decided_by"] = found.decided_by
    if found.reason:
        out["reason"] = found.reason
    if found.status == "approved" and found.decided_at is not None:
        out["retry_until"] = found.decided_at + window
        out["hint"] = f"send the same request again with Limen-Approval: {found.id}"
    elif found.status == "pending":
        out["hint"] = "ask again later; approvers have not decided yet"
    return out


async def defer(
    relay: RelayParts, req: ClientRequest, decision: Decision, statement: str
) -> bool | None:
    """Answers a held ``req`` with ``202`` and a new approval; None when a
    grant covers it (the caller forwards it)."""
    holds = relay.holds
    hub = holds.hub
    assert hub is not None
    if await holds.granted(decision):
        return None
    areq, timeout = holds.new_request(decision, statement)
    await hub.request(areq, timeout=timeout, webhook=decision.webhook)
    relay.session.event(
        {
            "event": "hold",
            "approval": areq.id,
            "rule": areq.rule,
            "class": decision.klass,
            "approvers": areq.approvers,
            "approvals_required": areq.approvals_required,
            "timeout": timeout,
            "async": True,
        }
    )
    doc = _view(areq, hub.clock())
    doc["hint"] = (
        f"poll {STATUS_PREFIX}{areq.id} with your token; once approved, send the same "
        f"request again with Limen-Approval: {areq.id}"
    )
    headers = [
        (b"location", (STATUS_PREFIX + areq.id).encode()),
        (b"preference-applied", b"respond-async"),
        (b"retry-after", b"1"),
    ]
    return await answer_raw(relay, req, lambda close: json_response(202, doc, headers, close=close))


def _refusal(decision: Decision, approval: str, detail: str, hint: str) -> Problem:
    doc = problem(403, "not-approved", detail, hint)
    doc.rule, doc.klass, doc.action = decision.rule, decision.klass, "hold"
    doc.approvable, doc.approval = True, approval
    return doc


async def redeem(
    relay: RelayParts, decision: Decision, statement: str, approval: str
) -> Problem | None:
    """Spends approval ``approval`` for this held request: None when it ran
    out now (the caller forwards the request), else the 403 to answer."""
    hub = relay.holds.hub
    identity = relay.identity
    again = "send the request again with Prefer: respond-async to ask anew"
    if hub is None:
        return _refusal(decision, approval, "this gateway has no approvals store", again)
    store: Store = hub.store
    try:
        found = await trio.to_thread.run_sync(store.approval, approval)
    except ApprovalError:
        found = None
    if found is None or (found.subject, found.issuer) != (identity.subject, identity.issuer):
        return _refusal(decision, approval, f"no approval {approval!r} of yours", again)
    if (found.resource, found.klass, found.statement) != (
        relay.resource.name,
        decision.klass,
        statement,
    ):
        return _refusal(
            decision,
            approval,
            f"approval {found.id} is for another request ({found.statement})",
            "send exactly the request that was approved",
        )
    now = hub.clock()
    window = found.expires_at - found.requested_at
    if found.status == "approved" and (found.decided_at or now) + window < now:
        return _refusal(decision, approval, f"approval {found.id} was not used in time", again)
    used, spent = await trio.to_thread.run_sync(lambda: store.approval_use(approval, now=now))
    if not spent:
        why = {
            "pending": "is still pending: approvers have not decided yet",
            "used": "was used already: an approval runs one request once",
        }.get(used.status, used.status.replace("_", " "))
        hint = (
            f"poll {STATUS_PREFIX}{used.id} and send it again once approved"
            if used.status == "pending"
            else again
        )
        return _refusal(decision, approval, f"approval {used.id} {why}", hint)
    relay.session.event(
        {"event": "approval_used", "approval": used.id, "by": used.decided_by, "class": used.klass}
    )
    relay.session.services.log("approval_used", approval=used.id, session=relay.session.session_id)
    return None


def _no_such(approval: str, req: ClientRequest, close: bool) -> bytes:
    doc = problem(404, "approval", f"no approval {approval[:40]!r} of yours")
    return problem_bytes(doc, close=close, head=req.method == "HEAD")


async def status_answer(
    store: Store | None, req: ClientRequest, identity: Identity, *, close: bool
) -> bytes:
    """The answer to ``GET /.well-known/limen/approvals/ID``: the approval's
    status for its requester; one of another subject is as unknown as a
    missing one (404)."""
    approval = req.target.split("?", 1)[0][len(STATUS_PREFIX) :]
    found: ApprovalRequest | None = None
    if store is None or not approval.isalnum() or req.method not in ("GET", "HEAD"):
        return _no_such(approval, req, close)
    try:
        found = await trio.to_thread.run_sync(store.approval, approval)
    except ApprovalError:
        return _no_such(approval, req, close)
    if (found.subject, found.issuer) != (identity.subject, identity.issuer):
        return _no_such(approval, req, close)
    now = time.time()
    if found.status == "pending" and now >= found.expires_at:
        found_id = found.id
        found = await trio.to_thread.run_sync(
            lambda: store.approval_finish(found_id, status="timed_out", now=now)
        )
    headers = [(b"retry-after", b"1")] if found.status == "pending" else []
    return json_response(200, _view(found, now), headers, close=close)
