"""An allowed ``exec``, ``attach`` or ``portforward`` upgrade, relayed to its end.

The judged request goes upstream with limen's credential and the headers
of its protocol (:class:`Pump`: WebSocket in :mod:`limen.gateway.kube.exec`,
SPDY/3.1 in :mod:`limen.gateway.kube.spdyrelay`); the API server's ``101``
goes back to kubectl with the protocol's answer headers, and then both
directions run through the pump, which reads every frame, records and
masks, and gives the bytes to send on. A frame the pump cannot read ends
the connection (fail closed; the reason is the ``kube_stream`` event's
state). The session ends with the stream (one upgrade per connection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import h11
import trio

from limen.gateway.http.headers import head_text, request_headers
from limen.gateway.http.reader import ClientRequest
from limen.gateway.http.route import Routed
from limen.gateway.http.upgrade import upgrade_of
from limen.gateway.http.upstream import UpstreamError
from limen.gateway.session import RECEIVE_SIZE
from limen.recording import U2C

if TYPE_CHECKING:
    from limen.gateway.http.relay import HttpRelay

__all__ = ["Pump", "StreamError", "relay_upgrade", "wants_upgrade"]


class StreamError(ValueError):
    """Bytes a pump cannot read (the connection ends)."""


class Pump(Protocol):
    """One upgraded protocol, both directions."""

    upgrade: bytes
    """The ``Upgrade`` token sent upstream (``websocket``, ``SPDY/3.1``)."""
    passed: tuple[bytes, ...]
    """Request headers passed upstream as they are (lowercase names)."""
    back: tuple[bytes, ...]
    """Headers of the API server's 101 passed back to kubectl."""

    def start(self, headers: list[tuple[bytes, bytes]]) -> None:
        """The API server's 101 headers (lowercase names): what it chose."""
        ...

    def from_client(self, data: bytes) -> bytes:
        """kubectl's bytes in; the bytes to send upstream (:class:`StreamError`)."""
        ...

    def from_upstream(self, data: bytes) -> bytes:
        """The API server's bytes in; the bytes for kubectl (:class:`StreamError`)."""
        ...

    def end(self) -> bytes:
        """When the API server is done: held-back bytes for kubectl."""
        ...

    def done(self) -> None:
        """The stream is over (either side): its last events."""
        ...


def wants_upgrade(req: ClientRequest, token: bytes) -> bool:
    """Whether ``req`` asks for an upgrade to ``token`` (case-insensitive)."""
    return upgrade_of(req) == token.lower()


async def relay_upgrade(relay: HttpRelay, req: ClientRequest, routed: Routed, pump: Pump) -> bool:
    """Relays an allowed upgrade to its end; False (the connection ends
    with the stream)."""
    up = relay.upstream
    await up.ready()
    async for _ in relay.reader.body(req):  # no body, but h11 must reach its end
        pass
    kept = [(k, v) for k, v in req.headers if k not in pump.passed]
    headers = request_headers(
        kept,
        host=up.target.host_header,
        credential=up.credential,
        content_length=b"0" if req.method != "GET" else None,
        chunked=False,
        masked=False,
    )
    headers += [(b"connection", b"Upgrade"), (b"upgrade", pump.upgrade)]
    headers += [(k, v) for k, v in req.headers if k in pump.passed]
    target = up.request_target(routed.path.target)
    await up.send(h11.Request(method=req.method, target=target, headers=headers))
    await up.send(h11.EndOfMessage())
    event = await up.next_event()
    if isinstance(event, h11.Response):
        return await relay.respond(req, event)
    if not isinstance(event, h11.InformationalResponse) or event.status_code != 101:
        raise UpstreamError(f"the upstream answered an upgrade with {type(event).__name__}")
    upstream_headers = [(bytes(k).lower(), bytes(v)) for k, v in event.headers]
    pump.start(upstream_headers)
    back = [(b"connection", b"Upgrade"), (b"upgrade", pump.upgrade)]
    back += [(k, v) for k, v in upstream_headers if k in pump.back]
    req.response_started = True
    await relay.session.client.send_all(
        req.conn.send(h11.InformationalResponse(status_code=101, headers=back)) or b""
    )
    relay.record(U2C, head_text(b"HTTP/1.1 101", back))
    relay.session.event({"event": "kube_stream", "state": "open"})
    leftover_up = bytes(up.conn.trailing_data[0])
    leftover_client = bytes(relay.reader.pending)
    relay.reader.pending.clear()
    stream = up.stream
    assert stream is not None
    client = relay.session.client
    reason = ["closed"]

    async def to_upstream(cancel: trio.CancelScope) -> None:
        data = leftover_client
        try:
            while True:
                if data:
                    if out := pump.from_client(data):
                        await stream.send_all(out)
                    relay.session.touch()
                data = bytes(await client.receive_some(RECEIVE_SIZE))
                if not data:
                    break
        except StreamError as exc:
            reason[0] = f"kubectl sent a frame limen cannot read: {exc}"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        cancel.cancel()

    async def to_client(cancel: trio.CancelScope) -> None:
        data = leftover_up
        try:
            while True:
                if data:
                    if out := pump.from_upstream(data):
                        await client.send_all(out)
                    relay.session.touch()
                data = bytes(await stream.receive_some(RECEIVE_SIZE))
                if not data:
                    break
            if rest := pump.end():
                await client.send_all(rest)
        except StreamError as exc:
            reason[0] = f"the API server sent a frame limen cannot read: {exc}"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        cancel.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(to_upstream, nursery.cancel_scope)
        nursery.start_soon(to_client, nursery.cancel_scope)
    pump.done()
    relay.session.event({"event": "kube_stream", "state": reason[0]})
    await up.close()
    return False
