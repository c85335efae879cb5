"""Request bodies read whole to be judged: a route with JSON body
conditions (:mod:`limen.policy.http.body`) needs the body before the
request can be classified.

:func:`judged_body` reads the body (asking a client that waits for
``100 Continue`` for it first), at most ``[gateway] max_judged_body``
bytes, records it (masked with the session's statement detectors) and
parses it. Fail closed: a longer body is a ``413`` (the connection closes:
the rest is not read), a body that breaks its framing a ``400``, a body
that is not one JSON document (or has a member twice) a ``403`` naming
the route that needs it; none of it goes upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import h11

from limen.gateway.http.parts import RelayParts
from limen.gateway.http.problem import Problem, problem
from limen.gateway.http.reader import ClientRequest
from limen.policy.http import BodyError, parse_body
from limen.recording import C2U

__all__ = ["JudgedBody", "Refused", "judged_body"]


@dataclass(frozen=True)
class JudgedBody:
    data: bytes
    doc: object
    """The parsed JSON document."""


@dataclass(frozen=True)
class Refused:
    """The body cannot be judged: answer ``problem``, then close or not."""

    problem: Problem
    close: bool


async def judged_body(relay: RelayParts, req: ClientRequest) -> JudgedBody | Refused:
    """``req``'s whole body and its JSON document, or why not."""
    limit = int(relay.session.config.gateway.max_judged_body)
    data = bytearray()
    try:
        async for chunk in relay.reader.body(req):
            data += chunk
            if len(data) > limit:
                detail = (
                    f"a rule of this resource reads fields of {req.method} bodies: this "
                    f"body is over the {limit} bytes limen reads to judge one"
                )
                hint = "send a smaller body, or ask the operator for [gateway] max_judged_body"
                return Refused(problem(413, "body", detail, hint), close=True)
    except h11.RemoteProtocolError as exc:
        return Refused(problem(400, "body", f"the request body is refused: {exc}"), close=True)
    body = bytes(data)
    if body:
        masker = relay.session.input_masker
        relay.record(C2U, relay.mask_input(body), masked=masker is not None)
    try:
        doc = parse_body(body)
    except BodyError as exc:
        relay.session.event({"event": "http_body_refused", "why": str(exc)})
        doc403 = problem(
            403,
            "unjudgeable-body",
            f"a rule of this resource reads JSON fields of this request's body, and the body "
            f"cannot be judged: {exc}",
            "send one JSON document (Content-Type: application/json, no member twice)",
        )
        doc403.action = "deny"
        doc403.approvable = False
        return Refused(doc403, close=False)
    return JudgedBody(body, doc)
