"""The requests of one HTTP session, one exchange at a time.

For each request on the connection (the first was read by the handshake):
route and authenticate it (later requests must name the session's resource
with a token of the same subject, neither revoked: :mod:`.tokens`; else
``421``/``401``), record its head,
classify it (:mod:`limen.policy.http`) and judge it
(:meth:`limen.gateway.judging.Judge.judge_decided`). A denial is a ``403``
problem document; a hold waits in place (:class:`limen.gateway.holds.Holds`)
and then proceeds, or is a ``403`` naming the approval. An allowed request
goes upstream (:mod:`limen.gateway.http.upstream`) with its body streamed
as it arrives; the response comes back streamed, its body masked on the
way with the session's ``json:`` masks (:mod:`limen.jsonmask`, JSON
bodies) and its masker (``MaskStream``: constant memory, a
Content-Length response is framed again as chunked, or given its new
length when it is small), and recorded (``c2u``/``u2c``, heads with their
secrets redacted).

A request body that breaks its framing closes the upstream connection
mid-request (the upstream never gets a complete request) and the client
gets a ``400``; an upstream that fails gets a ``502``. A request with a
body goes on a fresh upstream connection when the kept one has been idle
for :data:`STALE_AFTER` (it could not be sent again were the upstream to
have closed it meanwhile).
"""

from __future__ import annotations

import h11
import trio

from limen import _native
from limen.approvals import ApprovalRequest
from limen.config import Resource
from limen.gateway.holds import Holds
from limen.gateway.http.deferred import (
    APPROVAL_HEADER,
    defer,
    is_status_request,
    redeem,
    status_answer,
    wants_async,
)
from limen.gateway.http.head import HeadError
from limen.gateway.http.headers import (
    head_text,
    parsed_request,
    request_headers,
    target_text,
)
from limen.gateway.http.judged import Refused, judged_body
from limen.gateway.http.problem import Problem, denial, problem, problem_bytes
from limen.gateway.http.reader import ClientReader, ClientRequest
from limen.gateway.http.response import BUFFERED_LIMIT, respond
from limen.gateway.http.route import Refusal, Routed, refused_head, route
from limen.gateway.http.sni import check_sni
from limen.gateway.http.tokens import TokenMemo, identify
from limen.gateway.http.upgrade import relay_upgrade, upgrade_of
from limen.gateway.http.upstream import Upstream, UpstreamError
from limen.gateway.session import Session
from limen.identity import Identity
from limen.jsonmask import JsonMasker
from limen.policy import Decision, Policy
from limen.policy.http import NO_BODY, Route, classify, needs_body
from limen.recording import C2U, U2C

__all__ = ["BUFFERED_LIMIT", "HttpRelay"]

#: An upstream connection idle longer than this (seconds) is not trusted
#: with a request that has a body (servers close idle keep-alive
#: connections after a few seconds; uvicorn after 5): a new one is opened.
STALE_AFTER = 2.0


