"""A small HTTP/1.1 server: h11 for the protocol, Trio for the sockets.

Used by the dev IdP (discovery, JWKS, later an OAuth2 token endpoint) and
meant for the admin API too. Routing is a table of ``(method, path) ->
handler``; a handler is an async function from :class:`Request` to
:class:`Response`. Built-in limits: header size, body size, per-request read
timeout, connections at once. Errors a client caused get 4xx and close the
connection; a handler that raises gets a 500 with no detail (the detail is
ours, not the client's).

    router = Router()
    router.get("/health", health)
    server = HTTPServer(router)
    listeners = await nursery.start(server.serve, "127.0.0.1", 0)
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11
import trio

__all__ = ["HTTPServer", "Request", "Response", "Router", "bound_port"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: tuple[tuple[str, str], ...]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    """Values of ``{name}`` segments of the route that matched."""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k == lname), None)

    def form(self) -> dict[str, str]:
        """The body as ``application/x-www-form-urlencoded`` fields."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def json(cls, status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        body = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return cls(status, body, "application/json", headers)

    @classmethod
    def error(cls, status: int, error: str, description: str) -> Response:
        """An error body in the OAuth2 shape (``error``, ``error_description``)."""
        return cls.json(status, {"error": error, "error_description": description})


Handler = Callable[[Request], Awaitable[Response]]


class Router:
    """Routing by path and method; 404 for an unknown path, 405 for a known
    path with another method (with ``Allow``). A path segment written
    ``{name}`` matches any one non-empty segment, handed to the handler in
    :attr:`Request.params`; exact paths win over patterns."""

    def __init__(self) -> None:
        self._routes: dict[str, dict[str, Handler]] = {}
        self._patterns: list[tuple[tuple[str, ...], dict[str, Handler]]] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        if "{" in path:
            segments = tuple(path.strip("/").split("/"))
            for known, handlers in self._patterns:
                if known == segments:
                    methods = handlers
                    break
            else:
                methods = {}
                self._patterns.append((segments, methods))
        else:
            methods = self._routes.setdefault(path, {})
        if method in methods:
            raise ValueError(f"route {method} {path} is already registered")
        methods[method] = handler

    def get(self, path: str, handler: Handler) -> None:
        self.add("GET", path, handler)

    def post(self, path: str, handler: Handler) -> None:
        self.add("POST", path, handler)

    def _match(self, path: str) -> tuple[dict[str, Handler], dict[str, str]] | None:
        methods = self._routes.get(path)
        if methods is not None:
            return methods, {}
        parts = path.strip("/").split("/")
        for segments, handlers in self._patterns:
            if len(segments) != len(parts):
                continue
            params: dict[str, str] = {}
            for want, got in zip(segments, parts, strict=True):
                if want.startswith("{") and want.endswith("}"):
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return handlers, params
        return None

    async def dispatch(self, request: Request) -> Response:
        found = self._match(request.path)
        if found is None:
            return Response.error(404, "not_found", f"no such path: {request.path}")
        methods, params = found
        if params:
            request = replace(request, params=params)
        handler = methods.get(request.method)
        if handler is None and request.method == "HEAD":
            handler = methods.get("GET")
        if handler is None:
            allow = ", ".join(sorted(methods))
            return Response(405, b"method not allowed\n", headers=(("allow", allow),))
        return await handler(request)


class _ClientError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class HTTPServer:
    """Serve a :class:`Router` over HTTP/1.1 with keep-alive (over TLS
    when given an ``ssl_context``)."""

    def __init__(
        self,
        router: Router,
        *,
        max_header_size: int = 16 * 1024,
        max_body_size: int = 64 * 1024,
        request_timeout: float = 10.0,
        max_connections: int = 64,
        server_name: str = "limen",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.router = router
        self.ssl_context = ssl_context
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.request_timeout = request_timeout
        self.server_name = server_name
        self._slots = trio.Semaphore(max_connections)

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` (0 for any free port) until cancelled;
        ``nursery.start`` returns the TCP listeners (see :func:`bound_port`)."""
        sockets = await trio.open_tcp_listeners(port, host=host)
        served: list[trio.abc.Listener[trio.abc.Stream]] = list(sockets)
        if self.ssl_context is not None:
            served = [trio.SSLListener(s, self.ssl_context, https_compatible=True) for s in sockets]
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(sockets)
                await trio.serve_listeners(self._handle, served, handler_nursery=nursery)
        finally:
            for listener in served:
                await trio.aclose_forcefully(listener)

    async def _handle(self, stream: trio.abc.Stream) -> None:
        if self._slots.value == 0:
            await stream.aclose()
            return
        async with self._slots:
            try:
                await self._connection(stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                await trio.aclose_forcefully(stream)

    async def _connection(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_header_size)
        while True:
            try:
                with trio.fail_after(self.request_timeout):
                    request = await self._read_request(conn, stream)
            except trio.TooSlowError:
                return
            except _ClientError as exc:
                await self._send_error(conn, stream, exc.status, str(exc))
                return
            if request is None:
                return
            try:
                response = await self.router.dispatch(request)
            except Exception:
                log.exception("handler for %s %s failed", request.method, request.path)
                response = Response.error(500, "server_error", "internal error")
            await self._send(conn, stream, response, head=request.method == "HEAD")
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _read_request(self, conn: h11.Connection, stream: trio.abc.Stream) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _ClientError(exc.error_status_hint, "bad request") from None
            if event is h11.NEED_DATA:
                data = bytes(await stream.receive_some(65536))
                if not data and head is None and conn.their_state is h11.IDLE:
                    return None
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                head = event
                length = _content_length(event)
                if length is not None and length > self.max_body_size:
                    raise _ClientError(413, "request body too large")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.max_body_size:
                    raise _ClientError(413, "request body too large")
            elif isinstance(event, h11.EndOfMessage):
                if head is None:
                    raise _ClientError(400, "bad request")
                return _make_request(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _send(
        self, conn: h11.Connection, stream: trio.abc.Stream, response: Response, *, head: bool
    ) -> None:
        headers = [
            ("content-type", response.content_type),
            ("content-length", str(len(response.body))),
            ("server", self.server_name),
            ("cache-control", "no-store"),
            *response.headers,
        ]
        out = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
        if not head and response.body:
            out += conn.send(h11.Data(data=response.body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
        await stream.send_all(out)

    async def _send_error(
        self, conn: h11.Connection, stream: trio.abc.Stream, status: int, reason: str
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = f"{reason}\n".encode()
        headers = [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        try:
            out = conn.send(h11.Response(status_code=status, headers=headers)) or b""
            out += conn.send(h11.Data(data=body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return
        await stream.send_all(out)


def _content_length(event: h11.Request) -> int | None:
    for name, value in event.headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _make_request(head: h11.Request, body: bytes) -> Request:
    target = head.target.decode("ascii", "replace")
    parts = urlsplit(target)
    return Request(
        method=head.method.decode("ascii", "replace"),
        target=target,
        path=parts.path or "/",
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in head.headers),
        body=body,
    )


def bound_port(listeners: list[trio.SocketListener]) -> int:
    """The port the first listener is bound to (after binding port 0)."""
    port: int = listeners[0].socket.getsockname()[1]
    return port
