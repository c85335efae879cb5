"""More real clients through the MySQL gateway, on plaintext loopback (the
token RSA-encrypted under limen's key) and over TLS: aiomysql (a dev
dependency), and asyncmy and MySQL Connector/Python (pure) when installed
(docs/mysql.md lists what each needs)."""

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


CLIENTS: dict[str, tuple[str, Callable[[int, str, ssl.SSLContext | None], object]]] = {
    "aiomysql": ("aiomysql", _aiomysql),
    "asyncmy": ("asyncmy", _asyncmy),
    "connector": ("mysql.connector", _connector),
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