class HttpRelay:
    """Runs one session's exchanges (see the module docs)."""

    def __init__(
        self,
        session: Session,
        reader: ClientReader,
        upstream: Upstream,
        holds: Holds,
        routes: list[Route],
        masker: _native.Masker | None,
        json_masker: JsonMasker | None = None,
    ) -> None:
        self.session = session
        self.reader = reader
        self.upstream = upstream
        self.holds = holds
        self.routes = routes
        self.masker = masker
        self.json_masker = json_masker
        """``json:`` masks, for JSON response bodies (with ``masker``)."""
        self.current: ClientRequest | None = None
        """The request being answered (the session's fatal answer needs it)."""
        self.discard_limit = int(session.config.gateway.max_message_size)
        self.upstream_idle_since = trio.current_time()
        """When the upstream connection last finished a response."""
        self.token_memo = TokenMemo()
        """The last token verified on this connection (:mod:`.tokens`)."""
        self.raw_upgrade = False
        """Relaying an upgraded stream limen cannot mask (not WebSocket)."""

    @property
    def resource(self) -> Resource:
        assert self.session.resource is not None
        return self.session.resource

    @property
    def identity(self) -> Identity:
        assert self.session.identity is not None
        return self.session.identity

    def record(self, kind: str, data: bytes, *, masked: bool = False) -> None:
        recorder = self.session.recorder
        if recorder is not None:
            recorder.append(kind, data, masked=masked)

    def mask_input(self, data: bytes) -> bytes:
        """Client bytes as recorded: the session's statement masker's
        detectors (None: the session records raw)."""
        masker = self.session.input_masker
        return data if masker is None else masker.content.mask(data)

    # -- the loop ------------------------------------------------------------------

    async def run(self, first: ClientRequest, routed: Routed) -> None:
        req: ClientRequest | None = first
        self.token_memo.remember(first.headers, self.identity)  # the session verified it
        while req is not None:
            self.current = req
            if req is first:
                keep = await self.exchange(req, routed)
            else:
                keep = await self.next_exchange(req)
            self.current = None
            if not keep:
                return
            try:
                req = await self.reader.next_request()
            except (HeadError, h11.RemoteProtocolError) as exc:
                raise refused_head(exc) from None
            self.session.touch()

    async def next_exchange(self, req: ClientRequest) -> bool:
        """A later request on the connection: same resource, same subject
        (or the status of an approval)."""
        http = self.session.protocol == "http"
        if is_status_request(req) and http:
            return await self.approval_status(req)
        try:
            if http:
                check_sni(req, getattr(self.session, "sni", None))
            routed = route(self.session.config, req, self.session.protocol)
            if routed.resource.name != self.resource.name:
                raise Refusal(
                    problem(
                        421,
                        "connection",
                        f"this connection is bound to resource {self.resource.name!r}",
                        "open a new connection for another resource",
                    )
                )
            identity = await identify(
                self.session.services,
                req,
                self.resource.name,
                self.token_memo,
                protocol=self.session.protocol,
                session_identity=self.identity,
            )
        except Refusal as refusal:
            await self.reply(req, refusal.problem, refusal.headers, close=True)
            return False
        if (identity.subject, identity.issuer) != (self.identity.subject, self.identity.issuer):
            doc = problem(
                401,
                "token",
                "the token's subject is not this connection's",
                "open a new connection for another identity",
            )
            await self.reply(req, doc, close=True)
            return False
        return await self.exchange(req, routed)

    async def approval_status(self, req: ClientRequest) -> bool:
        """Answers ``GET /.well-known/limen/approvals/ID``
        (:func:`limen.gateway.http.deferred.status_answer`)."""
        try:
            identity = await identify(
                self.session.services,
                req,
                self.resource.name,
                protocol=self.session.protocol,
                session_identity=self.identity,
            )
        except Refusal as refusal:
            return await self.reply(req, refusal.problem, refusal.headers, close=True)
        hub = self.holds.hub
        store = None if hub is None else hub.store
        keep = req.keep_alive and not req.conn.they_are_waiting_for_100_continue
        req.response_started = True
        await self.session.client.send_all(
            await status_answer(store, req, identity, close=not keep)
        )
        return keep and await self.reader.discard_body(req, self.discard_limit)

    async def reply(
        self,
        req: ClientRequest,
        doc: Problem,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        close: bool,
    ) -> bool:
        """Answers ``req`` itself; then reads its body to keep the
        connection (True), or closes (False)."""
        # A client waiting for 100-continue has not sent its body: limen
        # does not ask for it, and says the connection closes.
        waiting = req.conn.they_are_waiting_for_100_continue
        keep = not close and req.keep_alive and not waiting
        req.response_started = True
        await self.session.client.send_all(
            problem_bytes(doc, headers, close=not keep, head=req.method == "HEAD")
        )
        self.record(U2C, problem_bytes(doc, headers, close=not keep))
        if not keep:
            return False
        return await self.reader.discard_body(req, self.discard_limit)

    # -- one exchange --------------------------------------------------------------

    async def exchange(self, req: ClientRequest, routed: Routed) -> bool:
        """Judges ``req`` and answers it; True to keep the connection."""
        s = self.session
        assert s.judge is not None
        path = routed.path
        secret = self.upstream.credential[0] if self.upstream.credential else None
        shown = f"{req.method} /r/{self.resource.name}".encode() + target_text(path.target.encode())
        self.record(
            C2U,
            # the bot's own header named like the credential's is redacted too
            self.mask_input(head_text(shown + b" HTTP/1.1", req.headers, secret)),
            masked=s.input_masker is not None,
        )
        body: bytes | None = None
        doc: object = NO_BODY
        if needs_body(req.method, path.segments, self.routes):
            judged = await judged_body(self, req)
            if isinstance(judged, Refused):
                return await self.reply(req, judged.problem, close=judged.close)
            body, doc = judged.data, judged.doc
        match = classify(req.method, path.segments, self.routes, doc)
        policy: Policy = s.services.policy
        verdict = s.judge.judge_decided(
            lambda: policy.decide_classification(
                self.identity, self.resource.name, match.classification
            ),
            protocol="http",
        )
        decision = verdict.decision
        if verdict.held:
            kept = await self.held(req, decision, self.mask_input(shown).decode("utf-8", "replace"))
            if kept is not None:
                return kept
        elif decision.action != "allow":
            return await self.reply(req, denial(decision), close=False)
        return await self.forward(req, routed, body)

    async def held(self, req: ClientRequest, decision: Decision, statement: str) -> bool | None:
        """A held request: None when it runs now (approved, a grant, or its
        single-use approval spent: :mod:`limen.gateway.http.deferred`),
        else it was answered (True to keep the connection)."""
        approval = req.header(APPROVAL_HEADER)
        if approval is not None:
            refused = await redeem(
                self, decision, statement, approval.decode("ascii", "replace").strip()
            )
            return None if refused is None else await self.reply(req, refused, close=False)
        if wants_async(req) and self.holds.hub is not None:
            return await defer(self, req, decision, statement)  # None: a grant covers it
        created: list[str] = []

        async def notify(request: ApprovalRequest, timeout: float) -> None:
            created.append(request.id)

        outcome = await self.holds.hold(
            decision, statement, notify=notify, watch=lambda: self.reader.watch(req)
        )
        self.session.touch()
        if outcome.gone:
            return False
        if not outcome.run:
            doc = denial(decision, created[0] if created else None)
            doc.detail = outcome.message
            doc.hint = outcome.hint
            return await self.reply(req, doc, close=False)
        return None

    async def forward(self, req: ClientRequest, routed: Routed, body: bytes | None = None) -> bool:
        """Sends an allowed request upstream, then streams the response;
        ``body``: the request's body, when limen has read it whole (it is
        recorded already)."""
        up = self.upstream
        if self.session.protocol == "http" and upgrade_of(req) is not None:
            return await relay_upgrade(self, req, up.request_target(routed.path.target))
        bodyless = not req.has_body or body is not None
        if not bodyless and trio.current_time() - self.upstream_idle_since > STALE_AFTER:
            # A request with a body cannot be sent again if the upstream
            # closed the idle connection meanwhile (after a hold, say): a
            # fresh connection for it.
            await up.close()
        for attempt in (1, 2):
            await up.ready()
            headers = request_headers(
                req.headers,
                host=up.target.host_header,
                credential=up.credential,
                content_length=(
                    req.header(b"content-length") if body is None else str(len(body)).encode()
                ),
                chunked=body is None and req.header(b"transfer-encoding") is not None,
                masked=self.masker is not None,
            )
            target = up.request_target(routed.path.target)
            try:
                await up.send(parsed_request(req.method, target, headers))
                if bodyless:
                    if body:
                        await up.send(h11.Data(data=body))
                    elif not self.reader.end_bodyless(req):
                        await self.reader.discard_body(req, 0)
                    await up.send(h11.EndOfMessage())
                    return await self.respond(req, await up.response())
            except UpstreamError:
                # A kept-alive connection the upstream closed meanwhile:
                # a request without a body is sent again, once.
                if attempt == 2 or not up.reused:
                    raise
                await up.close()
                continue
            break
        input_masker = self.session.input_masker
        # The recording's copy is masked as it streams (a secret cut across
        # two chunks is masked whole); the upstream gets the bytes as sent.
        masking = None if input_masker is None else input_masker.content.stream()
        try:
            async for chunk in self.reader.body(req):
                copy = chunk if masking is None else masking.feed(chunk)
                if copy:
                    self.record(C2U, copy, masked=masking is not None)
                await up.send(h11.Data(data=chunk))
                self.session.touch()
            if masking is not None and (rest := masking.finish()):
                self.record(C2U, rest, masked=True)
        except h11.RemoteProtocolError as exc:
            await up.close()  # the upstream never gets a complete request
            doc = problem(400, "body", f"the request body is refused: {exc}")
            await self.reply(req, doc, close=True)
            return False
        await up.send(h11.EndOfMessage())
        return await self.respond(req, await up.response())

    async def respond(self, req: ClientRequest, event: h11.Response) -> bool:
        """Streams the upstream's response to the client
        (:func:`limen.gateway.http.response.respond`); True when both sides
        may go on (keep-alive)."""
        return await respond(self, req, event)
