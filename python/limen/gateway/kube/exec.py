"""``exec``, ``attach`` and ``portforward`` over WebSocket, once allowed.

kubectl 1.30 and later ask for these streams with a WebSocket upgrade
(subprotocol ``v5.channel.k8s.io``; older ones, or ``KUBECTL_REMOTE_COMMAND_
WEBSOCKETS=false``, use SPDY: :mod:`limen.gateway.kube.spdyrelay`). The
judged request goes upstream with its ``Sec-WebSocket-*`` headers
(:func:`limen.gateway.kube.upgrade.relay_upgrade`), and then both
directions are relayed through :class:`WsPump`:

- kubectl → API server: the bytes go on as sent; their frames are read
  (:mod:`limen.gateway.wsframes`) so that stdin (channel 0) is
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

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from limen.gateway.kube.spdyrelay import SpdyPump
from limen.gateway.kube.upgrade import StreamError
from limen.gateway.wsframes import (
    BINARY,
    CLOSE,
    CONTINUATION,
    TEXT,
    Frame,
    FrameError,
    FrameReader,
    encode,
)
from limen.recording import C2U, U2C

if TYPE_CHECKING:
    from limen import _native
    from limen.gateway.http.relay import HttpRelay

__all__ = ["TUNNEL_PREFIX", "WsPump"]

#: Subprotocols that tunnel SPDY in binary messages (lowercase).
TUNNEL_PREFIX: Final = b"spdy/3.1+"


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
        if self.relay.masker is not self.masker and frame.opcode == BINARY:
            # a reload, at a message's start: the old masker's tails first
            before = self.flush()
            self.masker = self.relay.masker
            return before + self._frame(frame)
        return self._frame(frame)

    def _frame(self, frame: Frame) -> bytes:
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


class WsPump:
    """The WebSocket pump (:class:`limen.gateway.kube.upgrade.Pump`).

    When the API server picks a subprotocol that tunnels SPDY
    (``SPDY/3.1+portforward.k8s.io``: kubectl 1.31+ port-forward), the
    binary messages carry a SPDY byte stream, not channels: it goes through
    a :class:`limen.gateway.kube.spdyrelay.SpdyPump`, and the bytes it gives
    are sent on as new binary frames (towards the API server masked with a
    fresh key, as a client must)."""

    upgrade = b"websocket"
    passed: tuple[bytes, ...] = (
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-protocol",
    )
    back: tuple[bytes, ...] = (b"sec-websocket-accept", b"sec-websocket-protocol")

    def __init__(self, relay: HttpRelay) -> None:
        self.relay = relay
        self.inbound = FrameReader(masked=True, limit=relay.discard_limit)
        self.outbound = FrameReader(masked=False, limit=relay.discard_limit)
        self.output = _Output(relay, relay.masker)
        self.tunnel: SpdyPump | None = None

    def start(self, headers: list[tuple[bytes, bytes]]) -> None:
        chosen = dict(headers).get(b"sec-websocket-protocol", b"").strip().lower()
        if chosen.startswith(TUNNEL_PREFIX):
            self.tunnel = SpdyPump(self.relay)

    def _frames(self, reader: FrameReader, data: bytes) -> list[Frame]:
        try:
            return reader.feed(data)
        except FrameError as exc:
            raise StreamError(str(exc)) from None

    def from_client(self, data: bytes) -> bytes:
        relay = self.relay
        frames = self._frames(self.inbound, data)
        if self.tunnel is not None:
            return b"".join(self._tunnelled(f, self.tunnel.from_client, True) for f in frames)
        for frame in frames:
            if frame.opcode == BINARY and frame.payload[:1] == b"\x00":
                relay.record(
                    C2U,
                    relay.mask_input(frame.payload[1:]),
                    masked=relay.session.input_masker is not None,
                )
            elif frame.opcode == BINARY and frame.payload[:1] == b"\x04":
                relay.session.event({"event": "kube_resize"})
        return data

    def from_upstream(self, data: bytes) -> bytes:
        frames = self._frames(self.outbound, data)
        if self.tunnel is not None:
            return b"".join(self._tunnelled(f, self.tunnel.from_upstream, False) for f in frames)
        return b"".join(self.output.frame(f) for f in frames)

    @staticmethod
    def _tunnelled(frame: Frame, pump: Callable[[bytes], bytes], masked: bool) -> bytes:
        key = os.urandom(4) if masked else None
        if frame.opcode in (BINARY, CONTINUATION):
            inner = pump(frame.payload)
            return encode(Frame(True, BINARY, inner), key) if inner else b""
        if frame.opcode == TEXT:
            raise StreamError("a text message in a SPDY tunnel")
        return encode(frame, key)

    def end(self) -> bytes:
        if self.tunnel is not None:
            rest = self.tunnel.end()
            return encode(Frame(True, BINARY, rest)) if rest else b""
        return self.output.flush()

    def done(self) -> None:
        if self.tunnel is not None:
            self.tunnel.done()
