"""``exec``, ``attach`` and ``portforward`` over WebSocket, once allowed.

kubectl 1.32 asks for these streams with a WebSocket upgrade (subprotocol
``v5.channel.k8s.io``; SPDY only as a fallback, which limen does not relay:
without ``Upgrade`` the API server refuses the plain request). The judged
request goes upstream with its ``Upgrade``, ``Connection`` and
``Sec-WebSocket-*`` headers and limen's credential; the API server's
``101`` goes back to kubectl, and then both directions are relayed:

- kubectl → API server: the bytes go on as sent; their frames are read
  (:mod:`limen.gateway.kube.wsframes`) so that stdin (channel 0) is
  recorded (``c2u``, through the session's input masker) and a resize
  (channel 4) is recorded as an event;
- API server → kubectl: each frame is read and written again; the payload
  of stdout and stderr (channels 1 and 2) goes through the session's
  masker (a ``MaskStream`` per channel, so a secret cut across frames is
  masked whole) and is recorded masked (``u2c``); the held-back tail is
  flushed before the status channel (3) or a close frame.

A frame limen cannot read closes the connection (fail closed). The session
ends with the stream (one upgraded exchange per connection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import h11
import trio

from limen.gateway.http.headers import head_text, request_headers
from limen.gateway.http.reader import ClientRequest
from limen.gateway.http.route import Routed
from limen.gateway.http.upstream import UpstreamError
from limen.gateway.kube.wsframes import (
    BINARY,
    CLOSE,
    CONTINUATION,
    Frame,
    FrameError,
    FrameReader,
    encode,
)
from limen.gateway.session import RECEIVE_SIZE
from limen.recording import C2U, U2C

if TYPE_CHECKING:
    from limen import _native
    from limen.gateway.http.relay import HttpRelay

__all__ = ["is_websocket_upgrade", "relay_upgrade"]

_PASSED = (b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-protocol")
_BACK = (b"sec-websocket-accept", b"sec-websocket-protocol")


def is_websocket_upgrade(req: ClientRequest) -> bool:
    """Whether ``req`` asks for a WebSocket upgrade."""
    upgrade = (req.header(b"upgrade") or b"").strip().lower()
    tokens = b",".join(v for k, v in req.headers if k == b"connection").lower()
    return upgrade == b"websocket" and b"upgrade" in [t.strip() for t in tokens.split(b",")]


class _Output:
    """kubectl-bound frames: stdout/stderr masked per channel."""

    def __init__(self, relay: HttpRelay, masker: _native.Masker | None) -> None:
        self.relay = relay
        self.streams: dict[int, _native.MaskStream] = {}
        self.masker = masker
        self.channel = -1
        """The channel of the message being read (continuations have none)."""

    def _mask(self, channel: int, data: bytes) -> bytes:
        if self.masker is None:
            return data
        stream = self.streams.get(channel)
        if stream is None:
            stream = self.streams[channel] = self.masker.stream()
        return stream.feed(data)

    def flush(self) -> bytes:
        """The held-back tails, as frames of their channels."""
        out = b""
        for channel, stream in self.streams.items():
            if rest := stream.finish():
                self.relay.record(U2C, rest, masked=True)
                out += encode(Frame(True, BINARY, bytes([channel]) + rest))
        self.streams.clear()
        return out

    def frame(self, frame: Frame) -> bytes:
        if frame.opcode == BINARY and frame.payload:
            self.channel = frame.payload[0]
            body = frame.payload[1:]
            prefix = frame.payload[:1]
        elif frame.opcode == CONTINUATION and self.channel >= 0:
            body, prefix = frame.payload, b""
        else:
            out = b""
            if frame.opcode == CLOSE:
                out = self.flush()
            return out + encode(frame)
        if self.channel in (1, 2):
            body = self._mask(self.channel, body)
            if body:
                self.relay.record(U2C, body, masked=self.masker is not None)
            return encode(Frame(frame.fin, frame.opcode, prefix + body))
        out = self.flush() if self.channel == 3 else b""
        return out + encode(frame)


async def relay_upgrade(relay: HttpRelay, req: ClientRequest, routed: Routed) -> bool:
    """Relays an allowed WebSocket upgrade to its end; False (the
    connection ends with the stream)."""
    up = relay.upstream
    await up.ready()
    async for _ in relay.reader.body(req):  # a GET: no body, but h11 must reach its end
        pass
    kept = [(k, v) for k, v in req.headers if k not in _PASSED]
    headers = request_headers(
        kept,
        host=up.target.host_header,
        credential=up.credential,
        content_length=None,
        chunked=False,
        masked=False,
    )
    headers += [(b"connection", b"Upgrade"), (b"upgrade", b"websocket")]
    headers += [(k, v) for k, v in req.headers if k in _PASSED]
    target = (up.target.base + routed.path.target).encode()
    await up.send(h11.Request(method=req.method, target=target, headers=headers))
    await up.send(h11.EndOfMessage())
    event = await up.next_event()
    if isinstance(event, h11.Response):
        return await relay.respond(req, event)
    if not isinstance(event, h11.InformationalResponse) or event.status_code != 101:
        raise UpstreamError(f"the upstream answered an upgrade with {type(event).__name__}")
    upstream_headers = [(bytes(k).lower(), bytes(v)) for k, v in event.headers]
    back = [(b"connection", b"Upgrade"), (b"upgrade", b"websocket")]
    back += [(k, v) for k, v in upstream_headers if k in _BACK]
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
    limit = relay.discard_limit
    output = _Output(relay, relay.masker)
    reason = ["closed"]

    async def to_upstream(cancel: trio.CancelScope) -> None:
        reader = FrameReader(masked=True, limit=limit)
        data = leftover_client
        try:
            while True:
                if data:
                    for frame in reader.feed(data):
                        if frame.opcode == BINARY and frame.payload[:1] == b"\x00":
                            relay.record(
                                C2U,
                                relay.mask_input(frame.payload[1:]),
                                masked=relay.session.input_masker is not None,
                            )
                        elif frame.opcode == BINARY and frame.payload[:1] == b"\x04":
                            relay.session.event({"event": "kube_resize"})
                    await stream.send_all(data)
                    relay.session.touch()
                data = bytes(await relay.session.client.receive_some(RECEIVE_SIZE))
                if not data:
                    break
        except FrameError as exc:
            reason[0] = f"kubectl sent a frame limen cannot read: {exc}"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        cancel.cancel()

    async def to_client(cancel: trio.CancelScope) -> None:
        reader = FrameReader(masked=False, limit=limit)
        data = leftover_up
        try:
            while True:
                if data:
                    out = b"".join(output.frame(f) for f in reader.feed(data))
                    if out:
                        await relay.session.client.send_all(out)
                    relay.session.touch()
                data = bytes(await stream.receive_some(RECEIVE_SIZE))
                if not data:
                    break
            if rest := output.flush():
                await relay.session.client.send_all(rest)
        except FrameError as exc:
            reason[0] = f"the API server sent a frame limen cannot read: {exc}"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        cancel.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(to_upstream, nursery.cancel_scope)
        nursery.start_soon(to_client, nursery.cancel_scope)
    relay.session.event({"event": "kube_stream", "state": reason[0]})
    await up.close()
    return False
