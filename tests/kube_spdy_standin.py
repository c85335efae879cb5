"""The stand-in API server's SPDY side (part of the stand-in of
tests/kube_standin.py; see tests/kube_front.py): exec, attach and
port-forward over SPDY/3.1 with limen's codec, on any byte stream with
``read``, ``write`` and ``drain`` (a TCP connection, or the binary
messages of a WebSocket that tunnels SPDY: ``SPDY/3.1+portforward.k8s.io``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from limen.gateway.kube.spdy import (
    DATA,
    FLAG_FIN,
    GOAWAY,
    PING,
    SYN_REPLY,
    SYN_STREAM,
    FrameReader,
    HeaderDecoder,
    HeaderEncoder,
    control,
    data_frame,
)


class Reader(Protocol):
    async def read(self, n: int) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


class WsIO:
    """A WebSocket (ASGI) as a byte stream: binary messages in and out."""

    def __init__(
        self,
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self.receive, self.send = receive, send
        self.out = bytearray()

    async def read(self, n: int) -> bytes:
        while True:
            msg = await self.receive()
            if msg["type"] == "websocket.disconnect":
                return b""
            if data := msg.get("bytes") or b"":
                return bytes(data)

    def write(self, data: bytes) -> None:
        self.out += data

    async def drain(self) -> None:
        if self.out:
            data, self.out = bytes(self.out), bytearray()
            await self.send({"type": "websocket.send", "bytes": data})


class SpdyExec:
    """One SPDY exec or attach connection (see the module docs)."""

    def __init__(self, reader: Reader, writer: Writer) -> None:
        self.reader, self.writer = reader, writer
        self.frames = FrameReader(limit=1 << 20)
        self.decoder = HeaderDecoder(limit=65536)
        self.encoder = HeaderEncoder()
        self.streams: dict[str, int] = {}

    def send_data(self, kind: str, data: bytes, fin: bool = False) -> None:
        if kind in self.streams:
            self.writer.write(data_frame(self.streams[kind], FLAG_FIN if fin else 0, data))

    async def forward(self) -> None:
        """Port-forward: each ``data`` stream echoes what it gets; when
        kubectl ends one, it and its ``error`` stream end."""
        kinds: dict[int, tuple[str, str]] = {}
        while data := await self.reader.read(65536):
            for frame in self.frames.feed(data):
                if frame.kind == SYN_STREAM:
                    headers = self.decoder.decode(frame.header_block())
                    kinds[frame.stream] = (headers["streamtype"][0], headers["requestid"][0])
                    reply = frame.stream.to_bytes(4, "big") + self.encoder.encode({})
                    self.writer.write(control(SYN_REPLY, 0, reply))
                elif frame.kind == DATA and kinds.get(frame.stream, ("",))[0] == "data":
                    if frame.payload:
                        self.writer.write(data_frame(frame.stream, 0, frame.payload))
                    if frame.fin:
                        request = kinds[frame.stream][1]
                        for stream, (_, rid) in kinds.items():
                            if rid == request:
                                self.writer.write(data_frame(stream, FLAG_FIN, b""))
                elif frame.kind == PING:
                    self.writer.write(frame.raw)
                elif frame.kind == GOAWAY:
                    return
            await self.writer.drain()

    async def run(self, path: str, query: dict[str, list[str]]) -> None:
        tty = query.get("tty", ["false"])[0] == "true"
        wanted = {"error"}
        for kind in ("stdin", "stdout", "stderr"):
            if query.get(kind, ["false"])[0] == "true" and not (kind == "stderr" and tty):
                wanted.add(kind)
        if tty:
            wanted.add("resize")
        command = query.get("command", [])
        echoing = False
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            for frame in self.frames.feed(data):
                if frame.kind == SYN_STREAM:
                    headers = self.decoder.decode(frame.header_block())
                    self.streams[headers["streamtype"][0]] = frame.stream
                    block = self.encoder.encode({})
                    reply = frame.stream.to_bytes(4, "big") + block
                    self.writer.write(control(SYN_REPLY, 0, reply))
                    if set(self.streams) >= wanted and not echoing:
                        echoing = self.start(path, command)
                elif frame.kind == DATA and frame.stream == self.streams.get("stdin"):
                    if frame.payload and echoing:
                        self.send_data("stdout", frame.payload)
                    if frame.fin and echoing:
                        self.finish()
                        echoing = False
                elif frame.kind == PING:
                    self.writer.write(frame.raw)
                elif frame.kind == GOAWAY:
                    return
            await self.writer.drain()

    def start(self, path: str, command: list[str]) -> bool:
        """Runs the command; True when it echoes stdin until it closes."""
        if path.endswith("/attach"):
            name = path.rsplit("/", 2)[-2]
            self.send_data("stdout", f"attached to {name}\n".encode())
            if "stdin" in self.streams:
                return True
        elif command[:1] == ["cat"]:
            return True
        elif command[:1] == ["echo"]:
            self.send_data("stdout", (" ".join(command[1:]) + "\n").encode())
        else:
            self.send_data("stdout", ("ran: " + " ".join(command) + "\n").encode())
        self.finish()
        return False

    def finish(self) -> None:
        self.send_data("stdout", b"", fin=True)
        self.send_data("stderr", b"", fin=True)
        status = json.dumps({"metadata": {}, "status": "Success"}).encode()
        self.send_data("error", status, fin=True)
