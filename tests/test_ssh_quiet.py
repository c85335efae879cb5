"""A channel's masked stream released after a quiet time (gateway/ssh/
quiet.py), under trio's MockClock: a line the masker holds back reaches
the client once the stream stays quiet, a secret split by less than the
quiet time is still masked whole, and (the documented trade-off) one split
by more is masked only where each half is recognisable alone. Differential:
``blocking_copy`` (the output streams' copy, on a worker thread, the quiet
time its read's timeout) emits the same pieces as ``masked_copy`` for the
same scripts of chunks, quiet gaps and masker changes."""

from __future__ import annotations

from dataclasses import dataclass

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from limen import _native
from limen.gateway.ssh.quiet import QUIET_EXEC, blocking_copy, masked_copy
from limen.mask import native_masker

TOKEN = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"


@dataclass(frozen=True)
class _Rule:
    name: str
    regex: str | None = None
    words: list[str] | None = None
    case_insensitive: bool = False


class Pipe:
    """What the program writes, and what the client got."""

    def __init__(self) -> None:
        self.send, self.receive = trio.open_memory_channel[bytes](16)
        self.got: list[bytes] = []

    async def read(self) -> bytes:
        try:
            return await self.receive.receive()
        except trio.EndOfChannel:
            return b""

    async def emit(self, data: bytes, masked: bool) -> None:
        assert masked
        self.got.append(data)

    @property
    def text(self) -> bytes:
        return b"".join(self.got)


async def test_held_back_bytes_leave_after_the_quiet_time(
    mock_clock: trio.testing.MockClock,
) -> None:
    masker = native_masker(["builtin"], [], [])
    pipe = Pipe()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(masked_copy, pipe.read, pipe.emit, lambda: masker, QUIET_EXEC)
        await pipe.send.send(b"tail -f: line one\n")
        await trio.testing.wait_all_tasks_blocked()
        assert pipe.text != b"tail -f: line one\n"  # the masker holds its tail back
        mock_clock.jump(QUIET_EXEC / 2)
        await trio.testing.wait_all_tasks_blocked()
        assert pipe.text != b"tail -f: line one\n"  # not yet quiet long enough
        mock_clock.jump(QUIET_EXEC)
        await trio.testing.wait_all_tasks_blocked()
        assert pipe.text == b"tail -f: line one\n"

        # a secret split by less than the quiet time: masked whole
        await pipe.send.send(f"key {TOKEN[:12]}".encode())
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(QUIET_EXEC / 2)
        await pipe.send.send(f"{TOKEN[12:]} end\n".encode())
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(QUIET_EXEC * 2)
        await trio.testing.wait_all_tasks_blocked()
        assert pipe.text.endswith(b"key [MASKED:github-token] end\n")
        assert TOKEN[:12].encode() not in pipe.text

        # split by more than the quiet time: the first half went out alone
        before = len(pipe.text)
        await pipe.send.send(f"key {TOKEN[:12]}".encode())
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(QUIET_EXEC * 2)
        await trio.testing.wait_all_tasks_blocked()
        await pipe.send.send(f"{TOKEN[12:]} end\n".encode())
        await pipe.send.aclose()
    assert pipe.text[before:] == f"key {TOKEN} end\n".encode()


async def test_without_a_masker_bytes_pass_as_read(mock_clock: trio.testing.MockClock) -> None:
    pipe = Pipe()
    raw: list[tuple[bytes, bool]] = []

    async def emit(data: bytes, masked: bool) -> None:
        raw.append((data, masked))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(masked_copy, pipe.read, emit, lambda: None, QUIET_EXEC)
        await pipe.send.send(b"abc")
        await trio.testing.wait_all_tasks_blocked()
        assert raw == [(b"abc", False)]  # nothing held, no timer needed
        await pipe.send.aclose()


