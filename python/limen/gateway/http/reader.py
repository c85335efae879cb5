"""Reading a client's requests, one at a time, on one connection.

Each request head is found and checked raw (:mod:`limen.gateway.http.head`)
before a fresh ``h11.Connection`` (server side, one per request) reads it;
that connection then frames the request's body (Content-Length or chunked,
h11's checks) and the response limen sends for it. After the request's
``EndOfMessage`` what h11 still holds (a pipelined next request) goes back
into the reader's buffer, to be checked raw in turn: h11 never reads a
head the checks have not seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import h11
import trio

from limen.gateway.http.head import HeadError, check_head, split_head
from limen.gateway.http.headers import header_pairs
from limen.gateway.session import RECEIVE_SIZE

__all__ = ["ClientReader", "ClientRequest"]


@dataclass
class ClientRequest:
    """One request: its h11 connection (body and response) and its head."""

    conn: h11.Connection
    request: h11.Request
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    """Lower-case names, values as sent, in order."""
    body_done: bool = False
    response_started: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case)."""
        for k, v in self.headers:
            if k == name:
                return v
        return None

    @property
    def keep_alive(self) -> bool:
        """Whether the client asked to keep the connection open."""
        if self.request.http_version != b"1.1":
            return False
        tokens = b",".join(v for k, v in self.headers if k == b"connection").lower()
        return b"close" not in [t.strip() for t in tokens.split(b",")]

    @property
    def has_body(self) -> bool:
        return self.header(b"content-length") not in (None, b"0") or (
            self.header(b"transfer-encoding") is not None
        )


class ClientReader:
    """The client side of one connection (see the module docs)."""

    def __init__(self, stream: trio.abc.Stream, max_head: int, max_body_buffer: int) -> None:
        self.stream = stream
        self.max_head = max_head
        self.max_body_buffer = max_body_buffer
        self.pending = bytearray()
        self.eof = False

    async def _receive(self) -> bytes:
        data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
        if not data:
            self.eof = True
        return data

    async def next_request(self) -> ClientRequest | None:
        """The next request's head (checked); None when the client closed
        the connection between requests. :class:`HeadError` or
        ``h11.RemoteProtocolError`` when it is refused."""
        while True:
            span = split_head(self.pending, self.max_head)
            if span is not None:
                break
            if self.eof or not (data := await self._receive()):
                if self.pending.strip(b"\r\n"):
                    raise HeadError("the connection closed in the middle of a request head")
                return None
            self.pending += data
        start, end = span
        check_head(bytes(self.pending[start:end]))
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head)
        conn.receive_data(bytes(self.pending[start:]))
        if self.eof:
            conn.receive_data(b"")
        self.pending.clear()
        event = conn.next_event()
        if not isinstance(event, h11.Request):  # a complete head gives a Request
            raise HeadError("not an HTTP/1.x request")
        headers = header_pairs(event.headers)
        return ClientRequest(
            conn,
            event,
            event.method.decode("ascii").upper(),
            event.target.decode("ascii"),
            headers,
        )

    async def body(self, req: ClientRequest) -> AsyncIterator[bytes]:
        """The request's body, chunk by chunk (h11 framing; a broken body
        raises ``h11.RemoteProtocolError``); then the pipelined rest is
        kept for :meth:`next_request`."""
        conn = req.conn
        if conn.they_are_waiting_for_100_continue:
            await self.stream.send_all(
                conn.send(
                    h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
                )
                or b""
            )
        while not req.body_done:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await self._receive()
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                req.body_done = True
                rest, closed = conn.trailing_data
                self.pending[:0] = rest
                self.eof = self.eof or closed
            else:
                raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} in a body")

    def end_bodyless(self, req: ClientRequest) -> bool:
        """Reads the end of a request without a body when h11 already has
        it (no waiting, no body iterator); False: use :meth:`body`."""
        if req.body_done or req.conn.they_are_waiting_for_100_continue:
            return req.body_done
        event = req.conn.next_event()
        if not isinstance(event, h11.EndOfMessage):
            raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} in a body")
        req.body_done = True
        rest, closed = req.conn.trailing_data
        self.pending[:0] = rest
        self.eof = self.eof or closed
        return True

    async def discard_body(self, req: ClientRequest, limit: int) -> bool:
        """Reads the body of a request limen answered itself (to keep the
        connection); False when it is over ``limit`` bytes (then close)."""
        if req.conn.they_are_waiting_for_100_continue:
            return False  # it has not sent its body: close rather than ask for it
        seen = 0
        async for chunk in self.body(req):
            seen += len(chunk)
            if seen > limit:
                return False
        return True

    async def watch(self, req: ClientRequest) -> None:
        """While ``req`` waits for humans: keeps what the client sends (its
        body, up to the buffer cap, then stops reading) and returns when
        the client hangs up."""
        kept = 0
        while kept <= self.max_body_buffer:
            data = await self._receive()
            if not data:
                if not req.body_done:
                    req.conn.receive_data(b"")
                return
            kept += len(data)
            if req.body_done:  # its body was read (to judge it): the next request's bytes
                self.pending += data
            else:
                req.conn.receive_data(data)
        await trio.sleep_forever()
