"""The native PostgreSQL pieces from Python, without sockets: arbitrary peer
bytes only ever give messages or PgProtocolError; the relay masks rows
whatever the chunking; encoders produce what the decoders read back."""

from __future__ import annotations

import struct
import typing

from hypothesis import given
from hypothesis import strategies as st

from limen import _native

MASKER = _native.Masker(["builtin"], [], [], [])
RELAY_EVENTS = typing.get_args(_native.RelayEvent)
CLIENT_MESSAGES = (
    *typing.get_args(_native.StartupPhaseMessage),
    *typing.get_args(_native.ClientMessage)[1:],
)


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
            assert all(isinstance(e, RELAY_EVENTS) for e in events)
    except _native.PgProtocolError:
        pass


@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_client_decoder_on_arbitrary_bytes_only_frames_or_refuses(data: bytes, step: int) -> None:
    dec = _native.PgClientDecoder(1 << 16)
    try:
        for i in range(0, len(data), step):
            for msg in dec.feed(data[i : i + step]):
                assert isinstance(msg, CLIENT_MESSAGES)
                assert msg.raw  # every message comes with its raw bytes
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
    [msg] = dec.feed(startup)
    assert isinstance(msg, _native.PgStartupMessage)
    assert (msg.raw, msg.params, msg.version) == (
        startup,
        {"user": "bot", "database": "app"},
        (3, 0),
    )
    dec.set_authenticated()
    query = _native.pg_query(b"SELECT 1")
    parse = _native.pg_parse(b"s1", b"DROP TABLE t")
    describe = _native.pg_describe("P", b"p1")
    q, p, d = dec.feed(query + parse + describe)
    assert isinstance(q, _native.PgQuery)
    assert (q.raw, q.sql) == (query, b"SELECT 1")
    assert isinstance(p, _native.PgParse)
    assert (p.raw, p.name, p.sql) == (parse, b"s1", b"DROP TABLE t")
    assert isinstance(d, _native.PgDescribe)
    assert (d.raw, d.kind, d.name) == (describe, "P", b"p1")


def test_error_encoder_reads_back_through_the_relay() -> None:
    err = _native.pg_error("ERROR", "42501", "denied by rule r", None, "ask")
    notice = _native.pg_error("NOTICE", "01000", "held", notice=True)
    out, events = _native.PgServerRelay().feed(err + notice)
    assert out == err + notice
    match events:
        case [_native.PgErrorResponse(fields=error), _native.PgNoticeResponse(fields=note)]:
            assert error["C"] == "42501"
            assert error["H"] == "ask"
            assert note["M"] == "held"
        case _:
            raise AssertionError(f"expected an error and a notice, got {events}")


def test_feed_takes_bytearray_like_bytes() -> None:
    """A trio.abc.Stream may return bytearray (memory streams do): both
    decoders and the client core read it as they read bytes."""
    client = _native.pg_startup([("user", "bot")])
    [by_array] = _native.PgClientDecoder().feed(bytearray(client))
    [by_bytes] = _native.PgClientDecoder().feed(client)
    assert isinstance(by_array, _native.PgStartupMessage)
    assert isinstance(by_bytes, _native.PgStartupMessage)
    assert (by_array.raw, by_array.params) == (by_bytes.raw, by_bytes.params)
    server = _rowdesc(1) + _row(b"a@example.com") + _native.pg_ready_for_query("I")
    out, events = _native.PgServerRelay(MASKER).feed(server)
    out2, events2 = _native.PgServerRelay(MASKER).feed(bytearray(server))
    assert out2 == out
    assert [type(e) for e in events2] == [type(e) for e in events]
    assert b"a@example.com" not in out  # masked either way
    decoder = _native.PgClientDecoder()
    decoder.feed(client)
    decoder.set_authenticated()
    core = _native.PgClientCore(decoder, _native.PgServerRelay(MASKER))
    step = core.client_data(bytearray(_native.pg_query(b"SELECT 1")))
    assert step.judge is not None
    assert step.judge.sql == b"SELECT 1"
    assert core.upstream_data(bytearray(server)) == out
