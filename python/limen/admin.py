"""The admin HTTP API (``[gateway] admin``): approvals over JSON.

Every request carries an approver's OIDC token (``Authorization: Bearer
TOKEN``), verified exactly like a bot's (issuer, audience, expiry, keys).
An approver sees and decides the requests whose rule names one of the
token's groups in ``approvers``, and never their own.

    GET  /v1/approvals[?status=pending|all]   requests the caller may decide
    GET  /v1/approvals/{id}                   one request
    POST /v1/approvals/{id}/approve           {"reason": "...", "grant": "30m"}
    POST /v1/approvals/{id}/deny              {"reason": "..."}
    POST /v1/ssh/cert                         {"public_key": "ssh-ed25519 AAAA..."}: an
                                              OpenSSH user certificate for the caller
                                              (limen ssh cert; 404 without an SSH listener)
    GET  /healthz                             liveness, no token needed
    GET  /readyz                              readiness: the state store answers and
                                              the gateway is not draining (200 or 503)
    GET  /metrics                             Prometheus text format, no token needed

Errors are JSON ``{"error": ..., "error_description": ...}``: 401 without a
valid token (with ``WWW-Authenticate: Bearer``), 403 when the caller is not
an approver of that request or requested it, 404 for an unknown id, 409
when the request is no longer pending or the caller already voted, 400 for
a malformed body.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any

import msgspec
import trio

from limen.approvals import MAX_REASON, ApprovalHub, parse_duration
from limen.httpserver import HTTPServer, Request, Response, Router
from limen.identity import Authenticator, Identity, IdentityError
from limen.identity.sshca import CertError, SshCa
from limen.metrics import GatewayMetrics, default_metrics
from limen.store import ApprovalError, ApprovalRequest

__all__ = ["AdminAPI"]

READY_TIMEOUT = 2.0
"""Seconds the state store has to answer a readiness check."""
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class _CertBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    public_key: str


class _VoteBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: str | None = None
    grant: str | None = None
    """Approve and grant the class on the resource for this long (``30m``)."""


class AdminAPI:
    """The admin API of one gateway process."""

    def __init__(
        self,
        hub: ApprovalHub,
        authenticator: Authenticator,
        *,
        log: Callable[..., None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        metrics: GatewayMetrics | None = None,
        draining: Callable[[], bool] | None = None,
        ssh_ca: SshCa | None = None,
        max_cert_lifetime: float = 3600.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.hub = hub
        self.ssh_ca = ssh_ca
        """Signs ``POST /v1/ssh/cert`` (None: no SSH listener, 404)."""
        self.max_cert_lifetime = max_cert_lifetime
        self.clock: Callable[[], float] = clock if clock is not None else time.time
        self.metrics = metrics if metrics is not None else default_metrics()
        self.draining: Callable[[], bool] = draining if draining is not None else (lambda: False)
        """True once the gateway stopped accepting (SIGTERM): /readyz says 503."""
        self.ssl_context = ssl_context
        self.authenticator = authenticator
        self.log: Callable[..., None] = log if log is not None else (lambda *_a, **_k: None)

    def router(self) -> Router:
        router = Router()
        router.get("/healthz", self._health)
        router.get("/readyz", self._ready)
        router.get("/metrics", self._metrics)
        router.get("/v1/approvals", self._list)
        router.get("/v1/approvals/{id}", self._get)
        router.post("/v1/approvals/{id}/approve", self._approve)
        router.post("/v1/approvals/{id}/deny", self._deny)
        router.post("/v1/ssh/cert", self._ssh_cert)
        return router

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        server = HTTPServer(self.router(), server_name="limen-admin", ssl_context=self.ssl_context)
        await server.serve(host, port, task_status=task_status)

    # -- auth --------------------------------------------------------------------

    async def _caller(self, request: Request) -> Identity | Response:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("send an approver's token: Authorization: Bearer TOKEN")
        try:
            return await self.authenticator.authenticate(token.strip())
        except IdentityError as exc:
            self.log("admin_auth_refused", reason=exc.reason.value)
            return _unauthorized(f"token refused ({exc.reason.value}): {exc.message}")

    @staticmethod
    def _may_decide(identity: Identity, req: ApprovalRequest) -> bool:
        return bool(set(identity.groups) & set(req.approvers))

    # -- handlers ----------------------------------------------------------------

    async def _health(self, _request: Request) -> Response:
        return Response.json(200, {"status": "ok", "node": self.hub.node})

    async def _ready(self, _request: Request) -> Response:
        if self.draining():
            return Response.json(503, {"status": "draining", "node": self.hub.node})
        reachable = False
        with trio.move_on_after(READY_TIMEOUT):
            reachable = await trio.to_thread.run_sync(self._store_answers, abandon_on_cancel=True)
        if not reachable:
            return Response.json(503, {"status": "state store unreachable", "node": self.hub.node})
        return Response.json(200, {"status": "ready", "node": self.hub.node})

    def _store_answers(self) -> bool:
        try:
            self.hub.store.ping()
        except Exception:
            return False
        return True

    async def _metrics(self, _request: Request) -> Response:
        return Response(200, self.metrics.render().encode(), PROMETHEUS_TEXT)

    async def _list(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        status = request.query.get("status", "pending")
        if status not in ("pending", "all"):
            return Response.error(400, "invalid_request", "status is pending or all")
        reqs = await trio.to_thread.run_sync(
            lambda: self.hub.store.approvals(pending_only=status == "pending")
        )
        visible = [r for r in reqs if self._may_decide(caller, r)]
        return Response.json(200, [_public(r) for r in visible])

    async def _get(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        found = await self._find(request.params["id"])
        if isinstance(found, Response):
            return found
        if not self._may_decide(caller, found):
            return _forbidden(caller, found)
        return Response.json(200, _public(found))

    async def _ssh_cert(self, request: Request) -> Response:
        if self.ssh_ca is None:
            return Response.error(404, "not_found", "this gateway has no SSH listener")
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        try:
            body = msgspec.json.decode(request.body, type=_CertBody)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return Response.error(400, "invalid_request", f"bad body: {exc}")
        try:
            cert = self.ssh_ca.issue(
                caller, body.public_key, now=self.clock(), max_lifetime=self.max_cert_lifetime
            )
        except CertError as exc:
            return Response.error(400, "invalid_request", str(exc))
        self.log(
            "ssh_cert_issued",
            subject=caller.subject,
            serial=cert.serial,
            key_id=cert.key_id,
            valid_before=cert.valid_before,
        )
        return Response.json(
            200,
            {
                "certificate": cert.line,
                "serial": cert.serial,
                "key_id": cert.key_id,
                "principals": list(cert.principals),
                "valid_after": cert.valid_after,
                "valid_before": cert.valid_before,
            },
        )

    async def _approve(self, request: Request) -> Response:
        return await self._vote(request, approve=True)

    async def _deny(self, request: Request) -> Response:
        return await self._vote(request, approve=False)

    async def _find(self, approval_id: str) -> ApprovalRequest | Response:
        try:
            return await trio.to_thread.run_sync(self.hub.store.approval, approval_id)
        except ApprovalError as exc:
            return Response.error(404, "not_found", str(exc))

    async def _vote(self, request: Request, *, approve: bool) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        try:
            body = (
                msgspec.json.decode(request.body, type=_VoteBody)
                if request.body.strip()
                else _VoteBody()
            )
        except msgspec.ValidationError as exc:
            return Response.error(400, "invalid_request", f"bad body: {exc}")
        except msgspec.DecodeError:
            return Response.error(400, "invalid_request", "the body is not JSON")
        if body.reason is not None and len(body.reason) > MAX_REASON:
            return Response.error(400, "invalid_request", f"reason: at most {MAX_REASON} chars")
        grant: float | None = None
        if body.grant is not None:
            if not approve:
                return Response.error(400, "invalid_request", "grant goes with approve only")
            try:
                grant = parse_duration(body.grant)
            except ValueError as exc:
                return Response.error(400, "invalid_request", f"grant: {exc}")
        found = await self._find(request.params["id"])
        if isinstance(found, Response):
            return found
        if not self._may_decide(caller, found):
            return _forbidden(caller, found)
        try:
            decided = await self.hub.vote(
                found.id,
                approver=caller.subject,
                approve=approve,
                reason=body.reason,
                grant_seconds=grant,
            )
        except ApprovalError as exc:
            status = {"not_found": 404, "self_approval": 403}.get(exc.kind, 409)
            return Response.error(status, exc.kind, str(exc))
        self.log(
            "approval_vote",
            approval=found.id,
            approver=caller.subject,
            approve=approve,
            status=decided.status,
            via="admin_api",
        )
        return Response.json(200, _public(decided))


def _public(req: ApprovalRequest) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(req)
    return out


def _unauthorized(description: str) -> Response:
    return Response.json(
        401,
        {"error": "unauthorized", "error_description": description},
        headers=(("www-authenticate", 'Bearer realm="limen"'),),
    )


def _forbidden(caller: Identity, req: ApprovalRequest) -> Response:
    return Response.error(
        403,
        "forbidden",
        f"{caller.subject} is not in an approver group of approval {req.id} "
        f"([{', '.join(req.approvers)}])",
    )
