"""``exec``, ``attach`` and ``portforward`` over SPDY/3.1, once allowed.

kubectl up to 1.29 (and later ones with ``KUBECTL_REMOTE_COMMAND_WEBSOCKETS
=false``, or ``port-forward`` before 1.31) upgrade to ``SPDY/3.1`` and
offer ``X-Stream-Protocol-Version``\\s (``v4.channel.k8s.io``, ...); the
API server picks one in its ``101``. The judged request goes upstream with
those headers (:func:`limen.gateway.kube.upgrade.relay_upgrade`); then
kubectl opens one SPDY stream per channel, its ``streamtype`` header
naming it: ``error``, ``stdin``, ``stdout``, ``stderr``, ``resize`` (exec,
attach) or ``data`` and ``error`` with a ``port`` (portforward).
:class:`SpdyPump` reads every frame both ways
(:mod:`limen.gateway.kube.spdy`) and inflates every header block (one zlib
stream per direction, kept in step):

- kubectl → API server: frames go on exactly as they came; stdin data is
  recorded (``c2u``, through the session's input masker), a resize is an
  event, each stream opened is a ``kube_spdy_stream`` event (its type and
  port);
- API server → kubectl: stdout and stderr data go through the session's
  masker (a ``MaskStream`` per stream: a secret cut across frames is
  masked whole) and are written again as data frames of their new length,
  recorded masked (``u2c``); the held-back tail is flushed only when its
  stream ends (FIN, RST_STREAM) or the connection does: never because of
  another stream's frame (error-stream data, a GOAWAY), which would cut a
  secret the next frame completes. kubectl reads the error stream after
  stdout and stderr have ended. Other frames go on as they came. Port-forward data is relayed
  as it is and not recorded (it is not a terminal: its byte count, both
  ways, is a ``kube_portforward`` event when the stream ends).

Fail closed (the connection ends): a frame :class:`FrameReader` refuses, a
header block that does not inflate or is over 64 KiB, a stream type limen
does not know, data on a stream never opened, a stream the API server
opens (push), a client stream id that is even or used twice, more than
:data:`MAX_STREAMS` streams. SPDY flow control is left to the ends
(WINDOW_UPDATE frames pass as they are; spdystream does not enforce
windows, so a masked stdout frame of another length is safe).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from limen.gateway.kube.spdy import (
    DATA,
    HEADERS,
    RST_STREAM,
    SYN_REPLY,
    SYN_STREAM,
    FrameReader,
    HeaderDecoder,
    SpdyError,
    data_frame,
)
from limen.gateway.kube.upgrade import StreamError
from limen.recording import C2U, U2C

if TYPE_CHECKING:
    from limen import _native
    from limen.gateway.http.relay import HttpRelay

__all__ = ["MAX_STREAMS", "SpdyPump"]

#: Streams one connection may open (exec: at most five; portforward: two per port).
MAX_STREAMS: Final = 256
HEADER_LIMIT: Final = 65536
_KINDS: Final = frozenset({"error", "stdin", "stdout", "stderr", "resize", "data"})
_MASKED: Final = frozenset({"stdout", "stderr"})


class SpdyPump:
    """The SPDY/3.1 pump (:class:`limen.gateway.kube.upgrade.Pump`)."""

    upgrade = b"SPDY/3.1"
    passed: tuple[bytes, ...] = (b"x-stream-protocol-version",)
    back: tuple[bytes, ...] = (b"x-stream-protocol-version",)

    def __init__(self, relay: HttpRelay) -> None:
        self.relay = relay
        limit = relay.discard_limit
        self.inbound = FrameReader(limit=limit)
        self.outbound = FrameReader(limit=limit)
        self.inbound_headers = HeaderDecoder(limit=HEADER_LIMIT)
        self.outbound_headers = HeaderDecoder(limit=HEADER_LIMIT)
        self.kinds: dict[int, str] = {}
        """Stream id → its ``streamtype``."""
        self.masks: dict[int, _native.MaskStream] = {}
        self.masked_by = relay.masker
        """The masker of ``masks`` (a reload replaces the relay's)."""
        self.forwarded = 0
        """Port-forward bytes relayed (both ways)."""

    # -- kubectl → API server ----------------------------------------------------------

    def from_client(self, data: bytes) -> bytes:
        try:
            return self._from_client(data)
        except SpdyError as exc:
            raise StreamError(str(exc)) from None

    def _from_client(self, data: bytes) -> bytes:
        relay = self.relay
        out = bytearray()
        for frame in self.inbound.feed(data):
            if frame.kind == SYN_STREAM:
                self._opened(frame.stream, self.inbound_headers.decode(frame.header_block()))
            elif frame.kind == HEADERS:
                self.inbound_headers.decode(frame.header_block())
            elif frame.kind == DATA:
                kind = self._kind(frame.stream)
                if kind == "stdin" and frame.payload:
                    masked = relay.session.input_masker is not None
                    relay.record(C2U, relay.mask_input(frame.payload), masked=masked)
                elif kind == "resize" and frame.payload:
                    relay.session.event({"event": "kube_resize"})
                elif kind == "data":
                    self.forwarded += len(frame.payload)
            out += frame.raw
        return bytes(out)

    def _opened(self, stream: int, headers: dict[str, list[str]]) -> None:
        if stream % 2 == 0 or stream in self.kinds:
            raise SpdyError(f"kubectl opened stream {stream} (even, or opened before)")
        if len(self.kinds) >= MAX_STREAMS:
            raise SpdyError(f"more than {MAX_STREAMS} streams on one connection")
        kind = (headers.get("streamtype") or [""])[0]
        if kind not in _KINDS:
            raise SpdyError(f"a stream of unknown type {kind[:40]!r}")
        self.kinds[stream] = kind
        event: dict[str, object] = {"event": "kube_spdy_stream", "stream": stream, "type": kind}
        if "port" in headers:
            event["port"] = headers["port"][0][:16]
        self.relay.session.event(event)

    def _kind(self, stream: int) -> str:
        kind = self.kinds.get(stream)
        if kind is None:
            raise SpdyError(f"data on stream {stream}, which was never opened")
        return kind

    # -- API server → kubectl ----------------------------------------------------------

    def from_upstream(self, data: bytes) -> bytes:
        try:
            return self._from_upstream(data)
        except SpdyError as exc:
            raise StreamError(str(exc)) from None

    def _from_upstream(self, data: bytes) -> bytes:
        out = bytearray()
        for frame in self.outbound.feed(data):
            if frame.kind == SYN_STREAM:
                raise SpdyError("the API server opened a stream (limen relays kubectl's only)")
            if frame.kind in (SYN_REPLY, HEADERS):
                self._kind(frame.stream)
                self.outbound_headers.decode(frame.header_block())
            elif frame.kind == DATA:
                kind = self._kind(frame.stream)
                if kind in _MASKED:
                    out += self._output(frame.stream, frame.flags, frame.payload, frame.fin)
                    continue
                if kind == "data":
                    self.forwarded += len(frame.payload)
            elif frame.kind == RST_STREAM:
                out += self._tail(frame.stream)
            out += frame.raw
        return bytes(out)

    def _output(self, stream: int, flags: int, payload: bytes, fin: bool) -> bytes:
        masker = self.relay.masker
        before = b""
        if masker is not self.masked_by:  # a reload: the old masker's tails go first
            before, self.masked_by = self.end(), masker
        if masker is None:
            text = payload
        else:
            mask = self.masks.get(stream)
            if mask is None:
                mask = self.masks[stream] = masker.stream()
            text = mask.feed(payload)
            if fin:
                text += mask.finish()
                del self.masks[stream]
        if text:
            self.relay.record(U2C, text, masked=masker is not None)
        if not text and not fin:
            return before
        return before + data_frame(stream, flags, text)

    def _tail(self, stream: int) -> bytes:
        mask = self.masks.pop(stream, None)
        if mask is None or not (rest := mask.finish()):
            return b""
        self.relay.record(U2C, rest, masked=True)
        return data_frame(stream, 0, rest)

    def start(self, headers: list[tuple[bytes, bytes]]) -> None:
        pass

    def end(self) -> bytes:
        return b"".join(self._tail(stream) for stream in list(self.masks))

    def done(self) -> None:
        if "data" in self.kinds.values():
            self.relay.session.event({"event": "kube_portforward", "bytes": self.forwarded})
