"""A SIGHUP reload that changes a live PostgreSQL session's `column:` masks
(a real `limen serve` and PostgreSQL, psycopg, both relays): the session
is not dropped (same connection, same upstream backend); its next
statements see the new column masks, also through a statement it prepared
before the reload; a mask that leaves the rules unmasks the column; when
the new masks cannot be resolved (the upstream refuses the side
connection) the session is ended (57P01) instead of serving the column
unmasked."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio

from fleet_support import Node, token
from gateway_pg_support import USERS, _direct, config_text, database

pytestmark = pytest.mark.integration
__all__ = ["database"]

KEY = "SELECT api_key FROM users WHERE id = 1"
DERIVED = "SELECT lower(api_key) AS k FROM users WHERE id = 1"
PID = "SELECT pg_backend_pid()"
BASE_MASK = 'mask = ["builtin", "column:users.api_key"]'
WITH = 'mask = ["column:users.api_key"]'
WITHOUT = 'mask = ["ticket"]'
TICKET = '[[mask_rules]]\nname = "ticket"\nregex = "TCK-[0-9]+"\n'
MASKED = "[MASKED:column:users.api_key]"


def _config(database: str, mask: str) -> str:
    return config_text(database, dev_listen="127.0.0.1:0").replace(BASE_MASK, mask) + TICKET


async def _session(
    tmp_path: Path,
    database: str,
    first: str,
    then: str,
    steps: Callable[[Node, Path, Callable[..., Any]], Any],
) -> tuple[dict[str, Any], Node]:
    """A node with masks ``first``, a psycopg session; ``steps(node, config,
    one)`` runs on it after the file says ``then`` (not yet reloaded)."""
    config = tmp_path / "limen.toml"
    config.write_text(_config(database, first))
    tok = token(config, "bot", "ci")
    node = await trio.to_thread.run_sync(Node, config)
    dsn = (
        f"host=127.0.0.1 port={node.port} dbname=app user=bot password={tok} "
        "sslmode=disable connect_timeout=10"
    )
    seen: dict[str, Any] = {}
    try:
        conn = await trio.to_thread.run_sync(lambda: psycopg.connect(dsn, autocommit=True))

        async def one(sql: str, *, prepare: bool | None = None) -> object:
            return await trio.to_thread.run_sync(
                lambda: conn.execute(sql, prepare=prepare).fetchone()
            )

        try:
            seen["pid"] = await one(PID)
            seen["before"] = [await one(KEY), await one(DERIVED, prepare=True)]
            await trio.to_thread.run_sync(lambda: conn.execute("PREPARE k AS " + DERIVED))
            config.write_text(_config(database, then))
            seen.update(await steps(node, config, one))
        finally:
            await trio.to_thread.run_sync(conn.close)
        seen["end"] = await trio.to_thread.run_sync(node.wait_for, "session_end")
        seen["ends"] = node.events("session_end")
    finally:
        seen["rc"] = await trio.to_thread.run_sync(node.stop)
    return seen, node


async def _reload_and_read(node: Node, config: Path, one: Callable[..., Any]) -> dict[str, Any]:
    node.signal(signal.SIGHUP)
    reloaded = await trio.to_thread.run_sync(node.wait_for, "reloaded")
    after = [
        await one(KEY),
        await one(DERIVED, prepare=True),
        await one(DERIVED),
        await one("EXECUTE k"),  # SQL PREPARE before the reload: planned again
    ]
    return {
        "reloaded": reloaded,
        "after": after,
        "pid_after": await one(PID),
        "remasked": node.events("session_remasked"),
        "refused": node.events("session_remask_refused"),
    }


@pytest.mark.parametrize("pg_relay", ["native", "trio"], indirect=True)
async def test_a_column_mask_added_by_a_reload_reaches_a_live_session(
    tmp_path: Path, database: str, pg_relay: str
) -> None:
    seen, _ = await _session(tmp_path, database, WITHOUT, WITH, _reload_and_read)
    key = USERS[0][4]
    assert seen["before"] == [(key,), (key,)]  # not masked yet
    assert seen["reloaded"]["sessions"] == 1
    assert seen["after"][0] == (MASKED,)
    # a derived value, from a statement prepared before the reload and not
    assert seen["after"][1] != (key,)
    assert key not in str(seen["after"][1])
    assert seen["after"][2] != (key,)
    assert key not in str(seen["after"][2])
    assert seen["after"][3] != (key,)
    assert key not in str(seen["after"][3])
    assert seen["pid_after"] == seen["pid"]  # the same upstream session
    assert len(seen["remasked"]) == 1
    assert not seen["refused"]
    assert len(seen["ends"]) == 1
    assert seen["end"]["reason"] != "57P01"
    assert seen["rc"] == 0


@pytest.mark.parametrize("pg_relay", ["native", "trio"], indirect=True)
async def test_a_column_mask_removed_by_a_reload_unmasks_a_live_session(
    tmp_path: Path, database: str, pg_relay: str
) -> None:
    seen, _ = await _session(tmp_path, database, WITH, WITHOUT, _reload_and_read)
    key = USERS[0][4]
    assert seen["before"][0] == (MASKED,)
    assert key not in str(seen["before"][1])
    assert seen["after"] == [(key,), (key,), (key,), (key,)]
    assert seen["pid_after"] == seen["pid"]
    assert len(seen["remasked"]) == 1
    assert not seen["refused"]
    assert seen["end"]["reason"] != "57P01"
    assert seen["rc"] == 0


@pytest.mark.parametrize("pg_relay", ["native", "trio"], indirect=True)
async def test_a_session_whose_new_column_masks_cannot_be_resolved_is_ended(
    tmp_path: Path, database: str, pg_relay: str
) -> None:
    async def refused(node: Node, config: Path, one: Callable[..., Any]) -> dict[str, Any]:
        # The upstream takes no new connection to the database (the live
        # one stays): the side connection for the new column masks fails.
        with _direct() as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            node.signal(signal.SIGHUP)
            await trio.to_thread.run_sync(node.wait_for, "reloaded")
            with pytest.raises(psycopg.OperationalError) as ended:
                await one(KEY)
            why = await trio.to_thread.run_sync(node.wait_for, "session_remask_refused")
        finally:
            with _direct() as admin:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        return {"ended": str(ended.value), "why": why}

    seen, _ = await _session(tmp_path, database, WITHOUT, WITH, refused)
    key = USERS[0][4]
    assert seen["before"][0] == (key,)
    assert key not in seen["ended"]
    assert "could not apply them live" in seen["ended"]
    assert "reconnect" in seen["ended"]
    assert seen["why"]["reason"]
    assert seen["end"]["reason"] == "57P01"
    assert seen["rc"] == 0
