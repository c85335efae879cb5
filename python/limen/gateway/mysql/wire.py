"""Packets over a Trio stream for the MySQL driver: :class:`Packets` reads
whole packets (``_native.MySqlPacketDecoder``: sequence ids checked, sizes
capped) and writes framed ones; :class:`PrefixedStream` hands bytes a
decoder already read (a TLS ClientHello that arrived with the SSLRequest)
to the TLS layer first."""

from __future__ import annotations

import trio

from limen import _native
from limen.gateway.session import RECEIVE_SIZE

__all__ = ["Packets", "PrefixedStream"]


class Packets:
    """One direction's decoder and the stream it reads, with the sequence
    ids of the exchange in progress."""

    def __init__(self, stream: trio.abc.Stream, decoder: _native.MySqlPacketDecoder) -> None:
        self.stream = stream
        self.decoder = decoder
        self.pending: list[_native.MySqlPacket] = []
        self.next_seq = 0
        """The sequence id of the next packet this side sends."""

    async def read(self) -> _native.MySqlPacket:
        """The next packet; the next one sent answers it (``next_seq``).
        EOF raises ``trio.BrokenResourceError``."""
        while not self.pending:
            data = await self.stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise trio.BrokenResourceError("the peer closed the connection")
            self.pending.extend(self.decoder.feed(data))
        packet = self.pending.pop(0)
        self.next_seq = (packet.last_seq + 1) % 256
        return packet

    async def read_first(self, limit: int = 1 << 16) -> tuple[_native.MySqlPacket, bytes]:
        """The client's first packet, decoding nothing past it: what
        follows may be a TLS ClientHello (after an SSLRequest), returned
        as is. A packet over ``limit`` is a protocol error."""
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:3], "little"):
            if len(buf) >= 4 and int.from_bytes(buf[:3], "little") > limit:
                raise _native.MySqlProtocolError("the first packet is over the size cap")
            data = await self.stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise trio.BrokenResourceError("the peer closed the connection")
            buf += data
        end = 4 + int.from_bytes(buf[:3], "little")
        packets = self.decoder.feed(buf[:end])
        if len(packets) != 1:
            raise _native.MySqlProtocolError("expected one packet")
        self.next_seq = (packets[0].last_seq + 1) % 256
        return packets[0], buf[end:]

    async def send(self, payload: bytes) -> None:
        """Frames ``payload`` with the next sequence id and sends it; the
        peer's answer must carry the one after."""
        framed = _native.mysql_packet(self.next_seq, payload)
        await self.stream.send_all(framed.data)
        self.next_seq = framed.next_seq
        self.decoder.set_sequence(framed.next_seq)

    def restart(self, seq: int = 0) -> None:
        """A new exchange (a command): the peer's next packet has ``seq``."""
        self.next_seq = seq
        self.decoder.set_sequence(seq)


class PrefixedStream(trio.abc.Stream):
    """A stream that first yields ``prefix`` (bytes already read), then
    what ``inner`` receives."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
        self.inner = inner
        self.prefix = prefix

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self.prefix:
            size = len(self.prefix) if max_bytes is None else max_bytes
            out, self.prefix = self.prefix[:size], self.prefix[size:]
            return out
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()
