"""A reused decision is never wider than a fresh one, through the gateway.

An identity allowed only ``read`` sends a statement, then the same
statement with other constants: where a constant decides what the
statement does (``EXPLAIN (ANALYZE 'off')`` does not run its DELETE,
``EXPLAIN (ANALYZE 'on')`` does), the second one must be judged afresh on
both relays, and no data may change.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import trio

from gateway_pg_support import (
    Gateway,
    _direct,
    config_text,
    database,
    direct_query,
    start_gateway,
)
from limen.config import load_config_text
from pg_raw import RawSession
from twins import READER_RULE

__all__ = ["database"]


async def _reader_gateway(nursery: trio.Nursery, tmp_path: Path, database: str) -> Gateway:
    config = load_config_text(config_text(database) + READER_RULE, base_dir=tmp_path)
    return await start_gateway(nursery, config)


def _decisions(gw: Gateway) -> list[dict[str, object]]:
    rec = gw.recorders[-1]
    return [json.loads(e) for e in rec.of("event") if b'"decision"' in e]


@pytest.mark.integration
@pytest.mark.parametrize(
    "sent",
    [
        ["EXPLAIN (ANALYZE 'off') DELETE FROM {t}", "EXPLAIN (ANALYZE 'on') DELETE FROM {t}"],
        ["EXPLAIN (ANALYZE 0) DELETE FROM {t}", "EXPLAIN (ANALYZE 1) DELETE FROM {t}"],
        # the parse trees of the first two are equal: the second one must
        # not inherit a reuse the first one earned
        [
            "EXPLAIN (ANALYZE off) DELETE FROM {t}",
            "EXPLAIN (ANALYZE 'off') DELETE FROM {t}",
            "EXPLAIN (ANALYZE 'on') DELETE FROM {t}",
        ],
    ],
)
async def test_a_read_only_identity_cannot_delete_through_a_reused_decision(
    nursery: trio.Nursery, tmp_path: Path, database: str, sent: list[str]
) -> None:
    table = f"victim_{secrets.token_hex(4)}"
    with _direct(database) as conn:
        conn.execute(f"CREATE TABLE {table} (id int)")
        conn.execute(f"INSERT INTO {table} VALUES (1), (2)")
    gw = await _reader_gateway(nursery, tmp_path, database)

    def client() -> list[list[tuple[bytes, bytes]]]:
        with RawSession(gw.port, gw.token(groups=("reader",))) as s:
            return [s.simple(sql.format(t=table)) for sql in sent]

    replies = await trio.to_thread.run_sync(client)
    for reply in replies[:-1]:
        assert [tag for tag, _ in reply] == [b"C"], reply
    assert [tag for tag, _ in replies[-1]] == [b"E"], replies[-1]
    assert b"42501" in replies[-1][0][1]
    assert direct_query(database, f"SELECT count(*) FROM {table}") == [(2,)]
    with trio.fail_after(10):
        while not gw.recorders[-1].closed:
            await trio.sleep(0.01)
    assert [d["action"] for d in _decisions(gw)] == ["allow"] * (len(sent) - 1) + ["deny"]


@pytest.mark.integration
async def test_a_prepared_statement_is_judged_at_parse_whatever_bind_sends(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> None:
    """Parse once, Bind with other parameters: a parameter is never a
    constant the classifier reads, so no Bind makes a statement do more than
    its Parse was judged for. `WHERE $1` is unbounded whatever $1 is (denied
    to a read-write identity even when $1 would be false), and a read runs
    with any parameter values."""
    import psycopg
    from psycopg import errors as pgerrors

    table = f"victim_{secrets.token_hex(4)}"
    with _direct(database) as conn:
        conn.execute(f"CREATE TABLE {table} (id int, flag text)")
        conn.execute(f"INSERT INTO {table} VALUES (1, 'on'), (2, 'off')")
    gw = await _reader_gateway(nursery, tmp_path, database)

    def reader() -> list[object]:
        out: list[object] = []
        dsn = gw.dsn(gw.token(groups=("reader",)))
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=0) as conn:
            for value in ("on", "off", "", "DELETE FROM x", "1", "99999999999999999999"):
                sql = f"SELECT count(*) FROM {table} WHERE flag = %s"
                out.append(conn.execute(sql, (value,)).fetchone())
        return out

    assert await trio.to_thread.run_sync(reader) == [(1,), (1,), (0,), (0,), (0,), (0,)]

    def writer() -> list[str | None]:
        codes: list[str | None] = []
        with psycopg.connect(gw.dsn(gw.token()), autocommit=True, prepare_threshold=0) as conn:
            for value in (False, True, None):
                try:
                    conn.execute(f"DELETE FROM {table} WHERE %s::bool", (value,))
                    codes.append(None)
                except pgerrors.Error as exc:
                    codes.append(exc.sqlstate)
        return codes

    assert await trio.to_thread.run_sync(writer) == ["42501"] * 3
    assert direct_query(database, f"SELECT count(*) FROM {table}") == [(2,)]
