"""The issue's "done when", end to end on the local MariaDB: a bot with the
mariadb CLI and with PyMySQL reads masked data, is denied a DROP with a
clear error, waits on a held write until a human approves it with `limen
approvals approve`, and its sessions replay and verify with `limen
sessions`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest
import trio

from gateway_mysql_support import MARIADB, Gateway, config_text, direct, mydb, start_gateway
from limen.approvals import ApprovalHub
from limen.config import load_config
from limen.store import open_store

pytestmark = pytest.mark.mysql
__all__ = ["mydb"]

RULES = """
[[rules]]
name = "careful-shop"
groups = ["careful"]
resources = ["shop"]
allow = ["read"]
hold = ["write"]
deny = ["ddl", "admin"]
approvers = ["security"]
mask = ["builtin", "column:users.api_key"]
"""


def limen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class Env:
    def __init__(self, gw: Gateway, hub: ApprovalHub, config_file: Path) -> None:
        self.gw = gw
        self.hub = hub
        self.config_file = config_file

    def token(self) -> str:
        return self.gw.token("bot", ("careful",))

    async def pending(self, timeout: float = 20) -> str:
        with trio.fail_after(timeout):
            while True:
                reqs = await trio.to_thread.run_sync(self.hub.store.approvals)
                waiting = [r for r in reqs if r.status == "pending"]
                if waiting:
                    return waiting[0].id
                await trio.sleep(0.05)


@pytest.fixture
async def env(nursery: trio.Nursery, tmp_path: Path, mydb: str) -> Env:
    config_file = tmp_path / "limen.toml"
    config_file.write_text(config_text(mydb) + RULES)
    config = load_config(config_file)
    hub = ApprovalHub(open_store(config.gateway.state, tmp_path), poll_interval=0.05)
    await nursery.start(hub.run)
    gw = await start_gateway(nursery, config, approvals=hub, memory_recorders=False)
    return Env(gw, hub, config_file)


@pytest.mark.skipif(MARIADB is None, reason="no mariadb CLI")
async def test_the_mariadb_cli_reads_masked_and_is_denied_a_drop(env: Env, mydb: str) -> None:
    read = await trio.to_thread.run_sync(
        env.gw.cli, "SELECT email, card, api_key, note FROM users WHERE id = 2", env.token()
    )
    assert read.returncode == 0, read.stderr
    assert "bob.smith@example.org" not in read.stdout
    assert "5500 0000 0000 0004" not in read.stdout
    assert "ak_live_0002" not in read.stdout
    assert "AKIAIOSFODNN7EXAMPLE" not in read.stdout
    assert "[MASKED:" in read.stdout
    drop = await trio.to_thread.run_sync(env.gw.cli, "DROP TABLE users", env.token())
    assert drop.returncode != 0
    assert "(42000)" in drop.stderr
    assert "careful-shop" in drop.stderr
    assert "ddl" in drop.stderr
    conn = direct(mydb)
    try:
        with conn.cursor() as cur:
            assert cur.execute("SHOW TABLES LIKE 'users'") == 1  # still there
    finally:
        conn.close()


async def test_pymysql_waits_on_a_held_write_until_the_cli_approves_it(env: Env, mydb: str) -> None:
    token = env.token()

    def bot() -> tuple[int, object, object]:
        with env.gw.pymysql(token, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT email FROM users WHERE id = 1")
            masked = cur.fetchone()
            changed = cur.execute("UPDATE users SET note = 'approved' WHERE id = 3")
            cur.execute("SELECT 1")
            return changed, masked, cur.fetchone()

    async with trio.open_nursery() as nursery:
        result: list[tuple[int, object, object]] = []

        async def run_bot() -> None:
            result.append(await trio.to_thread.run_sync(bot))

        nursery.start_soon(run_bot)
        approval = await env.pending()
        assert not result  # still waiting
        done = await trio.to_thread.run_sync(
            lambda: limen(
                "approvals", "approve", "--config", str(env.config_file), approval, "--as", "sam"
            )
        )
        assert done.returncode == 0, done.stderr
    changed, masked, after = result[0]
    assert changed == 1
    assert masked == ("[MASKED:email]",)
    assert after == (1,)
    conn = direct(mydb)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT note FROM users WHERE id = 3")
            assert cur.fetchone() == ("approved",)
            cur.execute("UPDATE users SET note = 'no secrets here' WHERE id = 3")
    finally:
        conn.close()

    # The session is recorded: listed, verified against the gateway's key, replayed.
    cfg = str(env.config_file)
    with trio.fail_after(20):
        while True:
            listed = await trio.to_thread.run_sync(
                lambda: limen("sessions", "list", "--config", cfg, "--json")
            )
            rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
            ended = [r for r in rows if r.get("protocol") == "mysql" and r.get("ended_at")]
            if ended:
                break
            await trio.sleep(0.1)
    session = ended[0]["id"]
    verified = await trio.to_thread.run_sync(
        lambda: limen("sessions", "verify", "--config", cfg, session)
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    replay = await trio.to_thread.run_sync(
        lambda: limen("sessions", "replay", "--config", cfg, session)
    )
    assert replay.returncode == 0, replay.stderr
    assert "UPDATE users SET note = 'approved' WHERE id = 3" in replay.stdout
    assert "alice@example.com" not in replay.stdout
    assert "[MASKED:email]" in replay.stdout
    # Results replay as tables (the mysql CLI's layout), OK packets as a line.
    lines = replay.stdout.splitlines()
    cells = [line.strip() for line in lines if line.strip().startswith("| ")]
    assert any("| [MASKED:email]" in c for c in cells), replay.stdout
    assert any(line.strip() == "1 row(s)" for line in lines), replay.stdout
    assert any(line.rstrip().endswith("OK, 1 row(s) affected") for line in lines)


async def test_a_denied_statement_leaves_the_pymysql_session_usable(env: Env) -> None:
    def bot() -> tuple[tuple[object, ...], object]:
        with env.gw.pymysql(env.token()) as conn, conn.cursor() as cur:
            with pytest.raises(pymysql.err.MySQLError) as denied:
                cur.execute("DROP TABLE users")
            cur.execute("SELECT COUNT(*) FROM users")
            return denied.value.args, cur.fetchone()

    args, count = await trio.to_thread.run_sync(bot)
    code, message = args
    assert code >= 1000
    assert message.startswith("limen: ")
    assert "careful-shop" in message
    assert count == (3,)
