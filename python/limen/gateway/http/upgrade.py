"""Upgrades (WebSocket, and others) relayed once the request was judged.

A request with ``Connection: upgrade`` and an ``Upgrade`` header is judged
like any other (a WebSocket handshake is a ``GET``: ``read`` unless a
route says otherwise). Allowed, it goes upstream with its ``Upgrade``,
``Connection: Upgrade`` and ``Sec-WebSocket-*`` headers (not
``Sec-WebSocket-Extensions``: no compression is agreed, so limen can read
every frame) and limen's credential. An upstream that answers with
anything but ``101`` is relayed as an ordinary response. After a ``101``
(relayed with its ``Upgrade``, ``Sec-WebSocket-Accept`` and
``Sec-WebSocket-Protocol``), both directions are pumped until either side
closes; the session ends with the stream.

- WebSocket: the frames of both directions are read
  (:mod:`limen.gateway.wsframes`; a frame limen cannot read — reserved
  bits, a frame over ``max_message_size`` — ends the stream: fail closed).
  Client frames go on as sent; their text and binary payloads are recorded
  (``c2u``, through the session's statement detectors). Upstream frames
  are written again with their payload masked by the session's masker (a
  ``MaskStream`` per message, so a secret cut across the frames of one
  message is masked whole) and recorded masked (``u2c``); control frames
  pass as they are.
- Any other protocol is relayed byte for byte, recorded as bytes; limen
  cannot mask what it cannot read, so a session whose answers are masked
  gets ``403`` for such an upgrade instead.
"""

from __future__ import annotations

import h11
import trio

from limen import _native
from limen.gateway.http.headers import HOP_BY_HOP, head_text, request_headers
from limen.gateway.http.parts import RelayParts
from limen.gateway.http.problem import problem
from limen.gateway.http.reader import ClientRequest
from limen.gateway.http.response import respond
from limen.gateway.http.upstream import UpstreamError
from limen.gateway.session import RECEIVE_SIZE
from limen.gateway.wsframes import CLOSE, Frame, FrameError, FrameReader, encode
from limen.recording import C2U, U2C

__all__ = ["relay_upgrade", "upgrade_of"]


_WS_BACK = (b"sec-websocket-accept", b"sec-websocket-protocol")
_DROPPED = (b"sec-websocket-extensions",)


def upgrade_of(req: ClientRequest) -> bytes | None:
    """The protocol ``req`` asks to upgrade to (lower case), else None."""
    upgrade = req.header(b"upgrade")
    if upgrade is None:
        return None
    tokens = b",".join(v for k, v in req.headers if k == b"connection").lower()
    if b"upgrade" not in [t.strip() for t in tokens.split(b",")]:
        return None
    return upgrade.strip().lower()


class _Masked:
    """Upstream WebSocket frames, their data payloads masked per message."""

    def __init__(self, relay: RelayParts, masker: _native.Masker | None) -> None:
        self.relay = relay
        self.masker = masker
        self.stream: _native.MaskStream | None = None

    def frame(self, frame: Frame) -> bytes:
        if frame.opcode >= CLOSE:
            return encode(frame)
        payload = frame.payload
        if self.stream is None:  # a message starts: with the relay's masker now (a reload)
            self.masker = self.relay.masker
        if self.masker is not None:
            if self.stream is None:
                self.stream = self.masker.stream()
            payload = self.stream.feed(payload)
            if frame.fin:
                payload += self.stream.finish()
                self.stream = None
        if payload:
            self.relay.record(U2C, payload, masked=self.masker is not None)
        return encode(Frame(frame.fin, frame.opcode, payload))


