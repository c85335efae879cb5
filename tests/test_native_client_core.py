"""``_native.PgClientCore``, the client-side state machine the Trio relay
drives (the native pump's own core), fed bytes with no sockets: judge
requests and verdicts, discard until Sync after a refused Parse, the hidden
Describe before an Execute, FunctionCall to the host, pipelining behind a
paused message, buffering while paused (capped), cache hits and their
records, Terminate, and the upstream direction (masking, error swaps, u2c
records, the transaction status)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from limen import _native

EVENT = b'{"event":"decision","action":"allow"}'


def _msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def _bind(portal: bytes, statement: bytes) -> bytes:
    return _msg(b"B", portal + b"\0" + statement + b"\0" + b"\0\0\0\0\0\0")


def _execute(portal: bytes) -> bytes:
    return _msg(b"E", portal + b"\0" + b"\0\0\0\0")


SYNC = _msg(b"S", b"")
TERMINATE = _msg(b"X", b"")
FUNCTION_CALL = _msg(b"F", struct.pack("!ihhh", 1234, 0, 0, 0))  # oid, no args, text


def _messages(data: bytes) -> list[bytes]:
    """Splits a stream of tagged messages."""
    out = []
    while data:
        (n,) = struct.unpack("!i", data[1:5])
        out.append(data[: n + 1])
        data = data[n + 1 :]
    return out


def _core(
    relay: _native.PgServerRelay | None = None,
    *,
    input_masker: _native.Masker | None = None,
    results_masked: bool = False,
    max_paused: int = 1 << 20,
) -> tuple[_native.PgClientCore, _native.PgServerRelay]:
    decoder = _native.PgClientDecoder()
    decoder.feed(_native.pg_startup([("user", "bot"), ("database", "app")]))
    decoder.set_authenticated()
    relay = relay or _native.PgServerRelay(None)
    core = _native.PgClientCore(
        decoder,
        relay,
        input_masker=input_masker,
        results_masked=results_masked,
        max_paused=max_paused,
    )
    return core, relay


def _judged(step: _native.ClientStep) -> _native.JudgeRequest:
    assert step.judge is not None, "expected a judge request"
    return step.judge


def test_a_query_waits_for_its_verdict_then_goes_upstream() -> None:
    core, _ = _core()
    q = _native.pg_query(b"SELECT 1")
    step = core.client_data(q)
    req = _judged(step)
    assert step.upstream == b""
    assert (req.kind, req.sql, req.raw) == (_native.JudgeKind.QUERY, b"SELECT 1", q)
    assert core.paused
    step = core.resume(req.id, _native.Verdict(req.raw))
    assert (step.upstream, step.judge, step.terminate) == (q, None, False)
    assert not core.paused
    assert core.judged == 1
    # A verdict for nothing pending is the host's mistake, not a peer's.
    with pytest.raises(RuntimeError):
        core.resume(req.id, _native.Verdict(req.raw))


def test_a_refused_parse_discards_until_sync() -> None:
    core, _ = _core()
    parse = _native.pg_parse(b"", b"DROP TABLE t")
    after = _native.pg_query(b"SELECT 2")
    req = _judged(core.client_data(parse + _bind(b"", b"") + _execute(b"") + SYNC + after))
    assert req.kind == _native.JudgeKind.PARSE
    marker = _native.pg_parse(b"", b"limen_denied_00")
    step = core.resume(req.id, _native.Verdict(marker, discard_until_sync=True))
    # Bind and Execute were dropped; Sync went; the next Query is judged.
    assert step.upstream == marker + SYNC
    assert _judged(step).sql == b"SELECT 2"


def test_an_execute_not_described_gets_a_hidden_describe() -> None:
    core, _ = _core()
    step = core.client_data(_bind(b"p1", b"s1") + _execute(b"p1") + SYNC)
    assert step.judge is None
    assert _messages(step.upstream) == [
        _bind(b"p1", b"s1"),
        _native.pg_describe("P", b"p1"),
        _execute(b"p1"),
        SYNC,
    ]
    # Described by the client just before: no second Describe.
    described = _bind(b"p2", b"s1") + _native.pg_describe("P", b"p2") + _execute(b"p2") + SYNC
    assert core.client_data(described).upstream == described


def test_a_function_call_goes_to_the_host() -> None:
    core, _ = _core()
    req = _judged(core.client_data(FUNCTION_CALL))
    assert req.kind == _native.JudgeKind.FUNCTION_CALL
    assert req.raw == FUNCTION_CALL
    assert (req.sql, req.name) == (b"", b"")
    stand_in = _native.pg_query(b"limen_denied_01")
    assert core.resume(req.id, _native.Verdict(stand_in)).upstream == stand_in


def test_pipelined_messages_wait_behind_a_paused_one() -> None:
    core, _ = _core()
    first, second = _native.pg_query(b"SELECT 1"), _native.pg_query(b"SELECT 2")
    req = _judged(core.client_data(first + second))
    assert req.sql == b"SELECT 1"
    step = core.resume(req.id, _native.Verdict(first))
    assert step.upstream == first
    assert _judged(step).sql == b"SELECT 2"


def test_bytes_read_while_paused_are_buffered_then_handled() -> None:
    core, _ = _core()
    held = _native.pg_query(b"DELETE FROM t")
    req = _judged(core.client_data(held))
    later = _native.pg_query(b"SELECT 3") + SYNC
    for i in range(len(later)):  # byte by byte, while humans decide
        step = core.client_data(later[i : i + 1])
        assert (step.upstream, step.judge, step.terminate) == (b"", None, False)
    assert core.client_pending == len(later)
    step = core.resume(req.id, _native.Verdict(held))
    assert step.upstream == held
    assert _judged(step).sql == b"SELECT 3"
    assert core.bytes[0] == len(held) + len(later)


def test_buffering_while_paused_is_capped() -> None:
    core, _ = _core(max_paused=100)
    _judged(core.client_data(_native.pg_query(b"DELETE FROM t")))
    core.client_data(b"Q" * 100)  # up to the cap
    with pytest.raises(_native.PgProtocolError, match="more than 100 bytes"):
        core.client_data(b"Q")


def test_cache_hits_are_forwarded_and_recorded() -> None:
    core, _ = _core()
    q = _native.pg_query(b"SELECT 42")
    req = _judged(core.client_data(q))
    core.resume(req.id, _native.Verdict(req.raw, cache_event=EVENT))
    assert core.take_records() == []  # the host recorded what it judged
    step = core.client_data(q + q)
    assert (step.upstream, step.judge) == (q + q, None)
    assert core.cache_hits == 2
    assert core.cached == 1
    assert (
        core.take_records()
        == [
            ("c2u", b"SELECT 42", False),
            ("event", EVENT, False),
        ]
        * 2
    )
    # The same text as a Parse is another statement.
    assert core.client_data(_native.pg_parse(b"", b"SELECT 42")).judge is not None


def test_cache_hits_of_a_masked_session_are_flagged() -> None:
    core, _ = _core(input_masker=_native.Masker(["builtin"], [], [], []))
    q = _native.pg_query(b"SELECT 7")
    req = _judged(core.client_data(q))
    core.resume(req.id, _native.Verdict(req.raw, cache_event=EVENT))
    core.client_data(q)
    assert core.take_records() == [("c2u", b"SELECT 7", True), ("event", EVENT, False)]


def test_cleared_cache_asks_again() -> None:
    core, _ = _core()
    q = _native.pg_query(b"SELECT 5")
    req = _judged(core.client_data(q))
    core.resume(req.id, _native.Verdict(req.raw, cache_event=EVENT))
    core.clear_cache()
    assert core.client_data(q).judge is not None


def test_terminate_ends_the_client_side() -> None:
    core, _ = _core()
    q = _native.pg_query(b"SELECT 1")
    req = _judged(core.client_data(q))
    core.resume(req.id, _native.Verdict(q, cache_event=EVENT))
    step = core.client_data(q + TERMINATE + q)
    assert step.terminate
    assert step.upstream == q  # what came before it; nothing after


def test_upstream_bytes_are_masked_recorded_and_errors_swapped() -> None:
    masker = _native.Masker(["builtin"], [], [], [])
    core, relay = _core(_native.PgServerRelay(masker), results_masked=True)
    error = _native.pg_error("ERROR", "42501", "limen: denied")
    marker = b"limen_denied_0123"
    relay.replace_error(marker, error)
    upstream_error = _native.pg_error("ERROR", "42601", f'syntax error at "{marker.decode()}"')
    out = core.upstream_data(upstream_error + _native.pg_ready_for_query("E"))
    assert out == error + _native.pg_ready_for_query("E")
    assert core.status == "E"
    assert core.take_records() == [("u2c", out, True)]
    with pytest.raises(_native.PgProtocolError):
        core.upstream_data(b"Z\xff\xff\xff\xff")


def test_a_client_protocol_error_raises() -> None:
    core, _ = _core()
    with pytest.raises(_native.PgProtocolError):
        core.client_data(b"Q\x00\x00\x00\x02")


_MESSAGES = st.sampled_from(
    [
        _native.pg_query(b"SELECT 1"),
        _native.pg_query(b"SELECT 22"),
        _native.pg_parse(b"", b"DROP t"),
        _native.pg_parse(b"s", b"SELECT 1"),
        _bind(b"", b""),
        _execute(b""),
        SYNC,
        _msg(b"H", b""),
        FUNCTION_CALL,
    ]
)


def _drive(chunks: list[bytes], late: list[bool]) -> tuple[bytes, list[bytes]]:
    """Feeds ``chunks``; the host answers at once, or (``late``) only after
    the next chunk arrived while paused. Allows everything but a Parse of
    DROP (discard until Sync) and FunctionCall."""
    core, _ = _core()
    up = b""
    asked: list[bytes] = []
    todo = list(chunks)
    step = core.client_data(b"")
    while True:
        up += step.upstream
        if step.judge is not None:
            req = step.judge
            asked.append(req.raw)
            if late[len(asked) % len(late)] and todo:
                assert core.client_data(todo.pop(0)).judge is None
            refuse = req.kind == _native.JudgeKind.FUNCTION_CALL or b"DROP" in req.sql
            data = _native.pg_query(b"limen_denied") if refuse else req.raw
            discard = refuse and req.kind == _native.JudgeKind.PARSE
            step = core.resume(req.id, _native.Verdict(data, discard_until_sync=discard))
            continue
        if not todo:
            return up, asked
        step = core.client_data(todo.pop(0))


@given(
    st.lists(_MESSAGES, min_size=1, max_size=20),
    st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=10),
    st.lists(st.booleans(), min_size=1, max_size=10),
)
def test_buffering_while_paused_is_invisible(
    msgs: list[bytes], cuts: list[int], late: list[bool]
) -> None:
    """Differential: chunks that arrive while a verdict is awaited change
    nothing against the same chunks fed only once it is given."""
    stream = b"".join(msgs)
    chunks, at, i = [], 0, 0
    while at < len(stream):
        chunks.append(stream[at : at + cuts[i % len(cuts)]])
        at += cuts[i % len(cuts)]
        i += 1
    assert _drive(chunks, late) == _drive(chunks, [False])
