"""The MySQL driver's packet reader (limen.gateway.mysql.wire.Packets):
whatever the split of the stream, it returns the packets the peer framed,
one at a time, leaving what follows undecoded (pipelined commands, a TLS
ClientHello after an SSLRequest); a header over the cap is refused before
its body arrives."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from limen import _native as n
from limen.gateway.mysql.wire import Packets


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
    trailer=st.binary(max_size=40),
)
def test_any_split_gives_the_framed_packets_and_keeps_the_rest(
    payloads: list[bytes], cuts: list[int], trailer: bytes
) -> None:
    framed = b"".join(n.mysql_packet(0, p).data for p in payloads)

    async def main() -> tuple[list[bytes], bytes]:
        ours, theirs = trio.testing.memory_stream_pair()
        packets = Packets(theirs, n.MySqlPacketDecoder())
        got: list[bytes] = []
        for chunk in _chunks(framed + trailer, cuts):
            await ours.send_all(chunk)
        for _ in payloads:
            packets.restart(0)  # each one a new command
            got.append((await packets.read()).payload)
        with trio.move_on_after(0.01):
            while True:
                packets.stash(await theirs.receive_some(65536))
        return got, packets.take_rest()

    got, rest = trio.run(main)
    assert got == payloads
    assert rest == trailer


def test_a_header_over_the_cap_is_refused_before_its_body() -> None:
    async def main() -> None:
        ours, theirs = trio.testing.memory_stream_pair()
        packets = Packets(theirs, n.MySqlPacketDecoder())
        await ours.send_all((1 << 20).to_bytes(3, "little") + b"\x00" + b"x" * 10)
        await packets.read()

    with pytest.raises(n.MySqlProtocolError, match="over the cap"):
        trio.run(main)


def test_a_16_mib_packet_is_joined_after_authentication() -> None:
    payload = bytes(range(256)) * ((1 << 24) // 256) + b"tail"

    async def main() -> bytes:
        ours, theirs = trio.testing.memory_stream_pair()
        packets = Packets(theirs, n.MySqlPacketDecoder(max_packet_size=1 << 25), 1 << 25)
        packets.set_authenticated()
        data = n.mysql_packet(0, payload).data

        async def send() -> None:
            await ours.send_all(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            got = (await packets.read()).payload
        return got

    assert trio.run(main) == payload
