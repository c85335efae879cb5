"""The API calls of one Kubernetes session, one exchange at a time.

:class:`KubeRelay` is the HTTP relay (:mod:`limen.gateway.http.relay`:
reading, holds, forwarding, streaming, masking, recording) with the
judging of a Kubernetes call in place of HTTP routes:

1. the call is parsed (:func:`limen.policy.kube.parse`) from the
   normalised path: verb, group, version, resource, subresource,
   namespace, name; a path that is not an API call is denied;
2. a write that makes pods (create, update or patch of a Pod, a workload
   with a pod template, ``pods/ephemeralcontainers``) and that the rules
   do not deny as a call (no dry run for a refused bot) has its body read
   (up to ``[gateway] max_message_size``) and the pods it would make
   checked against the Pod Security Standards
   (:mod:`limen.policy.kube.podsec`): a JSON create or update is judged as
   sent; a PATCH (any patch type, server-side apply included) or a body
   that is not JSON (YAML, protobuf) is sent first as a server-side dry run
   (``dryRun=All``) with limen's credential, and the object the API server
   answers is judged: what the real request would make. A dry run the API
   server refuses is the client's answer (the real request is never sent);
3. :func:`limen.policy.kube.decide_kube` judges the call and the
   violations; the decision is recorded with the call
   (``kube_request`` event: verb, object, violations) and then allowed,
   held or refused as for HTTP; refusals are ``Status`` objects
   (:mod:`limen.gateway.kube.status`) kubectl shows.
"""

from __future__ import annotations

import dataclasses
import shlex
from urllib.parse import parse_qs

import h11
import msgspec

from limen import _native
from limen.gateway.holds import Holds
from limen.gateway.http.headers import head_text, request_headers, target_text
from limen.gateway.http.problem import Problem, denial, problem, problem_bytes
from limen.gateway.http.reader import ClientReader, ClientRequest
from limen.gateway.http.relay import HttpRelay
from limen.gateway.http.route import Routed
from limen.gateway.http.upstream import Upstream, UpstreamError
from limen.gateway.judging import local_denial
from limen.gateway.kube.exec import WsPump
from limen.gateway.kube.spdyrelay import SpdyPump
from limen.gateway.kube.status import to_status
from limen.gateway.kube.upgrade import relay_upgrade, wants_upgrade
from limen.gateway.kube.watch import relay_watch
from limen.gateway.kube.writes import call_event, pod_write, state_dependent
from limen.gateway.session import Session
from limen.jsonmask import JsonMasker
from limen.policy import Decision
from limen.policy.kube import KubeParseError, KubeRequest, decide_kube, parse, violations
from limen.recording import C2U, U2C

__all__ = ["KubeRelay"]

_JSON_TYPES = (b"application/json",)
#: Verbs whose streams are relayed as upgrades (WebSocket: gateway/kube/exec.py,
#: SPDY/3.1: gateway/kube/spdyrelay.py).
_STREAM_VERBS = frozenset({"exec", "attach", "portforward"})


class _Answered(Exception):
    """The exchange was answered already (keep: whether the connection may go on)."""

    def __init__(self, keep: bool) -> None:
        super().__init__()
        self.keep = keep


