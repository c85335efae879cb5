"""Packets over a Trio stream for the MySQL driver: :class:`Packets` reads
whole packets (``_native.MySqlPacketDecoder``: sequence ids checked, sizes
capped) and writes framed ones; :class:`PrefixedStream` hands bytes a
decoder already read (a TLS ClientHello that arrived with the SSLRequest)
to the TLS layer first."""

from __future__ import annotations

import trio

from limen import _native
from limen.gateway.session import RECEIVE_SIZE

__all__ = ["UNAUTHENTICATED_LIMIT", "Packets", "PrefixedStream"]

#: The largest packet a peer may send before it is authenticated.
UNAUTHENTICATED_LIMIT = 1 << 16


class Packets:
    """One direction's decoder and the stream it reads, with the sequence
    ids of the exchange in progress.

    Bytes are handed to the decoder one physical packet at a time, so that
    what follows a packet stays undecoded: a TLS ClientHello after an
    SSLRequest, or a pipelined next command (its sequence id restarts at
    0, which is checked when its turn comes). A packet header over the cap
    (64 KiB before authentication, ``max_packet_size`` after) is a protocol
    error before its body is read."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        decoder: _native.MySqlPacketDecoder,
        max_packet_size: int = 1 << 26,
    ) -> None:
        self.stream = stream
        self.decoder = decoder
        self.buffer = bytearray()
        """Received bytes not yet handed to the decoder."""
        self.limit = UNAUTHENTICATED_LIMIT
        self.max_packet_size = max_packet_size
        self.next_seq = 0
        """The sequence id of the next packet this side sends."""

    def set_authenticated(self) -> None:
        """The peer is in: packets up to ``max_packet_size``."""
        self.decoder.set_authenticated()
        self.limit = self.max_packet_size

    def stash(self, data: bytes | bytearray) -> None:
        """Keeps bytes that arrived early (while a statement waits); more
        than one packet's worth is a protocol error."""
        self.buffer += data
        if len(self.buffer) > self.limit + RECEIVE_SIZE:
            raise _native.MySqlProtocolError("too much sent while a command was in progress")

    async def read(self) -> _native.MySqlPacket:
        """The next packet; the next one sent answers it (``next_seq``).
        EOF raises ``trio.BrokenResourceError``."""
        while True:
            buf = self.buffer
            if len(buf) >= 4:
                size = int.from_bytes(buf[:3], "little")
                if size > self.limit:
                    raise _native.MySqlProtocolError(
                        f"a packet of {size} bytes is over the cap of {self.limit}"
                    )
                if len(buf) >= 4 + size:
                    physical = bytes(buf[: 4 + size])
                    del buf[: 4 + size]
                    packets: list[_native.MySqlPacket] = []
                    for at in range(0, len(physical), RECEIVE_SIZE):  # the decoder's chunk cap
                        packets += self.decoder.feed(physical[at : at + RECEIVE_SIZE])
                    if packets:  # else: a 16 MiB piece, its continuation follows
                        packet = packets[0]
                        self.next_seq = (packet.last_seq + 1) % 256
                        return packet
                    continue
            data = await self.stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise trio.BrokenResourceError("the peer closed the connection")
            buf += data

    def take_rest(self) -> bytes:
        """Bytes received after the last packet read (handed to TLS)."""
        rest = bytes(self.buffer) + self.decoder.take_pending()
        self.buffer.clear()
        return rest

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
