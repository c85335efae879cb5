"""Channel receive buffers (``limen.gateway.ssh.pipes``): ``ChunkPipe``
against paramiko's own ``BufferedPipe``, the same feeds, reads and
``empty`` calls giving the same bytes (differential, hypothesis); reads
with a timeout and after close behave alike; limen's transports give
every channel ``ChunkPipe`` buffers."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout

from limen.gateway.ssh.pipes import ChunkPipe, Chunks
from test_ssh_transport import pair

ops = st.lists(
    st.one_of(
        st.tuples(st.just("feed"), st.binary(max_size=300)),
        st.tuples(st.just("read"), st.integers(1, 700)),
        st.tuples(st.just("len"), st.none()),
        st.tuples(st.just("empty"), st.none()),
        st.tuples(st.just("ready"), st.none()),
    ),
    max_size=60,
)


def _run(pipe: BufferedPipe, script: list[tuple[str, object]]) -> list[object]:
    out: list[object] = []
    for op, arg in script:
        if op == "feed":
            assert isinstance(arg, bytes)
            pipe.feed(arg)
        elif op == "read":
            assert isinstance(arg, int)
            try:
                out.append(pipe.read(arg, 0.0))
            except PipeTimeout:
                out.append("timeout")
        elif op == "len":
            out.append(len(pipe))
        elif op == "empty":
            out.append(pipe.empty())
        else:
            out.append(pipe.read_ready())
    pipe.close()
    out.append(pipe.read(1 << 20))
    out.append(pipe.read(1 << 20))  # after close and drained: b""
    return out


@given(ops)
def test_same_bytes_as_paramikos_pipe(script: list[tuple[str, object]]) -> None:
    assert _run(ChunkPipe(), script) == _run(BufferedPipe(), script)


@given(st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=20), st.data())
def test_chunks_head_and_delete(parts: list[bytes], data: st.DataObject) -> None:
    chunks = Chunks()
    for p in parts:
        chunks.append(p)
    whole = b"".join(parts)
    n = data.draw(st.integers(0, len(whole) + 5))
    assert chunks.head(n) == whole[:n]
    del chunks[:n]
    assert len(chunks) == max(0, len(whole) - n)
    assert chunks.head() == whole[n:]


def test_a_lone_chunk_is_handed_on_as_it_came() -> None:
    pipe = ChunkPipe()
    data = b"x" * 100_000
    pipe.feed(data)
    assert pipe.read(1 << 20) is data


def test_a_waiting_read_wakes_on_feed_and_close() -> None:
    pipe = ChunkPipe()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend([pipe.read(10), pipe.read(10)]))
    reader.start()
    pipe.feed(b"hello")
    pipe.close()
    reader.join(10)
    assert got == [b"hello", b""]
    with pytest.raises(PipeTimeout):
        ChunkPipe().read(1, 0.01)


def test_delete_only_from_the_start() -> None:
    chunks = Chunks()
    chunks.append(b"abc")
    with pytest.raises(ValueError):
        del chunks[1:2]


def test_transports_give_channels_chunk_pipes() -> None:
    with pair() as (_, _, sender, receiver):
        for chan in (sender, receiver):
            assert isinstance(chan.in_buffer, ChunkPipe)
            assert isinstance(chan.in_stderr_buffer, ChunkPipe)
