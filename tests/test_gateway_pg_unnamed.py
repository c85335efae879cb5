"""Unnamed statements of the extended protocol, repeated, from real
drivers (runs on both relays, in clear and under TLS: tests/conftest.py):
psycopg 3 with ``prepare_threshold=None`` and asyncpg without a statement
cache send ``Parse("", text)`` for every execution. An allowed text is
judged by the gateway's Python judge once, its repeats come from the
client core's cache (``limen_cached_statements_total``); a denied or held
text is judged, and refused, every time. Counted on the gateway's own
metrics: ``limen_decisions_total`` counts what the Python judge decided.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import psycopg
import pytest
import trio

import gateway_pg_support
from gateway_pg_support import Gateway, database, direct_query, gw

pytestmark = pytest.mark.integration
__all__ = ["database", "gw"]

REPEATS = 5
READ = "SELECT name FROM users WHERE id = $1"


def _decided(gw: Gateway, action: str) -> float:
    """The Python judge's decisions so far with this action."""
    counter = gw.gateway.services.metrics.decisions
    names = counter.labels
    total = 0.0
    for key, value in counter.values.items():
        if dict(zip(names, key, strict=False)).get("action") == action:
            total += value
    return total


def _cached(gw: Gateway) -> float:
    return sum(gw.gateway.services.metrics.cached_statements.values.values())


async def _closed(gw: Gateway, count: int) -> None:
    with trio.fail_after(15):
        while len(gw.recorders) < count or not all(r.closed for r in gw.recorders):
            await trio.sleep(0.01)


def _recorded_actions(gw: Gateway) -> list[str]:
    """The decisions the last session recorded (cache hits too)."""
    return [
        json.loads(payload)["action"]
        for kind, payload in gw.recorders[-1].records
        if kind == "event" and b'"decision"' in payload
    ]


def _psycopg(gw: Gateway, token: str, body: Callable[[psycopg.Connection[Any]], Any]) -> Any:
    with psycopg.connect(gw.dsn(token), autocommit=True, prepare_threshold=None) as conn:
        return body(conn)


async def _asyncpg(
    gw: Gateway, token: str, body: Callable[[asyncpg.Connection], Awaitable[Any]]
) -> Any:
    context: ssl.SSLContext | bool = False
    if gateway_pg_support.TLS:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

    def in_thread() -> Any:
        async def main() -> Any:
            conn = await asyncpg.connect(
                host="127.0.0.1",
                port=gw.port,
                user="bot",
                password=token,
                database="app",
                ssl=context,
                statement_cache_size=0,  # every execution: Parse("", text)
            )
            try:
                return await body(conn)
            finally:
                await conn.close()

        return asyncio.run(main())

    return await trio.to_thread.run_sync(in_thread)


async def _run(gw: Gateway, driver: str, token: str, sql: str, args: tuple[Any, ...]) -> list[Any]:
    """`sql` (asyncpg's $n placeholders) REPEATS times on one connection;
    each outcome is the rows or the error's SQLSTATE."""
    if driver == "psycopg":
        text = sql.replace("$1", "%s")

        def body(conn: psycopg.Connection[Any]) -> list[Any]:
            out: list[Any] = []
            for _ in range(REPEATS):
                try:
                    cur = conn.execute(text, args)
                    out.append(cur.fetchall() if cur.description else [])
                except psycopg.Error as exc:
                    out.append(exc.sqlstate)
            return out

        return await trio.to_thread.run_sync(_psycopg, gw, token, body)

    async def abody(conn: asyncpg.Connection) -> list[Any]:
        out: list[Any] = []
        for _ in range(REPEATS):
            try:
                out.append([tuple(r) for r in await conn.fetch(sql, *args)])
            except asyncpg.PostgresError as exc:
                out.append(exc.sqlstate)
        return out

    return await _asyncpg(gw, token, abody)


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_an_allowed_repeat_is_judged_once(gw: Gateway, driver: str) -> None:
    allows, hits = _decided(gw, "allow"), _cached(gw)
    out = await _run(gw, driver, gw.token(), READ, (2,))
    await _closed(gw, 1)
    assert out == [[("bob",)]] * REPEATS
    # One trip to the Python judge; the repeats were cache hits...
    assert _decided(gw, "allow") - allows == 1
    assert _cached(gw) - hits >= REPEATS - 1
    # ... and every one of them is in the recording with its decision
    # (asyncpg sends Parse twice per execution: to describe, then to run).
    parses = REPEATS * (2 if driver == "asyncpg" else 1)
    assert _recorded_actions(gw) == ["allow"] * parses


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_a_denied_repeat_is_denied_every_time(gw: Gateway, driver: str) -> None:
    denials = _decided(gw, "deny")
    out = await _run(gw, driver, gw.token(), "DROP TABLE users", ())
    await _closed(gw, 1)
    assert out == ["42501"] * REPEATS
    assert _decided(gw, "deny") - denials == REPEATS
    assert _recorded_actions(gw) == ["deny"] * REPEATS
    assert direct_query(gw.config.resources[0].database, "SELECT count(*) FROM users") == [(3,)]


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_a_held_repeat_is_held_every_time(gw: Gateway, driver: str) -> None:
    """A write of a "careful" identity is held, each time (this gateway
    has no approvals store, so each hold is refused at once)."""
    holds, allows = _decided(gw, "hold"), _decided(gw, "allow")
    token = gw.token("bot", ("careful",))
    sql = "UPDATE users SET name = 'x' WHERE id = $1"
    out = await _run(gw, driver, token, sql, (3,))
    await _closed(gw, 1)
    assert out == ["42501"] * REPEATS
    assert _decided(gw, "hold") - holds == REPEATS
    assert _decided(gw, "allow") == allows
    assert _recorded_actions(gw) == ["hold"] * REPEATS
    rows = direct_query(gw.config.resources[0].database, "SELECT name FROM users WHERE id = 3")
    assert rows == [("carol",)]
