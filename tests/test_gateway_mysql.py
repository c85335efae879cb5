"""A MySQL session through limen against the local MariaDB: commands one
at a time, COM_CHANGE_USER with a token, COM_RESET_CONNECTION keeping the
identity, token expiry and idle ends, a malformed packet closing only its
own connection, what is recorded."""

from __future__ import annotations

import select
from pathlib import Path

import pymysql
import pytest
import trio

from gateway_mysql_support import Gateway, gateway_config, mydb, start_gateway
from limen import _native as n
from limen.recording import U2C
from mysql_raw import Raw, RawError

pytestmark = pytest.mark.mysql
__all__ = ["mydb"]


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path, mydb: str) -> Gateway:
    return await start_gateway(nursery, gateway_config(tmp_path, mydb))


async def test_queries_relay_rows_and_are_recorded(gw: Gateway) -> None:
    def client() -> tuple[object, object]:
        with gw.pymysql() as conn, conn.cursor() as cur:
            cur.execute("SELECT id, name FROM users ORDER BY id")
            rows = cur.fetchall()
            cur.execute("SELECT COUNT(*) FROM users WHERE id > %s", (1,))
            return rows, cur.fetchone()

    rows, count = await trio.to_thread.run_sync(client)
    assert rows == ((1, "alice"), (2, "bob"), (3, "carol"))
    assert count == (2,)
    recorder = gw.recorders[-1]
    sent = b"".join(recorder.of("c2u"))
    assert b"SELECT id, name FROM users ORDER BY id" in sent
    assert b"alice" in b"".join(recorder.of(U2C))


async def test_change_user_with_a_token_of_the_same_identity(gw: Gateway) -> None:
    def client() -> tuple[list[list[bytes | None]], bytes, list[list[bytes | None]]]:
        raw = Raw(gw.port)
        try:
            raw.login("bot", gw.token())
            raw.query("SET @kept = 7")
            before = raw.query("SELECT @kept")
            ok = raw.change_user("bot", gw.token())
            after = raw.query("SELECT @kept, DATABASE() IS NOT NULL")
            return before, ok, after
        finally:
            raw.close()

    before, ok, after = await trio.to_thread.run_sync(client)
    assert before == [[b"7"]]
    assert ok[:1] == b"\x00"
    assert after == [[None, b"1"]]  # the upstream session was reset, its database kept
    events = b"".join(gw.recorders[-1].of("event"))
    assert b'"change_user"' in events


@pytest.mark.parametrize("case", ["other_subject", "bad_token", "other_resource"])
async def test_change_user_is_refused_and_ends_the_session(gw: Gateway, case: str) -> None:
    def client() -> tuple[int, str, bool]:
        raw = Raw(gw.port)
        try:
            raw.login("bot", gw.token())
            try:
                if case == "other_subject":
                    raw.change_user("mallory", gw.token("mallory"))
                elif case == "bad_token":
                    raw.change_user("bot", "not-a-token")
                else:
                    raw.change_user("bot", gw.token(), database="elsewhere")
            except RawError as exc:
                code, _state, message = exc.args
                closed = raw.read_until_closed() == b""
                return code, message, closed
            return 0, "accepted", False
        finally:
            raw.close()

    code, message, closed = await trio.to_thread.run_sync(client)
    assert code == (1044 if case == "other_resource" else 1045)
    assert message.startswith("limen: ")
    assert "not-a-token" not in message
    assert closed


async def test_reset_connection_keeps_the_identity(gw: Gateway) -> None:
    def client() -> tuple[bytes, list[list[bytes | None]]]:
        raw = Raw(gw.port)
        try:
            raw.login("bot", gw.token())
            raw.query("SET @gone = 1")
            ok = raw.command(b"\x1f")
            return ok, raw.query("SELECT @gone, 40 + 2")
        finally:
            raw.close()

    ok, rows = await trio.to_thread.run_sync(client)
    assert ok[:1] == b"\x00"
    assert rows == [[None, b"42"]]
    assert gw.recorders[-1].info.subject == "bot"
    assert len(gw.recorders) == 1


async def test_token_expiring_mid_session_ends_it_with_1045(gw: Gateway) -> None:
    token = gw.token(ttl=60, age=55)  # about 5 seconds left

    def client() -> str:
        with gw.pymysql(token) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            for _ in range(600):
                try:
                    cur.execute("SELECT SLEEP(0.05)")
                except pymysql.err.MySQLError as exc:
                    return str(exc.args)
            return "still connected"

    assert "token expired" in await trio.to_thread.run_sync(client)


async def test_idle_session_is_closed_with_4031(
    nursery: trio.Nursery, tmp_path: Path, mydb: str
) -> None:
    gw = await start_gateway(nursery, gateway_config(tmp_path, mydb, 'idle_timeout = "1s"'))

    def client() -> tuple[int, str]:
        raw = Raw(gw.port)
        try:
            raw.login("bot", gw.token())
            raw.query("SELECT 1")
            readable, _, _ = select.select([raw.sock], [], [], 30)
            assert readable, "the gateway never closed the idle session"
            raw.seq = 0
            raw.dec.set_sequence(1)  # the answer to the command it would send next
            try:
                raw.check(raw.read().payload)
            except RawError as exc:
                return exc.args[0], exc.args[2]
            return 0, "no error"
        finally:
            raw.close()

    code, message = await trio.to_thread.run_sync(client)
    assert code == 4031
    assert "idle for 1s" in message


@pytest.mark.parametrize(
    "packet",
    [
        b"\xfe\xff\xff\x00\x03",  # a 16 MiB packet: over max_message_size (1 MiB)
        b"\x01\x00\x00\x05\x03",  # a sequence id out of order
        b"\x05\x00\x00\x00\x17\x01\x00\x00\x00",  # COM_STMT_EXECUTE cut short
    ],
)
async def test_malformed_packet_closes_only_that_connection(gw: Gateway, packet: bytes) -> None:
    def client() -> tuple[bytes, object]:
        with gw.pymysql() as other, other.cursor() as cur:
            raw = Raw(gw.port)
            try:
                raw.login("bot", gw.token())
                raw.sock.sendall(packet)
                reply = raw.read_until_closed()
            finally:
                raw.close()
            cur.execute("SELECT 42")
            return reply, cur.fetchone()

    reply, value = await trio.to_thread.run_sync(client)
    assert reply[4:5] == b"\xff"  # one ERR packet, then the connection closed
    assert int.from_bytes(reply[5:7], "little") == 1835  # ER_MALFORMED_PACKET
    assert b"limen: protocol error" in reply
    assert value == (42,)


async def test_pipelined_commands_are_answered_in_order(gw: Gateway) -> None:
    """Two queries in one write (as libmariadb's execute_direct pipelines):
    the second waits in the buffer, then is judged and answered in turn."""

    def client() -> tuple[list[list[bytes | None]], list[list[bytes | None]]]:
        raw = Raw(gw.port)
        try:
            raw.login("bot", gw.token())
            first = n.mysql_packet(0, n.mysql_encode_query(b"SELECT 'one'")).data
            second = n.mysql_packet(0, n.mysql_encode_query(b"SELECT 'two'")).data
            raw.sock.sendall(first + second)
            raw.seq, raw.dec = 0, n.MySqlPacketDecoder()
            raw.dec.set_authenticated()
            raw.dec.ignore_sequence()  # both answers may arrive in one read
            return raw.read_result(), raw.read_result()
        finally:
            raw.close()

    one, two = await trio.to_thread.run_sync(client)
    assert one == [[b"one"]]
    assert two == [[b"two"]]
