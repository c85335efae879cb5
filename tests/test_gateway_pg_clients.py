"""Other real clients through the PostgreSQL gateway: asyncpg (extended
protocol, prepared statements, binary results), psql and pgbench."""

from __future__ import annotations

import asyncio
import os
import shutil

import asyncpg
import pytest
import trio

from gateway_pg_support import USERS, Gateway, database, gw
from limen.mask import Masker

pytestmark = pytest.mark.integration
__all__ = ["database", "gw"]

MASKER = Masker(["builtin"])


def asyncpg_run(gw: Gateway, body):  # type: ignore[no-untyped-def]
    """Runs `body(conn)` on an asyncpg connection in a thread of its own."""
    token = gw.token()

    def in_thread():  # type: ignore[no-untyped-def]
        async def main():  # type: ignore[no-untyped-def]
            conn = await asyncpg.connect(
                host="127.0.0.1",
                port=gw.port,
                user="bot",
                password=token,
                database="app",
                ssl=False,
            )
            try:
                return await body(conn)
            finally:
                await conn.close()

        return asyncio.run(main())

    return trio.to_thread.run_sync(in_thread)


async def test_asyncpg_prepared_statement_binary_results_are_masked(gw: Gateway) -> None:
    async def body(conn):  # type: ignore[no-untyped-def]
        stmt = await conn.prepare("SELECT id, email, api_key, note FROM users WHERE id = $1")
        return [tuple(await stmt.fetchrow(i)) for i in (1, 2)]

    rows = await asyncpg_run(gw, body)
    for row, user in zip(rows, USERS[:2], strict=True):
        assert row[0] == user[0]
        assert row[1] == MASKER.mask(user[2])
        assert row[2] == "[MASKED:column:users.api_key]"
        assert row[3] == MASKER.mask(user[5])
    assert rows[1][3] != USERS[1][5]


async def test_asyncpg_extended_protocol_deny_keeps_the_session_usable(gw: Gateway) -> None:
    async def body(conn):  # type: ignore[no-untyped-def]
        with pytest.raises(asyncpg.InsufficientPrivilegeError) as info:
            await conn.prepare("DROP TABLE users")
        after = await conn.fetchval("SELECT count(*) FROM users WHERE id > $1", 0)
        return info.value.sqlstate, str(info.value), after, conn.is_in_transaction()

    sqlstate, message, after, in_tx = await asyncpg_run(gw, body)
    assert sqlstate == "42501"
    assert "ci-app" in message
    assert after == len(USERS)
    assert in_tx is False


async def test_asyncpg_extended_deny_inside_a_transaction_fails_it_upstream(gw: Gateway) -> None:
    async def body(conn):  # type: ignore[no-untyped-def]
        tx = conn.transaction()
        await tx.start()
        await conn.fetchval("SELECT $1::int", 1)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("CREATE TABLE sneaky (x int)")
        # The upstream transaction failed as well: the next statement is refused there.
        with pytest.raises(asyncpg.InFailedSQLTransactionError):
            await conn.fetchval("SELECT $1::int", 2)
        await tx.rollback()
        return await conn.fetchval("SELECT $1::int + 1", 2)

    assert await asyncpg_run(gw, body) == 3


async def test_asyncpg_refused_token_is_28P01(gw: Gateway) -> None:
    def in_thread() -> tuple[str, str]:
        async def main() -> tuple[str, str]:
            try:
                await asyncpg.connect(
                    host="127.0.0.1",
                    port=gw.port,
                    user="bot",
                    password=gw.token(ttl=60, age=3600),
                    database="app",
                    ssl=False,
                )
            except asyncpg.InvalidPasswordError as exc:
                return str(exc.sqlstate), str(exc)
            return "", "connected"

        return asyncio.run(main())

    sqlstate, message = await trio.to_thread.run_sync(in_thread)
    assert sqlstate == "28P01"
    assert "expired" in message


def _where(gw: Gateway) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(gw.port), "-U", "bot", "app"]


def _env(token: str, sslmode: str = "disable") -> dict[str, str]:
    env = dict(os.environ)
    env.update(PGPASSWORD=token, PGSSLMODE=sslmode, PGCONNECT_TIMEOUT="10")
    return env


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql not installed")
async def test_psql_sees_masked_values_and_denials(gw: Gateway) -> None:
    args = ["psql", "-h", "127.0.0.1", "-p", str(gw.port), "-U", "bot", "-d", "app", "-AtX"]
    ok = await trio.run_process(
        [*args, "-c", "SELECT email FROM users WHERE id = 1"],
        env=_env(gw.token(), "prefer"),  # SSLRequest first, answered 'N' without TLS
        capture_stdout=True,
        capture_stderr=True,
    )
    assert ok.stdout.decode().strip() == MASKER.mask(USERS[0][2])
    denied = await trio.run_process(
        [*args, "-c", "DROP TABLE users"],
        env=_env(gw.token()),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert denied.returncode != 0
    assert "denied by rule ci-app: class ddl" in denied.stderr.decode()


@pytest.mark.skipif(shutil.which("pgbench") is None, reason="pgbench not installed")
@pytest.mark.parametrize("mode", ["simple", "prepared"])
async def test_pgbench_select_only_runs_through(gw: Gateway, mode: str) -> None:
    result = await trio.run_process(
        [*("pgbench", "-S", "-n", "-t", "25", "-c", "2", "-M", mode), *_where(gw)],
        env=_env(gw.token()),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "number of transactions actually processed: 50/50" in out
