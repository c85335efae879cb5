"""The native PostgreSQL pieces from Python, without sockets: arbitrary peer
bytes only ever give messages or PgProtocolError; the relay masks rows
whatever the chunking; encoders produce what the decoders read back."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from limen import _native

MASKER = _native.Masker(["builtin"], [], [], [])


def _msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def _row(*values: bytes | None) -> bytes:
    body = struct.pack("!h", len(values))
    for v in values:
        body += struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v
    return _msg(b"D", body)


def _rowdesc(n: int) -> bytes:
    body = struct.pack("!h", n)
    for i in range(n):
        body += f"c{i}".encode() + b"\0" + struct.pack("!IhIhih", 0, 0, 25, -1, -1, 0)
    return _msg(b"T", body)


@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_relay_on_arbitrary_bytes_only_relays_or_refuses(data: bytes, step: int) -> None:
    relay = _native.PgServerRelay(MASKER, 1 << 16)
    try:
        for i in range(0, len(data), step):
            out, events = relay.feed(data[i : i + step])
            assert isinstance(out, bytes)
            assert all(isinstance(e, tuple) and isinstance(e[0], str) for e in events)
    except _native.PgProtocolError:
        pass


@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_client_decoder_on_arbitrary_bytes_only_frames_or_refuses(data: bytes, step: int) -> None:
    dec = _native.PgClientDecoder(1 << 16)
    try:
        for i in range(0, len(data), step):
            for kind, raw, _a, _b in dec.feed(data[i : i + step]):
                assert isinstance(kind, str)
                assert raw  # every message comes with its raw bytes
    except _native.PgProtocolError:
        pass


@given(st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_masked_rows_do_not_depend_on_chunking(cuts: list[int]) -> None:
    stream = (
        _rowdesc(2)
        + _row(b"alice@example.com", b"plain")
        + _row(None, b"card 4111 1111 1111 1111")
        + _msg(b"C", b"SELECT 2\0")
        + _msg(b"Z", b"I")
    )
    whole, _ = _native.PgServerRelay(MASKER).feed(stream)
    relay = _native.PgServerRelay(MASKER)
    got = b""
    at = 0
    for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        out, _ = relay.feed(stream[at:cut])
        got += out
        at = cut
    assert got == whole
    assert b"alice@example.com" not in got
    assert MASKER.mask(b"alice@example.com") in got
    assert relay.masked_rows == 2


def test_client_messages_carry_what_policy_needs() -> None:
    dec = _native.PgClientDecoder()
    startup = _native.pg_startup([("user", "bot"), ("database", "app")])
    [(kind, raw, params, version)] = dec.feed(startup)
    assert (kind, raw, params, version) == (
        "startup",
        startup,
        {"user": "bot", "database": "app"},
        (3, 0),
    )
    dec.set_authenticated()
    query = _native.pg_query(b"SELECT 1")
    parse = _native.pg_parse(b"s1", b"DROP TABLE t")
    describe = _native.pg_describe("P", b"p1")
    msgs = dec.feed(query + parse + describe)
    assert msgs == [
        ("query", query, b"SELECT 1", None),
        ("parse", parse, b"s1", b"DROP TABLE t"),
        ("describe", describe, b"Pp1", None),
    ]


def test_error_encoder_reads_back_through_the_relay() -> None:
    err = _native.pg_error("ERROR", "42501", "denied by rule r", None, "ask")
    notice = _native.pg_error("NOTICE", "01000", "held", notice=True)
    out, events = _native.PgServerRelay().feed(err + notice)
    assert out == err + notice
    assert events[0][0] == "error"
    assert events[0][1]["C"] == "42501"
    assert events[0][1]["H"] == "ask"
    assert events[1][0] == "notice"
    assert events[1][1]["M"] == "held"


def test_feed_takes_bytearray_like_bytes() -> None:
    """A trio.abc.Stream may return bytearray (memory streams do): both
    decoders read it as they read bytes."""
    client = _native.pg_startup([("user", "bot")])
    assert _native.PgClientDecoder().feed(bytearray(client)) == _native.PgClientDecoder().feed(
        client
    )
    server = _rowdesc(1) + _row(b"a@example.com") + _native.pg_ready_for_query("I")
    by_bytes = _native.PgServerRelay(MASKER).feed(server)
    assert _native.PgServerRelay(MASKER).feed(bytearray(server)) == by_bytes
    assert b"a@example.com" not in by_bytes[0]  # masked either way