async def test_a_new_masker_takes_over_at_the_next_chunk(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A reload replaces the channel's masker: what the old one held back
    leaves first (masked by it), the next chunk goes through the new one;
    nothing is lost or repeated, and a masker that goes away passes bytes
    as read (flagged unmasked)."""
    plain = native_masker([], [])
    masked = native_masker(["canary"], [_Rule("canary", words=["canary-v4lue"])])
    current: list[_native.Masker | None] = [plain]
    got: list[tuple[bytes, bool]] = []

    async def emit(data: bytes, flag: bool) -> None:
        got.append((data, flag))

    pipe = Pipe()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(masked_copy, pipe.read, emit, lambda: current[0], QUIET_EXEC)
        await pipe.send.send(b"one canary-v4lue ")
        await trio.testing.wait_all_tasks_blocked()
        current[0] = masked
        await pipe.send.send(b"two canary-v4lue ")
        await trio.testing.wait_all_tasks_blocked()
        current[0] = None
        await pipe.send.send(b"three canary-v4lue")
        await pipe.send.aclose()
    text = b"".join(d for d, _ in got)
    assert text == b"one canary-v4lue two [MASKED:canary] three canary-v4lue"
    assert got[-1] == (b"three canary-v4lue", False)
    assert all(flag for _, flag in got[:-1])


# -- blocking_copy (the output streams' copy on a worker thread) against
# masked_copy: the same scripts, the same emitted pieces -----------------

_MASKERS: list[_native.Masker | None] = [
    native_masker(["builtin"], [], []),
    native_masker(["canary"], [_Rule("canary", words=["canary-v4lue"])]),
    None,
]
_TEXT = f"ok key {TOKEN} then canary-v4lue and tail\n".encode() * 3

Step = tuple[str, object]


@st.composite
def _scripts(draw: st.DrawFn) -> list[Step]:
    cuts = sorted(draw(st.lists(st.integers(1, len(_TEXT) - 1), max_size=12, unique=True)))
    pieces = [_TEXT[a:b] for a, b in zip([0, *cuts], [*cuts, len(_TEXT)], strict=True)]
    script: list[Step] = []
    for piece in pieces:
        if draw(st.booleans()):
            script.append(("gap", None))
        if draw(st.integers(0, 5)) == 0:
            script.append(("masker", draw(st.integers(0, len(_MASKERS) - 1))))
        script.append(("data", piece))
    return script


def _through_masked_copy(script: list[Step], first: int) -> list[tuple[bytes, bool]]:
    got: list[tuple[bytes, bool]] = []
    current = [_MASKERS[first]]

    async def emit(data: bytes, masked: bool) -> None:
        got.append((data, masked))

    async def main() -> None:
        pipe = Pipe()
        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, trio.testing.MockClock)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(masked_copy, pipe.read, emit, lambda: current[0], QUIET_EXEC)
            for op, arg in script:
                if op == "gap":
                    clock.jump(QUIET_EXEC * 2)
                elif op == "masker":
                    assert isinstance(arg, int)
                    current[0] = _MASKERS[arg]
                else:
                    assert isinstance(arg, bytes)
                    await pipe.send.send(arg)
                await trio.testing.wait_all_tasks_blocked()
            await pipe.send.aclose()

    trio.run(main, clock=trio.testing.MockClock())
    return got


def _through_blocking_copy(script: list[Step], first: int) -> list[tuple[bytes, bool]]:
    got: list[tuple[bytes, bool]] = []
    current = [_MASKERS[first]]
    steps = iter(script)

    def read(timeout: float | None) -> bytes | None:
        for op, arg in steps:
            if op == "gap":
                if timeout is not None:
                    return None  # quiet long enough while bytes were held back
            elif op == "masker":
                assert isinstance(arg, int)
                current[0] = _MASKERS[arg]
            else:
                assert isinstance(arg, bytes)
                return arg
        return b""

    blocking_copy(read, lambda d, m: got.append((d, m)), lambda: current[0], QUIET_EXEC)
    return got


@settings(max_examples=60, deadline=None)
@given(_scripts(), st.integers(0, len(_MASKERS) - 1))
def test_blocking_copy_emits_what_masked_copy_emits(script: list[Step], first: int) -> None:
    expected = _through_masked_copy(script, first)
    assert _through_blocking_copy(script, first) == expected
    assert b"".join(d for d, _ in expected)  # something went through


def test_blocking_copy_stops_when_told() -> None:
    got: list[bytes] = []
    chunks = iter([b"one", b"two", b"three"])
    blocking_copy(
        lambda _: next(chunks),
        lambda d, _: got.append(d),
        lambda: None,
        QUIET_EXEC,
        stopped=lambda: len(got) >= 1,
    )
    assert got == [b"one"]