async def relay_upgrade(relay: RelayParts, req: ClientRequest, target: bytes) -> bool:
    """Relays an allowed upgrade to ``target`` (upstream path and query) to
    its end; False: the connection ends with the stream (True only when the
    upstream refused the upgrade and the connection goes on)."""
    protocol = upgrade_of(req) or b""
    websocket = protocol == b"websocket"
    session = relay.session
    if not websocket and relay.masker is not None:
        doc = problem(
            403,
            "upgrade",
            f"limen cannot mask a {protocol.decode('ascii', 'replace')!r} stream, and the "
            "answers of this session are masked",
            "use plain HTTP requests (or WebSocket) for this resource",
        )
        return await relay.reply(req, doc, close=False)
    up = relay.upstream
    await up.ready()
    async for _ in relay.reader.body(req):  # h11 must reach the request's end
        pass
    kept = [(k, v) for k, v in req.headers if k not in _DROPPED]
    headers = request_headers(
        kept,
        host=up.target.host_header,
        credential=up.credential,
        content_length=None,
        chunked=False,
        masked=False,
    )
    headers += [(b"connection", b"Upgrade"), (b"upgrade", req.header(b"upgrade") or b"")]
    await up.send(h11.Request(method=req.method, target=target, headers=headers))
    await up.send(h11.EndOfMessage())
    event = await up.next_event()
    if isinstance(event, h11.Response):
        return await respond(relay, req, event)
    if not isinstance(event, h11.InformationalResponse) or event.status_code != 101:
        raise UpstreamError(f"the upstream answered an upgrade with {type(event).__name__}")
    answered = [(bytes(k).lower(), bytes(v)) for k, v in event.headers]
    back = [(b"connection", b"Upgrade")]
    if websocket:
        back += [(b"upgrade", b"websocket")]
        back += [(k, v) for k, v in answered if k in _WS_BACK]
    else:
        back += [(k, v) for k, v in answered if k not in HOP_BY_HOP or k == b"upgrade"]
    req.response_started = True
    await session.client.send_all(
        req.conn.send(h11.InformationalResponse(status_code=101, headers=back)) or b""
    )
    relay.record(U2C, head_text(b"HTTP/1.1 101 Switching Protocols", back))
    session.event({"event": "http_upgrade", "protocol": protocol.decode("ascii", "replace")})
    reason = await _pump(relay, bytes(up.conn.trailing_data[0]), websocket)
    session.event({"event": "http_upgrade_end", "why": reason})
    await up.close()
    return False


async def _pump(relay: RelayParts, leftover_up: bytes, websocket: bool) -> str:
    """Both directions until one side closes; why the stream ended."""
    session = relay.session
    reader = relay.reader
    stream = relay.upstream.stream
    assert stream is not None
    leftover_client = bytes(reader.pending)
    reader.pending.clear()
    limit = relay.discard_limit
    output = _Masked(relay, relay.masker)
    input_masked = session.input_masker is not None
    reason = ["closed"]

    async def to_upstream(cancel: trio.CancelScope) -> None:
        frames = FrameReader(masked=True, limit=limit)
        data = leftover_client
        try:
            while True:
                if data:
                    if websocket:
                        for frame in frames.feed(data):
                            if frame.opcode < CLOSE and frame.payload:
                                copy = relay.mask_input(frame.payload)
                                relay.record(C2U, copy, masked=input_masked)
                    else:
                        relay.record(C2U, relay.mask_input(data), masked=input_masked)
                    await stream.send_all(data)
                    session.touch()
                data = bytes(await session.client.receive_some(RECEIVE_SIZE))
                if not data:
                    break
        except FrameError as exc:
            reason[0] = f"the client sent a frame limen cannot read: {exc}"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        cancel.cancel()

    async def to_client(cancel: trio.CancelScope) -> None:
        frames = FrameReader(masked=False, limit=limit)
        data = leftover_up
        try:
            while True:
                if data:
                    if websocket:
                        out = b"".join(output.frame(f) for f in frames.feed(data))
                    else:
                        relay.record(U2C, data)
                        out = data
                    if out:
                        await session.client.send_all(out)
                    session.touch()
                data = bytes(await stream.receive_some(RECEIVE_SIZE))
                if not data:
                    break
        except FrameError as exc:
            reason[0] = f"the upstream sent a frame limen cannot read: {exc}"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        cancel.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(to_upstream, nursery.cancel_scope)
        nursery.start_soon(to_client, nursery.cancel_scope)
    return reason[0]
