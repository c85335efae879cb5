"""More real clients through the MySQL gateway, on plaintext loopback (the
token RSA-encrypted under limen's key) and over TLS: aiomysql (a dev
dependency), and asyncmy, MySQL Connector/Python (pure) and mysqlclient
when installed (docs/mysql.md lists what each needs); mysqlclient's
change_user (libmariadb's mysql_change_user) with a token."""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from gateway_mysql_support import gateway_config, mydb, start_gateway

pytestmark = pytest.mark.mysql
__all__ = ["mydb"]

SQL = "SELECT name FROM users WHERE id = 3"


def _aiomysql(port: int, token: str, ctx: ssl.SSLContext | None) -> object:
    import aiomysql

    async def main() -> object:
        conn = await aiomysql.connect(
            host="127.0.0.1", port=port, user="bot", password=token, db="shop", ssl=ctx
        )
        try:
            cur = await conn.cursor()
            await cur.execute(SQL)
            return await cur.fetchone()
        finally:
            conn.close()

    return asyncio.run(main())


def _asyncmy(port: int, token: str, ctx: ssl.SSLContext | None) -> object:
    import asyncmy

    async def main() -> object:
        conn = await asyncmy.connect(
            host="127.0.0.1", port=port, user="bot", password=token, database="shop", ssl=ctx
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute(SQL)
                return await cur.fetchone()
        finally:
            conn.close()

    return asyncio.run(main())


def _connector(port: int, token: str, ctx: ssl.SSLContext | None) -> object:
    import mysql.connector

    kw: dict[str, object] = {"ssl_disabled": True} if ctx is None else {"ssl_verify_cert": False}
    conn = mysql.connector.connect(
        host="127.0.0.1",
        port=port,
        user="bot",
        password=token,
        database="shop",
        use_pure=True,
        **kw,
    )
    try:
        cur = conn.cursor()
        cur.execute(SQL)
        return cur.fetchone()
    finally:
        conn.close()


def _mysqlclient(port: int, token: str, ctx: ssl.SSLContext | None) -> object:
    import MySQLdb

    tls: dict[str, object] = {} if ctx is None else {"ssl_mode": "REQUIRED"}
    conn = MySQLdb.connect(
        host="127.0.0.1", port=port, user="bot", password=token, database="shop", **tls
    )
    try:
        cur = conn.cursor()
        cur.execute(SQL)
        return cur.fetchone()
    finally:
        conn.close()


CLIENTS: dict[str, tuple[str, Callable[[int, str, ssl.SSLContext | None], object]]] = {
    "aiomysql": ("aiomysql", _aiomysql),
    "asyncmy": ("asyncmy", _asyncmy),
    "connector": ("mysql.connector", _connector),
    "mysqlclient": ("MySQLdb", _mysqlclient),
}


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "tls"])
@pytest.mark.parametrize("name", sorted(CLIENTS))
async def test_client_logs_in_with_a_token_and_reads(
    nursery: trio.Nursery, tmp_path: Path, mydb: str, name: str, tls: bool
) -> None:
    module, run = CLIENTS[name]
    if importlib.util.find_spec(module.split(".")[0]) is None:
        pytest.skip(f"{module} is not installed")
    gw = await start_gateway(nursery, gateway_config(tmp_path, mydb, tls=tls))
    ctx = None
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    token = gw.token()
    row = await trio.to_thread.run_sync(lambda: run(gw.port, token, ctx))
    assert tuple(row) == ("carol",)  # type: ignore[call-overload]
    assert gw.recorders[-1].info.subject == "bot"


async def test_mysqlclient_change_user_with_a_token(
    nursery: trio.Nursery, tmp_path: Path, mydb: str
) -> None:
    if importlib.util.find_spec("MySQLdb") is None:
        pytest.skip("mysqlclient is not installed")
    import MySQLdb

    gw = await start_gateway(nursery, gateway_config(tmp_path, mydb))
    first, second = gw.token(), gw.token()

    def client() -> tuple[object, object]:
        conn = MySQLdb.connect(
            host="127.0.0.1", port=gw.port, user="bot", password=first, database="shop"
        )
        try:
            cur = conn.cursor()
            cur.execute("SET @x = 1")
            conn.change_user("bot", second, "shop")
            cur = conn.cursor()
            cur.execute("SELECT @x, COUNT(*) FROM users")
            kept = cur.fetchone()
            try:
                conn.change_user("mallory", gw.token("mallory"), "shop")
            except MySQLdb.OperationalError as exc:
                return kept, exc.args
            return kept, "accepted"
        finally:
            conn.close()

    kept, refused = await trio.to_thread.run_sync(client)
    assert kept == (None, 3)  # the upstream session was reset, the session goes on
    assert isinstance(refused, tuple)
    assert refused[0] == 1045
    assert "keeps its identity" in refused[1]


async def test_connector_prepared_statements_use_the_binary_protocol(
    nursery: trio.Nursery, tmp_path: Path, mydb: str
) -> None:
    """COM_STMT_PREPARE / EXECUTE / CLOSE through the gateway (Connector/Python's
    prepared cursor): the binary rows arrive, twice with other parameters."""
    if importlib.util.find_spec("mysql") is None:
        pytest.skip("mysql-connector-python is not installed")
    import mysql.connector

    gw = await start_gateway(nursery, gateway_config(tmp_path, mydb))
    token = gw.token()

    def client() -> list[object]:
        conn = mysql.connector.connect(
            host="127.0.0.1",
            port=gw.port,
            user="bot",
            password=token,
            database="shop",
            use_pure=True,
            ssl_disabled=True,
        )
        try:
            cur = conn.cursor(prepared=True)
            got: list[object] = []
            for wanted in (1, 3):
                cur.execute("SELECT id, name FROM users WHERE id = ?", (wanted,))
                got.append(cur.fetchall())
            cur.close()
            return got
        finally:
            conn.close()

    got = await trio.to_thread.run_sync(client)
    assert got == [[(1, "alice")], [(3, "carol")]]
