"""The PostgreSQL gateway with psycopg against the local PostgreSQL:
masking (content and column), denials (simple and inside a transaction),
holds, refused tokens, token expiry mid-session, cancel, COPY, large
results, and a bad client message that closes only its own connection."""

from __future__ import annotations

import json
import select
import socket
import struct
import threading
from pathlib import Path

import psycopg
import pytest
import trio
from psycopg import errors as pgerrors
from psycopg.pq import TransactionStatus

from gateway_pg_support import (
    USERS,
    Gateway,
    database,
    direct_query,
    gateway_config,
    gw,
    start_gateway,
)
from limen import _native
from limen.mask import Masker

pytestmark = pytest.mark.integration
__all__ = ["database", "gw"]

MASKER = Masker(["builtin"])


def run(fn, *args):  # type: ignore[no-untyped-def]
    return trio.to_thread.run_sync(fn, *args)


async def test_select_masks_by_content_and_by_column(gw: Gateway) -> None:
    def client() -> list[tuple[object, ...]]:
        with gw.connect() as conn:
            return conn.execute(
                "SELECT id, email, card, api_key, note FROM users ORDER BY id"
            ).fetchall()

    rows = await run(client)
    assert len(rows) == len(USERS)
    for row, (uid, _name, email, card, _key, note) in zip(rows, USERS, strict=True):
        assert row[0] == uid
        assert row[1] == (None if email is None else MASKER.mask(email))
        assert row[2] == (None if card is None else MASKER.mask(card))
        assert row[3] == "[MASKED:column:users.api_key]"
        assert row[4] == MASKER.mask(note)
    assert rows[0][1] != USERS[0][2]  # the email really was changed
    assert rows[2][4] == USERS[2][5]  # values without secrets pass untouched
    # The recording has the statement, an allow decision and only masked results.
    rec = gw.recorders[-1]
    assert any(b"FROM users" in p for p in rec.of("c2u"))
    decisions = [json.loads(p) for p in rec.of("event") if b'"decision"' in p]
    assert decisions[0]["action"] == "allow"
    sent = b"".join(rec.of("u2c"))
    assert b"alice@example.com" not in sent
    assert b"ak_live_0001" not in sent
    assert b"[MASKED:email]" in sent


async def test_column_names_are_masked_by_content(gw: Gateway) -> None:
    # An alias is the bot's own text: a key in it must not reach the log.
    key = "AKIA" + "QWERTYUIOPASDFGH"

    def client() -> tuple[list[str], list[tuple[object, ...]]]:
        with gw.connect() as conn:
            cur = conn.execute(f'SELECT id AS "{key}", name FROM users WHERE id = 1')
            assert cur.description is not None
            return [d.name for d in cur.description], cur.fetchall()

    names, rows = await run(client)
    assert names == ["[MASKED:aws-access-key-id]", "name"]
    assert rows == [(1, "alice")]
    records = b"".join(payload for _kind, payload in gw.recorders[-1].records)
    assert key.encode() not in records


async def test_upstream_errors_quoting_a_value_are_masked_by_content(gw: Gateway) -> None:
    # A cast error quotes the row value: the secret must not ride out in it.
    def client() -> tuple[str, str | None]:
        with gw.connect(autocommit=True) as conn:
            with pytest.raises(pgerrors.InvalidTextRepresentation) as info:
                conn.execute("SELECT email::int FROM users WHERE id = 1")
            return str(info.value), info.value.diag.sqlstate

    message, code = await run(client)
    assert code == "22P02"
    assert USERS[0][2] is not None
    assert USERS[0][2] not in message
    assert "[MASKED:email]" in message
    sent = b"".join(gw.recorders[-1].of("u2c")) + b"".join(gw.recorders[-1].of("event"))
    assert USERS[0][2].encode() not in sent


async def test_denied_drop_names_rule_and_class_and_session_stays_usable(
    gw: Gateway, database: str
) -> None:
    def client() -> tuple[str | None, str, str, str, object]:
        with gw.connect(autocommit=True) as conn:
            with pytest.raises(pgerrors.InsufficientPrivilege) as info:
                conn.execute("DROP TABLE users")
            diag = info.value.diag
            assert conn.info.transaction_status == TransactionStatus.IDLE
            value = conn.execute("SELECT count(*) FROM users").fetchone()
            return (
                diag.sqlstate,
                diag.message_primary or "",
                diag.message_detail or "",
                diag.message_hint or "",
                value,
            )

    sqlstate, message, detail, hint, value = await run(client)
    assert sqlstate == "42501"
    assert "ci-app" in message
    assert "ddl" in message
    # What to do next, in the protocol's own fields: the rule and class
    # again, and that asking for approval is pointless.
    assert "rule: ci-app; class: ddl" in detail
    assert "cannot be approved" in detail
    assert "cannot be approved" in hint
    assert value == (len(USERS),)
    assert direct_query(database, "SELECT to_regclass('users') IS NOT NULL") == [(True,)]


