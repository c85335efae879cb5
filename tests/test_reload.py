"""SIGHUP reloads the config of a running `limen serve` (a real process,
psycopg clients): a live session keeps running and its next statements
meet the new rules (even those it ran, and had cached, before); a config
that does not validate is refused and the running one stays; a change of
a setting bound at start is logged as needing a restart; live and new
sessions get the new masks (tests/test_reload_masks.py: both relays)."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg
import pytest
import trio

from fleet_support import Node, token
from gateway_pg_support import USERS, config_text, database
from limen.config import load_config_text
from limen.identity import Identity
from limen.policy import Policy, SessionPolicy

pytestmark = pytest.mark.integration
__all__ = ["database"]

WRITE = "UPDATE users_in SET email = email WHERE id = -1"
READ = "SELECT email FROM users WHERE id = 1"


def _dsn(node: Node, tok: str) -> str:
    return (
        f"host=127.0.0.1 port={node.port} dbname=app user=bot password={tok} "
        "sslmode=disable connect_timeout=10"
    )


def _denied(conn: psycopg.Connection[tuple[object, ...]], sql: str) -> str | None:
    """The SQLSTATE when ``sql`` fails, None when it runs."""
    try:
        conn.execute(sql)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


async def test_sighup_reloads_rules_for_live_sessions_and_refuses_bad_configs(
    tmp_path: Path, database: str, pg_relay: str
) -> None:
    original = config_text(database, dev_listen="127.0.0.1:0")
    config = tmp_path / "limen.toml"
    config.write_text(original)
    tok = token(config, "bot", "ci")
    node = await trio.to_thread.run_sync(Node, config)
    try:
        conn = await trio.to_thread.run_sync(
            lambda: psycopg.connect(_dsn(node, tok), autocommit=True)
        )
        try:
            # Allowed, twice: the second run is a cache hit of the relay.
            before = [await trio.to_thread.run_sync(_denied, conn, WRITE) for _ in range(2)]
            masked = await trio.to_thread.run_sync(lambda: conn.execute(READ).fetchone())

            # Writes leave rule ci-app, and so does the builtin mask.
            stricter = original.replace(
                'allow = ["read", "write"]\ndeny = ["ddl", "admin"]',
                'allow = ["read"]\ndeny = ["ddl", "admin", "write"]',
            ).replace(
                'mask = ["builtin", "column:users.api_key"]', 'mask = ["column:users.api_key"]'
            )
            assert stricter != original
            config.write_text(stricter)
            node.signal(signal.SIGHUP)
            reloaded = await trio.to_thread.run_sync(node.wait_for, "reloaded")
            after = [await trio.to_thread.run_sync(_denied, conn, WRITE) for _ in range(2)]
            still_reads = await trio.to_thread.run_sync(lambda: conn.execute(READ).fetchone())

            # A new session gets the new masks.
            def fresh() -> object:
                with psycopg.connect(_dsn(node, tok), autocommit=True) as other:
                    return other.execute(READ).fetchone()

            unmasked = await trio.to_thread.run_sync(fresh)

            # A config that does not validate: refused, the stricter rules stay.
            config.write_text(stricter.replace('allow = ["read"]', 'allow = ["reed"]'))
            node.signal(signal.SIGHUP)
            refused = await trio.to_thread.run_sync(node.wait_for, "reload_refused")
            still_denied = await trio.to_thread.run_sync(_denied, conn, WRITE)

            # Back to the original rules, with another listener address:
            # the rules change, the address waits for a restart.
            config.write_text(
                original.replace('postgres = "127.0.0.1:0"', 'postgres = "127.0.0.1:1"')
            )
            node.signal(signal.SIGHUP)
            await trio.to_thread.run_sync(node.wait_for, "reloaded", 2)
            restart = await trio.to_thread.run_sync(node.wait_for, "reload_needs_restart")
            allowed_again = await trio.to_thread.run_sync(_denied, conn, WRITE)
        finally:
            await trio.to_thread.run_sync(conn.close)
    finally:
        rc = await trio.to_thread.run_sync(node.stop)
    assert before == [None, None]
    assert masked == ("[MASKED:email]",)
    assert reloaded["sessions"] == 1
    assert after == ["42501", "42501"]  # the cached allow was forgotten
    assert still_reads == (USERS[0][2],)  # the live session took the new masks too
    assert unmasked == (USERS[0][2],)  # the row's own email: builtin left the rule
    assert "reed" in refused["error"]
    assert still_denied == "42501"
    assert restart["settings"] == ["listeners"]
    assert allowed_again is None
    assert rc == 0
    ends = node.events("session_end")
    assert len(ends) == 2  # both sessions ran to their own end: none was dropped
    assert all(e["reason"] != "57P01" for e in ends), ends


def test_rebind_keeps_prepared_statements_and_forgets_cached_decisions(tmp_path: Path) -> None:
    text = config_text("app_db")
    loose = Policy(load_config_text(text, base_dir=tmp_path))
    strict = Policy(
        load_config_text(
            text.replace('allow = ["read", "write"]', 'allow = ["read"]'), base_dir=tmp_path
        )
    )
    bot = Identity(
        subject="bot", groups=("ci",), issuer="iss", expires_at=None, token_id=None, method="dev"
    )
    session = SessionPolicy(loose, bot, "app")
    assert session.decide("PREPARE w AS " + WRITE).action == "allow"
    assert session.decide(WRITE).action == "allow"  # cached now
    session.rebind(strict)
    assert session.generation == 1
    assert "w" in session.prepared_names  # it exists upstream: kept
    assert session.decide(WRITE).action == "deny"
    assert session.decide("EXECUTE w").action == "deny"
    assert session.decide(READ).action == "allow"
