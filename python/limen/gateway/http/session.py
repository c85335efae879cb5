"""The HTTP session driver: :class:`HttpSession`, the skeleton of
:mod:`limen.gateway.session` for one client connection of the ``http``
listener.

- handshake: TLS when the listener has a certificate (else loopback only,
  as ``[listeners] allow_plaintext_loopback`` says), then the first
  request's head (:mod:`limen.gateway.http.reader`), its resource and its
  token (:mod:`limen.gateway.http.route`): the connection is bound to that
  resource and that subject;
- upstream: :mod:`limen.gateway.http.upstream` (the connection is opened
  again when the upstream closes it between requests);
- login: nothing upstream (the credential goes into every request); the
  routes, the masker and the hold service of the session;
- relay: :class:`limen.gateway.http.relay.HttpRelay`, every request of
  the connection, with the idle watch beside it;
- the end: a problem document when a request is waiting for its answer
  (400 for a malformed request, 401 for a refused token, 404, 429, 502,
  503), else the connection just closes.
"""

from __future__ import annotations

from collections.abc import Iterable

import h11
import trio

from limen.config import is_loopback_host
from limen.gateway.http.deferred import is_status_request, status_answer
from limen.gateway.http.head import HeadError
from limen.gateway.http.problem import problem, problem_bytes, unauthorized
from limen.gateway.http.reader import ClientReader, ClientRequest
from limen.gateway.http.relay import HttpRelay
from limen.gateway.http.route import HttpEnd, Refusal, Routed, authenticate, refused_head, route
from limen.gateway.http.sni import check_sni, tls_handshake
from limen.gateway.http.upstream import Upstream, UpstreamError
from limen.gateway.livemasks import new_masks, take_input_masker
from limen.gateway.services import Services
from limen.gateway.session import Admission, Session, SessionEnd
from limen.jsonmask import JsonMasker
from limen.policy.http import compile_route

__all__ = ["HttpSession"]

MAX_HEAD = 65536
#: SessionEnd codes as HTTP statuses (the rest: 502).
STATUS = {
    "08P01": 400,
    "28000": 401,
    "28P01": 401,
    "3D000": 404,
    "53300": 429,
    "42501": 403,
    "57P01": 503,
    "57P05": 0,  # idle: nothing to answer
}