class KubeRelay(HttpRelay):
    """Runs one Kubernetes session's exchanges (see the module docs)."""

    def __init__(
        self,
        session: Session,
        reader: ClientReader,
        upstream: Upstream,
        holds: Holds,
        masker: _native.Masker | None,
        json_masker: JsonMasker | None = None,
        *,
        restricted: bool,
    ) -> None:
        super().__init__(session, reader, upstream, holds, [], masker, json_masker)
        self.restricted = restricted
        self.watching = False
        """The exchange under way is a watch (its answer: :mod:`limen.gateway.kube.watch`)."""

    async def respond(self, req: ClientRequest, event: h11.Response) -> bool:
        """As the HTTP relay's; a watch's answer event by event."""
        if self.watching and event.status_code == 200 and req.method == "GET":
            return await relay_watch(self, req, event)
        return await super().respond(req, event)

    async def reply(
        self,
        req: ClientRequest,
        doc: Problem,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        close: bool,
    ) -> bool:
        """As the HTTP relay's, with a Kubernetes ``Status`` body."""
        # a client waiting for 100-continue has not sent its body: limen
        # does not ask for it, and says the connection closes
        waiting = req.conn.they_are_waiting_for_100_continue
        keep = not close and req.keep_alive and not waiting
        req.response_started = True
        answer = to_status(problem_bytes(doc, headers, close=not keep))
        if req.method == "HEAD":
            answer = answer.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
        await self.session.client.send_all(answer)
        self.record(U2C, to_status(problem_bytes(doc, headers, close=not keep)))
        if not keep:
            return False
        return await self.reader.discard_body(req, self.discard_limit)

    async def exchange(self, req: ClientRequest, routed: Routed) -> bool:
        s = self.session
        assert s.judge is not None
        path = routed.path
        secret = self.upstream.credential[0] if self.upstream.credential else None
        shown = f"{req.method} /r/{self.resource.name}".encode() + target_text(path.target.encode())
        self.record(
            C2U,
            # secret-named query values, and the bot's own header named like
            # the credential's, redacted as the HTTP relay does
            self.mask_input(head_text(shown + b" HTTP/1.1", req.headers, secret)),
            masked=s.input_masker is not None,
        )
        body: bytes | None = None
        try:
            call = parse(req.method, path.segments, path.query)
        except KubeParseError as exc:
            reason = str(exc)
            denied = local_denial(
                "kube:unknown",
                f"denied: {req.method} {path.path} is not a Kubernetes API call limen knows "
                f"({reason})",
                "limen denies paths it cannot read as an API call",
            )
            s.judge.judge_decided(lambda: denied, protocol="kubernetes")
            return await self.reply(req, denial(denied), close=False)
        found: list[str] = []
        policy = s.services.policy
        identity, name = self.identity, self.resource.name
        profile = "restricted" if self.restricted else "baseline"
        writes = pod_write(call)
        if writes is not None:
            # The call itself first: a write the rules deny gets no dry run
            # (with limen's credential, its answer would tell a refused bot
            # whether the object exists).
            first = decide_kube(policy, identity, name, call)
            if first.action == "deny":
                writes = None
        try:
            if writes is not None:
                body = await self.read_body(req)
                found = state_dependent(req, body)
                if not found:  # else refused as it is: no dry run
                    obj = await self.judged_object(req, routed, call, body)
                    found = violations(writes, obj, restricted=self.restricted)
        except _Answered as answered:
            return answered.keep
        event = call_event(call, found)
        if call.verb in _STREAM_VERBS:  # the command it runs, as recorded (masked)
            argv = parse_qs(path.query or "").get("command", [])
            event["argv"] = self.mask_input(shlex.join(argv).encode()).decode("utf-8", "replace")
        self.session.event(event)

        def decide() -> Decision:
            decision = decide_kube(policy, identity, name, call, found, profile)
            return dataclasses.replace(decision, commands=(call.command(),))

        verdict = s.judge.judge_decided(decide, protocol="kubernetes")
        decision = verdict.decision
        if verdict.held:  # the HTTP relay's holds (and its deferred approvals)
            kept = await self.held(req, decision, call.command())
            if kept is not None:
                return kept
        elif decision.action != "allow":
            return await self.reply(req, denial(decision), close=False)
        if call.verb in _STREAM_VERBS and wants_upgrade(req, WsPump.upgrade):
            return await relay_upgrade(self, req, routed, WsPump(self))
        if call.verb in _STREAM_VERBS and wants_upgrade(req, SpdyPump.upgrade):
            return await relay_upgrade(self, req, routed, SpdyPump(self))
        self.watching = call.verb == "watch"
        return await self.forward(req, routed, body)

    # -- bodies and dry runs -----------------------------------------------------------

    async def read_body(self, req: ClientRequest) -> bytes:
        """The whole request body (at most ``max_message_size``; beyond:
        a 413 and the connection closes)."""
        data = bytearray()
        try:
            async for chunk in self.reader.body(req):
                data += chunk
                if len(data) > self.discard_limit:
                    doc = problem(
                        413,
                        "body",
                        f"a pod write is judged whole: its body is over {self.discard_limit} bytes",
                    )
                    raise _Answered(await self.reply(req, doc, close=True))
        except h11.RemoteProtocolError as exc:
            doc = problem(400, "body", f"the request body is refused: {exc}")
            raise _Answered(await self.reply(req, doc, close=True)) from None
        self.record_body(bytes(data))
        return bytes(data)

    def record_body(self, data: bytes) -> None:
        masker = self.session.input_masker
        if not data:
            return
        self.record(C2U, self.mask_input(data), masked=masker is not None)

    async def judged_object(
        self, req: ClientRequest, routed: Routed, call: KubeRequest, body: bytes
    ) -> object:
        """The object a pod write would make: the JSON body of a create or
        update, else the answer to a server-side dry run."""
        ctype = (req.header(b"content-type") or b"").split(b";")[0].strip().lower()
        if call.verb != "patch" and ctype in _JSON_TYPES:
            try:
                return msgspec.json.decode(body)
            except msgspec.DecodeError:
                doc = problem(400, "body", "the request body is not valid JSON")
                raise _Answered(await self.reply(req, doc, close=False)) from None
        status, headers, answer = await self.dry_run(req, routed, body)
        if not 200 <= status < 300:
            raise _Answered(await self.pass_answer(req, status, headers, answer))
        try:
            return msgspec.json.decode(answer)
        except msgspec.DecodeError:
            doc = problem(
                502, "upstream", "the dry run's answer is not JSON: limen cannot judge it"
            )
            raise _Answered(await self.reply(req, doc, close=False)) from None

    async def dry_run(
        self, req: ClientRequest, routed: Routed, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Sends ``req`` upstream with ``dryRun=All`` (limen's credential,
        a JSON answer asked for); its status, headers and body."""
        up = self.upstream
        query = routed.path.query
        target = routed.path.path + "?" + ("dryRun=All" if not query else f"{query}&dryRun=All")
        kept = [(k, v) for k, v in req.headers if k != b"accept"]
        for attempt in (1, 2):
            await up.ready()
            headers = request_headers(
                kept,
                host=up.target.host_header,
                credential=up.credential,
                content_length=str(len(body)).encode(),
                chunked=False,
                masked=True,
            )
            headers.append((b"accept", b"application/json"))
            try:
                await up.send(
                    h11.Request(
                        method=req.method,
                        target=up.request_target(target),
                        headers=headers,
                    )
                )
                await up.send(h11.Data(data=body))
                await up.send(h11.EndOfMessage())
                response = await up.response()
            except UpstreamError:
                if attempt == 2 or not up.reused:
                    raise
                await up.close()
                continue
            break
        answer = bytearray()
        while True:
            event = await up.next_event()
            if isinstance(event, h11.EndOfMessage):
                break
            if not isinstance(event, h11.Data):
                raise UpstreamError(f"the upstream sent {type(event).__name__} in a body")
            answer += event.data
            if len(answer) > self.discard_limit:
                await up.close()
                raise UpstreamError("the dry run's answer is over max_message_size")
        if up.conn.our_state is not h11.DONE or up.conn.their_state is not h11.DONE:
            await up.close()
        self.session.event({"event": "kube_dry_run", "status": response.status_code})
        pairs = [(bytes(k).lower(), bytes(v)) for k, v in response.headers]
        return response.status_code, pairs, bytes(answer)

    async def pass_answer(
        self, req: ClientRequest, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> bool:
        """Answers ``req`` with what the API server said of its dry run."""
        kept = [(k, v) for k, v in headers if k in (b"content-type", b"audit-id")]
        kept.append((b"content-length", str(len(body)).encode()))
        out = req.conn
        req.response_started = True
        data = out.send(h11.Response(status_code=status, headers=kept)) or b""
        data += out.send(h11.Data(data=body)) or b""
        data += out.send(h11.EndOfMessage()) or b""
        await self.session.client.send_all(data)
        self.record(U2C, head_text(f"HTTP/1.1 {status}".encode(), kept) + body)
        return out.our_state is h11.DONE and out.their_state is h11.DONE
