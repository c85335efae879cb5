"""Which resource a request is for, and who sends it.

A request names its resource by host name, ``Host: RESOURCE.gateway...``
(the first label of a name with more than one, when it names an http
resource; then the whole path is the resource's), else by path prefix,
``/r/RESOURCE/...``: the target is normalised first
(:func:`limen.policy.http.normalise`), so ``/r/api/x/../y`` is
``/r/api/y`` and ``/r/api/..`` leaves the resource (refused); the rest of
the path is relative to the resource's upstream base URL. The token is
``Authorization: Bearer TOKEN``, verified by the gateway's authenticator.
Refusals are :class:`Refusal` (a problem document, its extra headers, and
the session-end code used when the connection ends with it).
"""

from __future__ import annotations

from dataclasses import dataclass

from limen.config import Config, Resource
from limen.gateway.http.problem import Problem, problem, unauthorized
from limen.gateway.http.reader import ClientRequest
from limen.gateway.services import Services
from limen.gateway.session import SessionEnd
from limen.identity import Identity, IdentityError
from limen.policy.http import Path, PathError, normalise

__all__ = ["HttpEnd", "Refusal", "Routed", "authenticate", "refused_head", "route"]

PREFIX = "r"


class Refusal(Exception):
    """A request limen answers itself with ``problem``."""

    def __init__(
        self, doc: Problem, headers: list[tuple[bytes, bytes]] | None = None, code: str = "08P01"
    ) -> None:
        super().__init__(doc.detail)
        self.problem = doc
        self.headers = headers or []
        self.code = code

    def end(self) -> HttpEnd:
        """This refusal as the end of the session."""
        return HttpEnd(self)


class HttpEnd(SessionEnd):
    """A session end whose answer is an HTTP problem document."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.code, refusal.problem.detail, refusal.problem.hint)
        self.refusal = refusal


def refused_head(exc: Exception) -> HttpEnd:
    """The end of a connection whose request head (or framing) is refused:
    a 400 saying why; nothing of it went upstream."""
    return Refusal(problem(400, "request", f"the request is refused: {exc}")).end()


@dataclass(frozen=True)
class Routed:
    """A request's resource and its path relative to the resource's root."""

    resource: Resource
    path: Path


def route(config: Config, req: ClientRequest, protocol: str = "http") -> Routed:
    """The resource and path of ``req`` (:class:`Refusal` 400 or 404);
    ``protocol``: the resource protocol the listener serves (``kubernetes``
    for the Kubernetes listener, which routes the same way)."""
    try:
        path = normalise(req.target)
    except PathError as exc:
        raise Refusal(problem(400, "path", f"the request path is refused: {exc}")) from None
    by_host = _host_resource(config, req, protocol)
    if by_host is not None:
        return Routed(by_host, path)
    segs = path.segments
    if len(segs) < 2 or segs[0] != PREFIX:
        raise Refusal(
            problem(
                404,
                "resource",
                "the path names no resource",
                "address a resource as /r/RESOURCE/PATH",
            ),
            code="3D000",
        )
    resource = config.resource(segs[1])
    if resource is None or resource.protocol != protocol:
        kind = "HTTP" if protocol == "http" else protocol.capitalize()
        raise Refusal(
            problem(404, "resource", f"no {kind} resource named {segs[1]!r}"), code="3D000"
        )
    return Routed(resource, Path(segs[2:], path.query))


def _host_resource(config: Config, req: ClientRequest, protocol: str = "http") -> Resource | None:
    """The http resource a ``Host: RESOURCE.gateway.example[:PORT]`` names
    (its first label, when the name has more than one), else None."""
    host = (req.header(b"host") or b"").decode("ascii", "replace").lower()
    if host.startswith("["):
        return None  # an IPv6 literal names no resource
    hostname = host.rsplit(":", 1)[0] if ":" in host else host
    name, dot, rest = hostname.partition(".")
    if not dot or not rest:
        return None
    resource = config.resource(name)
    return resource if resource is not None and resource.protocol == protocol else None


async def authenticate(services: Services, req: ClientRequest, resource: str) -> Identity:
    """The identity of ``req``'s bearer token (:class:`Refusal` 401)."""
    values = [v for k, v in req.headers if k == b"authorization"]
    if not values:
        doc, headers = unauthorized("no token: this gateway needs a bearer token")
        raise Refusal(doc, headers, code="28000")
    scheme, _, token = values[0].partition(b" ")
    if len(values) > 1 or scheme.lower() != b"bearer" or not token.strip():
        doc, headers = unauthorized("the Authorization header is not one Bearer token")
        raise Refusal(doc, headers, code="28000")
    try:
        identity = await services.authenticator.authenticate(token.strip().decode("ascii"))
    except UnicodeDecodeError:
        doc, headers = unauthorized("token refused: not ASCII")
        raise Refusal(doc, headers, code="28P01") from None
    except IdentityError as exc:
        services.log("auth_refused", reason=exc.reason.value, resource=resource)
        doc, headers = unauthorized(f"token refused ({exc.reason.value}): {exc.message}")
        raise Refusal(doc, headers, code="28P01") from None
    return identity