async def test_denied_statement_inside_a_transaction_fails_it_on_both_sides(gw: Gateway) -> None:
    def client() -> list[object]:
        seen: list[object] = []
        with gw.connect() as conn:  # psycopg opens a transaction block
            conn.execute("SELECT 1")
            seen.append(conn.info.transaction_status)
            with pytest.raises(pgerrors.InsufficientPrivilege):
                conn.execute("DROP TABLE users")
            seen.append(conn.info.transaction_status)
            # The upstream agrees the transaction failed: it refuses the next statement.
            with pytest.raises(pgerrors.InFailedSqlTransaction):
                conn.execute("SELECT 1")
            conn.rollback()
            seen.append(conn.info.transaction_status)
            seen.append(conn.execute("SELECT 2").fetchone())
        return seen

    seen = await run(client)
    assert seen == [
        TransactionStatus.INTRANS,
        TransactionStatus.INERROR,
        TransactionStatus.IDLE,
        (2,),
    ]


async def test_held_statement_is_refused_without_an_approvals_hub(
    gw: Gateway, database: str
) -> None:
    token = gw.token("carer", ("careful",))

    def client() -> str:
        with psycopg.connect(gw.dsn(token, user="carer"), autocommit=True) as conn:
            with pytest.raises(pgerrors.InsufficientPrivilege) as info:
                conn.execute("INSERT INTO users_in VALUES (9, 'x')")
            assert conn.execute("SELECT 1").fetchone() == (1,)
            return info.value.diag.message_primary or ""

    message = await run(client)
    assert "no approvals store" in message
    assert "careful-app" in message
    assert direct_query(database, "SELECT count(*) FROM users_in WHERE id = 9") == [(0,)]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("garbage", "unknown_credential"),
        ("wrong_user", "not the token's subject"),
        ("expired", "expired"),
    ],
)
async def test_refused_tokens_get_28P01_saying_why(gw: Gateway, case: str, reason: str) -> None:
    if case == "garbage":
        dsn = gw.dsn("not-a-token")
    elif case == "wrong_user":
        dsn = gw.dsn(gw.token("someone-else"))
    else:
        dsn = gw.dsn(gw.token(ttl=60, age=3600))

    def client() -> str:
        with pytest.raises(psycopg.OperationalError) as info:
            psycopg.connect(dsn)
        return str(info.value)

    message = await run(client)
    assert "28P01" in message or "token refused" in message
    assert reason in message
    assert "not-a-token" not in message.replace("(not-a-token", "")  # never echoed


