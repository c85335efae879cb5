"""The native pump (``[gateway] relay = "native"``).

Through the gateway with real clients: reusable allows are cached (and
still recorded), denials never are, records keep their order, and the log
says which relay moved the bytes. Then ``_native.PgPump`` alone between two
socket pairs (a scripted client and a scripted server speaking the
PostgreSQL protocol): the slow judge path, a notice injected while a
statement waits, hang-ups while waiting, stop, and protocol errors.
"""

from __future__ import annotations

import io
import json
import select
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import trio
from psycopg import errors as pgerrors

from gateway_pg_support import Gateway, database, gateway_config, gw, start_gateway
from limen import _native
from limen.gateway import JsonLog

__all__ = ["database", "gw"]

E = TypeVar("E", _native.JudgeRequest, _native.PumpRecords, _native.PumpEnd)


def run(fn, *args):  # type: ignore[no-untyped-def]
    return trio.to_thread.run_sync(fn, *args)


def _events(log: io.StringIO, name: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log.getvalue().splitlines() if line.strip()]
    return [e for e in lines if e.get("event") == name]


@pytest.fixture
async def logged(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> tuple[Gateway, io.StringIO]:
    out = io.StringIO()
    gw = await start_gateway(nursery, gateway_config(tmp_path, database), JsonLog(out))
    return gw, out


@pytest.mark.integration
async def test_reusable_allows_are_cached_and_still_recorded(
    logged: tuple[Gateway, io.StringIO], pg_relay: str
) -> None:
    gw, log = logged

    def client() -> list[object]:
        with gw.connect(autocommit=True) as conn:
            rows = [conn.execute("SELECT name, email FROM users WHERE id = 1").fetchone()]
            rows += [conn.execute("SELECT name, email FROM users WHERE id = 1").fetchone()]
            rows += [conn.execute("SELECT name, email FROM users WHERE id = 1").fetchone()]
        return rows

    rows = await run(client)
    assert rows == [("alice", "[MASKED:email]")] * 3
    rec = gw.recorders[-1]
    with trio.fail_after(10):
        while not rec.closed:  # the session ends after the client left
            await trio.sleep(0.01)
    statements = [s for s in rec.of("c2u") if b"users" in s]
    assert statements == [b"SELECT name, email FROM users WHERE id = 1"] * 3
    decisions = [json.loads(e) for e in rec.of("event") if b'"decision"' in e]
    assert len(decisions) == 3
    assert all(d["action"] == "allow" for d in decisions)
    assert b"alice@example.com" not in b"".join(rec.of("u2c"))
    # Each statement's records come before the rows it produced.
    kinds = [k for k, p in rec.records if k != "event" and (k != "c2u" or b"users" in p)]
    runs = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    assert runs == ["c2u", "u2c"] * 3
    ends = _events(log, "pump_end")
    if pg_relay.startswith("native"):
        assert len(ends) == 1
        assert ends[0]["cache_hits"] == 2
        assert ends[0]["reason"] == "terminate"
    else:
        assert ends == []


@pytest.mark.integration
async def test_denials_are_never_cached(logged: tuple[Gateway, io.StringIO]) -> None:
    gw, log = logged

    def client() -> list[str | None]:
        codes: list[str | None] = []
        with gw.connect(autocommit=True) as conn:
            for _ in range(3):
                with pytest.raises(pgerrors.InsufficientPrivilege) as info:
                    conn.execute("DROP TABLE users")
                codes.append(info.value.diag.sqlstate)
            assert conn.execute("SELECT 1").fetchone() == (1,)
        return codes

    assert await run(client) == ["42501"] * 3
    denials = [e for e in _events(log, "decision") if e.get("action") == "deny"]
    assert len(denials) == 3


@pytest.mark.integration
async def test_prepared_statements_and_simple_queries_stay_masked(gw: Gateway) -> None:
    def client() -> list[object]:
        out: list[object] = []
        with psycopg.connect(gw.dsn(gw.token()), autocommit=True, prepare_threshold=0) as conn:
            for i in (1, 2, 3, 1):
                row = conn.execute("SELECT id, card FROM users WHERE id = %s", (i,)).fetchone()
                out.append(row)
            cur = psycopg.ClientCursor(conn)
            for _ in range(2):
                cur.execute("SELECT id, api_key FROM users WHERE id = %s", (2,))
                out.append(cur.fetchone())
        return out

    rows = await run(client)
    assert rows[0] == (1, "[MASKED:card-number]")
    assert rows[2] == (3, None)
    assert rows[3] == rows[0]
    assert rows[4] == rows[5]
    assert rows[4][1] != "ak_live_0002"


@pytest.mark.integration
async def test_a_denied_query_pipelined_after_an_allowed_one_gets_42501(gw: Gateway) -> None:
    def client() -> list[bytes]:
        with socket.create_connection(("127.0.0.1", gw.port)) as sock:
            _raw_login(sock, gw.token())
            sock.sendall(_query(b"SELECT 1") + _query(b"DROP TABLE users"))
            errors, readies = [], 0
            while readies < 2:
                tag, body = _read_message(sock)
                if tag == b"E":
                    errors.append(body)
                readies += tag == b"Z"
            return errors

    errors = await run(client)
    assert len(errors) == 1
    assert b"C42501\0" in errors[0]
    assert b"limen_denied" not in errors[0]


# --- PgPump alone, between socket pairs ------------------------------------------


def _msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def _query(sql: bytes) -> bytes:
    return _msg(b"Q", sql + b"\0")


def _ready(status: bytes = b"I") -> bytes:
    return _msg(b"Z", status)


def _complete(tag: bytes) -> bytes:
    return _msg(b"C", tag + b"\0")


def _read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _recv_exactly(sock, 5)
    assert len(head) == 5, "the connection closed"
    (length,) = struct.unpack("!i", head[1:])
    return head[:1], _recv_exactly(sock, length - 4)


def _raw_login(sock: socket.socket, token: str) -> None:
    """Startup and the token as password, up to ReadyForQuery."""
    params = b"user\0bot\0database\0app\0\0"
    sock.sendall(struct.pack("!ii", len(params) + 8, 196608) + params)
    tag, _ = _read_message(sock)
    assert tag == b"R"
    sock.sendall(_msg(b"p", token.encode() + b"\0"))
    while (tag := _read_message(sock)[0]) != b"Z":
        assert tag != b"E"


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    sock.settimeout(5)
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


class Rig:
    """A pump between a scripted client and a scripted server."""

    def __init__(
        self, judge: Callable[[_native.JudgeRequest], _native.Verdict | None] | None = None
    ) -> None:
        self.client, self.pump_client = socket.socketpair()
        self.server, self.pump_upstream = socket.socketpair()
        decoder = _native.PgClientDecoder()
        decoder.feed(_native.pg_startup([("user", "bot"), ("database", "app")]))
        decoder.set_authenticated()
        self.relay = _native.PgServerRelay(None)
        self.pump = _native.PgPump(
            self.pump_client,
            self.pump_upstream,
            decoder,
            self.relay,
            None,
            judge=judge,
            write_timeout=2.0,
        )
        self.pump.start()

    def events(self, want: type[E], timeout: float = 5.0) -> E:
        """Waits for the first event of type ``want``."""
        got: list[_native.PumpEvent] = []
        fd = self.pump.fileno()
        while True:
            for e in got:
                if isinstance(e, want):
                    return e
            ready, _, _ = select.select([fd], [], [], timeout)
            assert ready, f"no {want.__name__} event; got {got}"
            got += self.pump.events()

    def close(self) -> None:
        self.pump.stop()
        for s in (self.client, self.pump_client, self.server, self.pump_upstream):
            s.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def test_pump_slow_path_judges_then_relays_and_records(rig: Rig) -> None:
    q = _query(b"SELECT 1")
    rig.client.sendall(q)
    judge = rig.events(_native.JudgeRequest)
    assert judge.kind == _native.JudgeKind.QUERY
    assert (judge.name, judge.sql, judge.raw) == (b"", b"SELECT 1", q)
    rig.pump.resume(judge.id, _native.Verdict(judge.raw))
    assert _recv_exactly(rig.server, len(q)) == q
    answer = _complete(b"SELECT 1") + _ready()
    rig.server.sendall(answer)
    assert _recv_exactly(rig.client, len(answer)) == answer
    rig.events(_native.PumpRecords)
    records = rig.pump.take_records()
    assert ("u2c", answer, False) in records
    assert rig.pump.status == "I"
    assert rig.pump.judged == 1


def test_pump_injects_a_notice_while_a_statement_waits(rig: Rig) -> None:
    rig.client.sendall(_query(b"DELETE FROM t"))
    rid = rig.events(_native.JudgeRequest).id
    notice = _native.pg_error("NOTICE", "00000", "waiting for approval", notice=True)
    rig.pump.send_client(notice)
    assert _recv_exactly(rig.client, len(notice)) == notice
    # Nothing reached the server meanwhile.
    rig.server.setblocking(False)
    with pytest.raises(BlockingIOError):
        rig.server.recv(1)
    rig.server.setblocking(True)
    error = _native.pg_error("ERROR", "42501", "limen: denied")
    marker = b"limen_denied_0123"
    rig.relay.replace_error(marker, error)
    rig.pump.resume(rid, _native.Verdict(_query(marker)))
    assert _recv_exactly(rig.server, len(_query(marker))) == _query(marker)
    upstream_error = _native.pg_error("ERROR", "42601", f'syntax error at "{marker.decode()}"')
    rig.server.sendall(upstream_error + _ready())
    assert _recv_exactly(rig.client, len(error) + 6) == error + _ready()


def test_pump_notices_a_client_that_hangs_up_while_waiting(rig: Rig) -> None:
    rig.client.sendall(_query(b"UPDATE t SET a = 1"))
    rig.events(_native.JudgeRequest)
    rig.client.shutdown(socket.SHUT_WR)
    assert rig.events(_native.PumpEnd).reason == _native.EndReason.CLIENT_CLOSED


def test_pump_stop_flushes_and_ends(rig: Rig) -> None:
    rig.pump.send_client(_ready())
    rig.pump.stop()
    assert rig.events(_native.PumpEnd).reason == _native.EndReason.STOPPED
    assert _recv_exactly(rig.client, 6) == _ready()


def test_pump_reports_the_upstream_closing(rig: Rig) -> None:
    rig.server.shutdown(socket.SHUT_WR)
    assert rig.events(_native.PumpEnd).reason == _native.EndReason.UPSTREAM_CLOSED


@pytest.mark.parametrize(
    ("side", "data", "reason"),
    [
        ("client", b"Q\x00\x00\x00\x02", _native.EndReason.CLIENT_PROTOCOL),
        ("server", b"Z\xff\xff\xff\xff", _native.EndReason.UPSTREAM_PROTOCOL),
    ],
)
def test_pump_ends_on_a_protocol_error(
    rig: Rig, side: str, data: bytes, reason: _native.EndReason
) -> None:
    (rig.client if side == "client" else rig.server).sendall(data)
    end = rig.events(_native.PumpEnd)
    assert end.reason == reason
    assert end.reason.label == reason.label


def test_pump_fast_path_and_cache() -> None:
    calls: list[bytes] = []

    def judge(request: _native.JudgeRequest) -> _native.Verdict:
        calls.append(request.sql)
        return _native.Verdict(request.raw, cache_event=b'{"event":"decision","action":"allow"}')

    r = Rig(judge)
    try:
        q = _query(b"SELECT 42")
        for _ in range(3):
            r.client.sendall(q)
            assert _recv_exactly(r.server, len(q)) == q
        assert calls == [b"SELECT 42"]
        r.server.sendall(_ready())
        assert _recv_exactly(r.client, 6) == _ready()
        r.events(_native.PumpRecords)
        records = r.pump.take_records()
        assert [p for k, p, _ in records if k == "c2u"] == [b"SELECT 42"] * 2
        assert [k for k, _, _ in records].count("event") == 2
        assert r.pump.cache_hits == 2
    finally:
        r.close()


@pytest.mark.parametrize("shape", [True, False])
def test_pump_shape_cache(shape: bool) -> None:
    """A decision marked as holding for the statement's shape is reused for
    the same simple query with other constants; one that is not, only for
    the exact text; texts the shape lexer does not understand always ask."""
    calls: list[bytes] = []

    def judge(request: _native.JudgeRequest) -> _native.Verdict:
        calls.append(request.sql)
        return _native.Verdict(
            request.raw,
            cache_event=b'{"event":"decision","action":"allow"}',
            cache_shape=shape,
        )

    r = Rig(judge)
    try:
        sent = [
            b"SELECT v FROM t WHERE id = 1 AND s = 'a'",
            b"SELECT v FROM t WHERE id = 99 AND s = 'it''s'",
            b"SELECT v FROM t WHERE id = 99999999999 AND s = 'a'",  # FCONST: another kind
            b"SELECT v FROM t WHERE id = 2 -- AND s = 'a'",  # a comment: never by shape
            b"SELECT v FROM t WHERE id = 3 -- AND s = 'a'",
        ]
        for sql in sent:
            q = _query(sql)
            r.client.sendall(q)
            assert _recv_exactly(r.server, len(q)) == q
        r.server.sendall(_ready())  # the counters are published as replies go by
        assert _recv_exactly(r.client, 6) == _ready()
        if shape:
            assert calls == [sent[0], sent[2], sent[3], sent[4]]
            assert r.pump.cache_hits == 1
        else:
            assert calls == sent
            assert r.pump.cache_hits == 0
    finally:
        r.close()


@pytest.mark.integration
async def test_a_statement_with_other_constants_reuses_the_decision_unless_they_matter(
    logged: tuple[Gateway, io.StringIO], pg_relay: str
) -> None:
    """Simple queries of one shape share a cached allow on the pump; a
    statement whose class depends on a constant (`WHERE 1 = 1` makes an
    UPDATE unbounded) is never reused for other constants."""
    gw, log = logged

    def client() -> list[tuple[bytes, bytes]]:
        seen: list[tuple[bytes, bytes]] = []
        with socket.create_connection(("127.0.0.1", gw.port)) as sock:
            _raw_login(sock, gw.token())
            for sql in (
                b"SELECT count(*) FROM users WHERE id = 1",
                b"SELECT count(*) FROM users WHERE id = 2",
                b"SELECT count(*) FROM users WHERE id = 3",
                b"UPDATE users_in SET email = 'x' WHERE 1 = 2",
                b"UPDATE users_in SET email = 'x' WHERE 1 = 1",
            ):
                sock.sendall(_query(sql))
                while (msg := _read_message(sock))[0] != b"Z":
                    if msg[0] in (b"C", b"E"):
                        seen.append(msg)
            sock.sendall(_msg(b"X", b""))
        return seen

    seen = await run(client)
    tags = [t for t, _ in seen]
    assert tags == [b"C", b"C", b"C", b"C", b"E"]
    assert b"42501" in seen[4][1]
    assert b"unbounded-write" in seen[4][1]
    rec = gw.recorders[-1]
    with trio.fail_after(10):
        while not rec.closed:
            await trio.sleep(0.01)
    decisions = [json.loads(e) for e in rec.of("event") if b'"decision"' in e]
    assert [d["action"] for d in decisions] == ["allow"] * 4 + ["deny"]
    # Both relays share the client core, and so its cache.
    (end,) = _events(log, "pump_end" if pg_relay.startswith("native") else "relay_end")
    assert end["cache_hits"] == 2  # ids 2 and 3; the UPDATEs both asked