class HttpSession(Session):
    """One HTTP client connection (keep-alive) and its upstream connection."""

    protocol = "http"
    protocol_errors = (h11.RemoteProtocolError, HeadError)

    def __init__(self, services: Services, client: trio.abc.Stream, peer_host: str) -> None:
        super().__init__(services, client, peer_host)
        size = int(self.config.gateway.max_message_size)
        self.reader = ClientReader(client, MAX_HEAD, size)
        self.first: ClientRequest | None = None
        self.routed: Routed | None = None
        self.upstream: Upstream | None = None
        self.http_relay: HttpRelay | None = None
        self.sni: str | None = None
        """The TLS server name the client asked for (TLS listeners)."""
        self.mask_generation = services.generation
        """The services' config generation the session's masks come from."""

    @property
    def current(self) -> ClientRequest | None:
        """The request waiting for its answer, if any."""
        if self.http_relay is not None:
            return self.http_relay.current
        return self.first

    async def handshake(self) -> Admission | None:
        ctx = self.services.ssl_context
        if ctx is not None:
            tls, self.sni = await tls_handshake(self.client, ctx)
            self.client = tls
            self.reader.stream = tls
            self.tls = True
        while True:
            try:
                req = await self.reader.next_request()
            except (HeadError, h11.RemoteProtocolError) as exc:
                raise refused_head(exc) from None
            if req is None:
                return None
            self.first = req
            if not self.tls and not (
                self.config.listeners.allow_plaintext_loopback and is_loopback_host(self.peer_host)
            ):
                doc, headers = unauthorized("limen takes tokens only over TLS")
                raise Refusal(doc, headers, code="28000").end()
            if self.protocol != "http":
                break
            try:
                check_sni(req, self.sni)
            except Refusal as refusal:
                raise refusal.end() from None
            if not is_status_request(req):
                break
            if not await self.approval_status(req):
                return None
        try:
            routed = route(self.config, req, self.protocol)
            identity = await authenticate(self.services, req, routed.resource.name)
        except Refusal as refusal:
            raise refusal.end() from None
        self.routed = routed
        return Admission(identity, routed.resource)

    async def approval_status(self, req: ClientRequest) -> bool:
        """Answers a status request before any resource is bound
        (:func:`limen.gateway.http.deferred.status_answer`); True to read
        the next request."""
        try:
            identity = await authenticate(self.services, req, "")
        except Refusal as refusal:
            raise refusal.end() from None
        hub = self.services.approvals
        keep = req.keep_alive and not req.conn.they_are_waiting_for_100_continue
        req.response_started = True
        answer = await status_answer(
            None if hub is None else hub.store, req, identity, close=not keep
        )
        await self.client.send_all(answer)
        size = int(self.config.gateway.max_message_size)
        return keep and await self.reader.discard_body(req, size)

    async def connect_upstream(self) -> None:
        assert self.resource is not None
        upstream = Upstream(self.services, self.resource)
        await upstream.open()
        self.upstream = upstream

    async def login(self) -> None:
        assert self.identity is not None
        assert self.resource is not None
        assert self.upstream is not None
        identity, resource = self.identity, self.resource
        holds = self.new_holds()
        routes = [compile_route(r.methods, r.path, r.klass, r.body) for r in resource.http_routes]
        self.mask_generation = self.services.generation
        masker = self.services.masker_for(identity, resource.name)
        json_masker = self.json_masker(self.services.policy.mask_for(identity, resource.name))
        self.http_relay = HttpRelay(
            self, self.reader, self.upstream, holds, routes, masker, json_masker
        )

    def json_masker(self, masks: Iterable[str]) -> JsonMasker | None:
        """The ``json:`` masks of a mask list, for JSON response bodies."""
        paths = [m for m in masks if m[:5] == "json:"]
        return JsonMasker(paths) if paths else None

    def rebind(self) -> bool:
        """The new rules (:meth:`Session.rebind`) and masks: the next
        response is masked by the new ones (:mod:`limen.gateway.livemasks`)."""
        rebound = super().rebind()
        masks = new_masks(self) if self.http_relay is not None else None
        if masks is None or self.http_relay is None:
            return rebound
        self.http_relay.masker = masks.masker
        self.http_relay.json_masker = self.json_masker(masks.names)
        take_input_masker(self, masks)
        return True

    async def relay(self) -> None:
        assert self.http_relay is not None
        assert self.first is not None
        assert self.routed is not None
        relay = self.http_relay
        try:
            await self._relay_in_nursery(relay, self.first, self.routed)
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            # A TLS client that drops a kept-alive connection without
            # close_notify breaks the stream inside the nursery: the exception
            # group would not read as a lost connection and would end the
            # listener. Unwrapped, it ends this session only.
            raise trio.BrokenResourceError("the client connection was lost") from None

    async def _relay_in_nursery(
        self, relay: HttpRelay, first: ClientRequest, routed: Routed
    ) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                self.idle_watch,
                nursery.cancel_scope,
                lambda: trio.current_time() - self.last_activity,
                lambda: relay.holds.waiting,
            )
            try:
                await relay.run(first, routed)
            except UpstreamError as exc:
                self.services.log("upstream_failed", session=self.session_id, error=str(exc))
                self.finish(SessionEnd("08006", f"the upstream of {self.resource_name!r} failed"))
            except h11.LocalProtocolError as exc:  # what limen would send is not HTTP
                self.services.log("relay_failed", session=self.session_id, error=str(exc))
                self.finish(SessionEnd("08006", "the gateway could not relay the answer"))
            except SessionEnd as end:  # not through the nursery: no exception group
                self.finish(end)
            nursery.cancel_scope.cancel()

    def fatal_bytes(self, end: SessionEnd) -> bytes:
        req = self.current
        head = req is not None and req.method == "HEAD"
        if isinstance(end, HttpEnd):  # a request limen refuses (even one it could not read)
            refusal = end.refusal
            return problem_bytes(refusal.problem, refusal.headers, close=True, head=head)
        if req is None or req.response_started:
            return b""  # between requests or mid-response: the connection just closes
        status = STATUS.get(end.code, 502)
        if status == 0:
            return b""
        if status == 401:
            doc, headers = unauthorized(end.message)
            return problem_bytes(doc, headers, close=True, head=head)
        slug = {400: "request", 403: "denied", 404: "resource", 429: "limit", 503: "shutdown"}
        doc = problem(status, slug.get(status, "upstream"), end.message, end.hint)
        return problem_bytes(doc, close=True, head=head)

    async def close_upstream(self) -> None:
        if self.upstream is not None:
            await self.upstream.close()
