"""A SIGHUP reload's masks reach a live PostgreSQL session, on both relays
(a real `limen serve`, psycopg): its next results are masked by the new
rules' detectors and [[mask_rules]], its next statements are recorded
through the new statement masker (also those the native core records from
its decision cache, by shape), and its log's `u2c` records are flagged as
the client got them; a reload that changes the session's column masks
gives them to it live as well (tests/test_reload_columns.py)."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg
import pytest
import trio

from fleet_support import Node, token
from gateway_pg_support import USERS, config_text, database
from limen.recording import open_log

pytestmark = pytest.mark.integration
__all__ = ["database"]

READ = "SELECT email FROM users WHERE id = 1"
TICKET = '[[mask_rules]]\nname = "ticket"\nregex = "TCK-[0-9]+"\n'
BASE_MASK = 'mask = ["builtin", "column:users.api_key"]'


def _config(database: str, mask: str) -> str:
    return config_text(database, dev_listen="127.0.0.1:0").replace(BASE_MASK, mask) + TICKET


@pytest.mark.parametrize("pg_relay", ["native", "trio"], indirect=True)
async def test_a_live_session_takes_the_reloaded_masks(
    tmp_path: Path, database: str, pg_relay: str
) -> None:
    config = tmp_path / "limen.toml"
    config.write_text(_config(database, 'mask = ["column:users.api_key"]'))
    tok = token(config, "bot", "ci")
    node = await trio.to_thread.run_sync(Node, config)
    dsn = (
        f"host=127.0.0.1 port={node.port} dbname=app user=bot password={tok} "
        "sslmode=disable connect_timeout=10"
    )
    seen: dict[str, object] = {}
    try:
        conn = await trio.to_thread.run_sync(lambda: psycopg.connect(dsn, autocommit=True))

        async def one(sql: str) -> object:
            return await trio.to_thread.run_sync(lambda: conn.execute(sql).fetchone())

        try:
            seen["before"] = [await one(READ), await one("SELECT 'TCK-11' AS t")]
            config.write_text(
                _config(database, 'mask = ["builtin", "ticket", "column:users.api_key"]')
            )
            node.signal(signal.SIGHUP)
            seen["reloaded"] = await trio.to_thread.run_sync(node.wait_for, "reloaded")
            seen["remasked"] = node.events("session_remasked")
            seen["after"] = [
                await one(READ),
                await one("SELECT 'hello' AS t"),  # cached, by shape
                await one("SELECT 'TCK-22' AS t"),  # its shape's sibling: masked all the same
                await one("SELECT 'TCK-33' AS t"),
                await one("SELECT api_key FROM users WHERE id = 1"),
            ]
            # The column mask leaves the rules: taken live too
            # (tests/test_reload_columns.py has the rest of that story).
            config.write_text(_config(database, 'mask = ["builtin", "ticket"]'))
            node.signal(signal.SIGHUP)
            await trio.to_thread.run_sync(node.wait_for, "reloaded", 2)
            seen["unmasked"] = await one("SELECT api_key FROM users WHERE id = 1")
        finally:
            await trio.to_thread.run_sync(conn.close)
        end = await trio.to_thread.run_sync(node.wait_for, "session_end")
    finally:
        rc = await trio.to_thread.run_sync(node.stop)
    assert rc == 0
    email = USERS[0][2]
    assert seen["before"] == [(email,), ("TCK-11",)]  # nothing masked these yet
    assert seen["reloaded"]["sessions"] == 1  # type: ignore[index]
    assert len(seen["remasked"]) == 1  # type: ignore[arg-type]
    assert seen["after"] == [
        ("[MASKED:email]",),
        ("hello",),
        ("[MASKED:ticket]",),
        ("[MASKED:ticket]",),
        ("[MASKED:column:users.api_key]",),
    ]
    assert seen["unmasked"] == (USERS[0][4],)
    assert end["reason"] != "57P01"
    assert not node.events("session_remask_refused")

    (log,) = (tmp_path / "recordings").glob("*/*.limenlog")
    records = list(open_log(log))
    c2u = [r for r in records if r.kind == "c2u"]
    texts = [r.payload.decode() for r in c2u]
    assert "SELECT 'TCK-11' AS t" in texts  # recorded before the reload: no ticket rule yet
    after = texts[texts.index("SELECT 'hello' AS t") :]
    assert not any("TCK-22" in t or "TCK-33" in t for t in after), after
    assert sum("[MASKED:ticket]" in t for t in after) == 2
    assert all(r.masked for r in c2u)  # every statement went through a masker
    reread = [r.seq for r in c2u if r.payload == READ.encode()][1]  # after the reload
    u2c = [r for r in records if r.kind == "u2c"]
    before, later = [r for r in u2c if r.seq < reread], [r for r in u2c if r.seq > reread]
    assert any(email.encode() in r.payload for r in before)
    assert later
    assert not any(email.encode() in r.payload for r in later)
    assert all(r.masked for r in later)  # flagged as the client got them
    assert not any(b"TCK-22" in r.payload or b"TCK-33" in r.payload for r in u2c)