async def test_token_expiring_mid_session_ends_it_with_fatal(gw: Gateway) -> None:
    token = gw.token(ttl=60, age=55)  # about 5 seconds left (a loaded machine connects slowly)

    def client() -> str:
        with gw.connect(token, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            for _ in range(600):
                try:
                    conn.execute("SELECT pg_sleep(0.05)")
                except psycopg.OperationalError as exc:
                    return str(exc)
            return "still connected"

    message = await run(client)
    assert "token expired" in message


async def test_cancel_request_reaches_the_upstream(gw: Gateway) -> None:
    def client() -> object:
        with gw.connect(autocommit=True) as conn:
            # cancel_safe: the blocking PQcancel would hold the GIL while the
            # gateway (in this process) must accept its connection.
            timer = threading.Timer(0.5, conn.cancel_safe)
            timer.start()
            try:
                with pytest.raises(pgerrors.QueryCanceled):
                    conn.execute("SELECT pg_sleep(30)")
            finally:
                timer.cancel()
            return conn.execute("SELECT 'still here'").fetchone()

    assert await run(client) == ("still here",)


async def test_copy_out_is_masked_and_copy_in_reaches_the_table(gw: Gateway, database: str) -> None:
    def client() -> bytes:
        with gw.connect(autocommit=True) as conn, conn.cursor() as cur:
            out = bytearray()
            with cur.copy("COPY (SELECT id, email FROM users ORDER BY id) TO STDOUT") as copy:
                for chunk in copy:
                    out += chunk
            with cur.copy("COPY users_in (id, email) FROM STDIN") as copy:
                for i in range(100, 150):
                    copy.write_row((i, f"user{i}@example.com"))
        return bytes(out)

    direct_query(database, "DELETE FROM users_in WHERE id >= 100 RETURNING id")
    out = await run(client)
    assert b"alice@example.com" not in out
    assert out.count(b"[MASKED:email]") == 2
    assert direct_query(database, "SELECT count(*) FROM users_in WHERE id >= 100") == [(50,)]


async def test_large_result_streams_through_masked(gw: Gateway) -> None:
    n = 200_000

    def client() -> tuple[int, int]:
        count = masked = 0
        with gw.connect(autocommit=True) as conn, conn.cursor() as cur:
            for _id, mail in cur.stream(
                "SELECT g, 'user' || g || '@example.com' FROM generate_series(1, %s) g", (n,)
            ):
                count += 1
                masked += mail == "[MASKED:email]"
        return count, masked

    assert await run(client) == (n, n)


def _login(port: int, token: str) -> socket.socket:
    """A hand-driven client: startup, the token, up to ReadyForQuery."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(_native.pg_startup([("user", "bot"), ("database", "app")]))
    assert sock.recv(1) == b"R"
    sock.recv(8)
    body = token.encode() + b"\0"
    sock.sendall(b"p" + struct.pack("!i", len(body) + 4) + body)
    buf = b""
    while not buf.endswith(b"Z\x00\x00\x00\x05I"):
        chunk = sock.recv(65536)
        assert chunk, "closed during login"
        buf += chunk
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    buf = b""
    while chunk := sock.recv(65536):
        buf += chunk
    return buf


@pytest.mark.parametrize(
    "message",
    [
        b"Q" + struct.pack("!i", 100 * 1024 * 1024),  # over max_message_size (1 MiB)
        b"P" + struct.pack("!i", 6) + b"x\0",  # Parse without its query string
        b"Q" + struct.pack("!i", 2),  # length smaller than itself
    ],
)
async def test_bad_client_message_closes_only_that_connection(gw: Gateway, message: bytes) -> None:
    token = gw.token()

    def client() -> tuple[bytes, object, object]:
        with gw.connect(autocommit=True) as other:
            sock = _login(gw.port, token)
            try:
                sock.sendall(message)
                reply = _read_until_closed(sock)
            finally:
                sock.close()
            return reply, other.execute("SELECT 42").fetchone(), other.closed

    reply, value, closed = await run(client)
    assert reply.startswith(b"E")
    assert b"08P01" in reply
    assert b"FATAL" in reply
    assert value == (42,)
    assert closed is False


async def test_unknown_resource_and_plaintext_off_loopback_policy(gw: Gateway) -> None:
    def client() -> str:
        with pytest.raises(psycopg.OperationalError) as info:
            psycopg.connect(gw.dsn(gw.token(), dbname="nope"))
        return str(info.value)

    message = await run(client)
    assert "no PostgreSQL resource named 'nope'" in message


async def test_idle_session_is_closed(nursery: trio.Nursery, tmp_path: Path, database: str) -> None:
    config = gateway_config(tmp_path, database, 'idle_timeout = "1s"')
    gw = await start_gateway(nursery, config)

    def client() -> str:
        with gw.connect(autocommit=True) as conn:
            conn.execute("SELECT 1")
            # stay idle until the gateway speaks (its FATAL), 30 s at most
            readable, _, _ = select.select([conn.fileno()], [], [], 30)
            assert readable, "the gateway never closed the idle session"
            try:
                conn.execute("SELECT 1")
            except psycopg.OperationalError as exc:
                return str(exc)
            return "still connected"

    assert "idle for 1s" in await run(client)


async def test_connections_per_identity_are_limited(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> None:
    config = gateway_config(tmp_path, database, "max_connections_per_identity = 1")
    gw = await start_gateway(nursery, config)

    def client() -> tuple[str, object]:
        with gw.connect(autocommit=True) as first:
            with pytest.raises(psycopg.OperationalError) as info:
                gw.connect()
            return str(info.value), first.execute("SELECT 1").fetchone()

    message, value = await run(client)
    assert "too many connections for 'bot' (limit 1)" in message
    assert value == (1,)
    # The slot is released when the session ends (the gateway notices the
    # client's Terminate a moment after psycopg returns: wait for that).
    with trio.fail_after(30):
        while gw.gateway.per_identity:
            await trio.sleep(0.01)
    await run(lambda: gw.connect().close())


async def test_server_side_cursor_fetches_masked_batches(gw: Gateway) -> None:
    def client() -> list[tuple[object, ...]]:
        with gw.connect() as conn, conn.cursor(name="c1") as cur:
            cur.itersize = 2
            cur.execute("SELECT id, email FROM users ORDER BY id")
            return list(cur)

    rows = await run(client)
    assert [r[0] for r in rows] == [u[0] for u in USERS]
    assert rows[0][1] == MASKER.mask(USERS[0][2])
    assert rows[0][1] != USERS[0][2]


async def test_denied_statement_in_a_pipeline_fails_the_batch_like_postgres(gw: Gateway) -> None:
    def client() -> tuple[object, object, object]:
        with gw.connect(autocommit=True) as conn:
            first = conn.cursor()

            def batch() -> None:
                with conn.pipeline():
                    first.execute("SELECT %s::int", (7,))
                    conn.execute("DROP TABLE users")
                    conn.execute("SELECT 2")

            with pytest.raises(pgerrors.InsufficientPrivilege):
                batch()
            return (
                first.fetchone(),
                conn.info.transaction_status,
                conn.execute("SELECT count(*) FROM users").fetchone(),
            )

    before, status, after = await run(client)
    assert before == (7,)  # the statement before the denied one ran
    assert status == TransactionStatus.IDLE
    assert after == (len(USERS),)
