"""The MySQL gateway's opening against real clients and the MariaDB on this
machine: a token as the password (caching_sha2 full authentication: RSA on
plaintext loopback, clear over TLS; AuthSwitch for clients that start with
mysql_native_password; mysql_clear_password), refusals as MySQL errors a
client shows, limen's login upstream."""

from __future__ import annotations

import socket
from pathlib import Path

import pymysql
import pytest
import trio

from gateway_mysql_support import MARIADB, Gateway, gateway_config, mydb, start_gateway
from limen import _native as n

pytestmark = pytest.mark.mysql
__all__ = ["mydb"]


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path, mydb: str) -> Gateway:
    return await start_gateway(nursery, gateway_config(tmp_path, mydb))


@pytest.fixture
async def tls_gw(nursery: trio.Nursery, tmp_path: Path, mydb: str) -> Gateway:
    return await start_gateway(nursery, gateway_config(tmp_path, mydb, tls=True))


async def test_pymysql_logs_in_over_rsa_and_queries(gw: Gateway, mydb: str) -> None:
    def client() -> tuple[object, object, object]:
        with gw.pymysql() as conn, conn.cursor() as cur:
            cur.execute("SELECT name FROM users WHERE id = 2")
            name = cur.fetchone()
            cur.execute("SELECT DATABASE(), CURRENT_USER()")
            where = cur.fetchone()
            return name, where, conn.get_server_info()

    name, where, version = await trio.to_thread.run_sync(client)
    assert name == ("bob",)
    assert where == (mydb, "root@localhost") or where == (mydb, "root@127.0.0.1")
    assert "limen" in str(version)


async def test_pymysql_over_tls_sends_the_token_in_clear_inside_tls(tls_gw: Gateway) -> None:
    def client() -> tuple[object, object]:
        with tls_gw.pymysql(ssl={"check_hostname": False}) as conn, conn.cursor() as cur:
            cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")  # upstream: plaintext
            cur.execute("SELECT id FROM users ORDER BY id")
            rows = cur.fetchall()
            return rows, conn._sock.version()  # type: ignore[union-attr]

    rows, tls_version = await trio.to_thread.run_sync(client)
    assert rows == ((1,), (2,), (3,))
    assert str(tls_version).startswith("TLS")


async def test_clear_password_plugin_is_accepted(gw: Gateway) -> None:
    """A client configured for mysql_clear_password sends the token at once."""
    token = gw.token()

    def client() -> list[list[bytes | None]]:
        sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        try:
            dec = n.MySqlPacketDecoder()
            pending: list[n.MySqlPacket] = []

            def read() -> n.MySqlPacket:
                while not pending:
                    pending.extend(dec.feed(sock.recv(65536)))
                return pending.pop(0)

            hello = n.MySqlHandshakeV10.parse(read().payload)
            assert hello.auth_plugin == b"caching_sha2_password"
            caps = hello.capabilities & ~(1 << 11)
            sock.sendall(
                n.mysql_packet(
                    1,
                    n.mysql_encode_handshake_response(
                        capabilities=caps,
                        max_packet_size=1 << 24,
                        collation=45,
                        username=b"bot",
                        auth_response=token.encode() + b"\0",
                        database=b"shop",
                        auth_plugin=b"mysql_clear_password",
                    ),
                ).data
            )
            dec.set_sequence(2)
            ok = read()
            assert ok.payload[:1] == b"\x00", ok.payload
            dec.set_authenticated()
            dec.set_sequence(1)
            sock.sendall(n.mysql_packet(0, n.mysql_encode_query(b"SELECT 40 + 2")).data)
            count = n.mysql_parse_column_count(read().payload, caps)
            for _ in range(count):
                read()
            rows = []
            while True:
                payload = read().payload
                if payload[:1] == b"\xfe":
                    return rows
                rows.append(n.mysql_parse_text_row(payload, count))
        finally:
            sock.close()

    assert await trio.to_thread.run_sync(client) == [[b"42"]]


@pytest.mark.parametrize(
    ("case", "reason"),
    [("garbage", "unknown_credential"), ("expired", "expired"), ("wrong_user", "subject")],
)
async def test_refused_tokens_get_1045_saying_why(gw: Gateway, case: str, reason: str) -> None:
    token, user = gw.token(), "bot"
    if case == "garbage":
        token = "not-a-token"
    elif case == "expired":
        token = gw.token(ttl=60, age=3600)
    else:
        user = "someone-else"

    def client() -> None:
        gw.pymysql(token, user=user).close()

    with pytest.raises(pymysql.err.OperationalError) as refused:
        await trio.to_thread.run_sync(client)
    code, message = refused.value.args
    assert code == 1045
    assert reason in message
    assert token not in message


async def test_unknown_resource_is_1049(gw: Gateway) -> None:
    def client() -> None:
        gw.pymysql(database="nope").close()

    with pytest.raises(pymysql.err.OperationalError) as refused:
        await trio.to_thread.run_sync(client)
    assert refused.value.args[0] == 1049
    assert "no MySQL resource named 'nope'" in refused.value.args[1]


@pytest.mark.skipif(MARIADB is None, reason="no mariadb CLI")
async def test_mariadb_cli_logs_in_on_plaintext_loopback(gw: Gateway) -> None:
    done = await trio.to_thread.run_sync(gw.cli, "SELECT name FROM users WHERE id = 1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "alice"


@pytest.mark.skipif(MARIADB is None, reason="no mariadb CLI")
async def test_mariadb_cli_over_tls(tls_gw: Gateway) -> None:
    done = await trio.to_thread.run_sync(
        tls_gw.cli,
        "SHOW SESSION STATUS LIKE 'Ssl_version'; SELECT COUNT(*) FROM users",
        None,
        "--ssl",
        "--skip-ssl-verify-server-cert",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "3"


@pytest.mark.skipif(MARIADB is None, reason="no mariadb CLI")
async def test_mariadb_cli_with_a_bad_token_shows_the_reason(gw: Gateway) -> None:
    done = await trio.to_thread.run_sync(gw.cli, "SELECT 1", "bogus")
    assert done.returncode != 0
    assert "ERROR 1045 (28000)" in done.stderr
    assert "token refused" in done.stderr
