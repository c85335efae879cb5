"""A reload and live MySQL sessions (the gateway's reload,
:class:`limen.gateway.reload.Reloader`, MariaDB, PyMySQL and the mariadb
client, both relays): a session whose masks changed takes them at its
next statement, also one the native pump had cached, on the same
connection; a session whose masks did not change goes on, and a new
session gets the new masks."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import pymysql
import pytest
import trio

from gateway_mysql_support import MARIADB, config_text, mydb, start_gateway
from limen.config import load_config_text
from limen.gateway import JsonLog
from limen.gateway.reload import Reloader

pytestmark = pytest.mark.integration
__all__ = ["mydb"]

TICKET = '\n[[mask_rules]]\nname = "ticket"\nregex = "TCK-[0-9]+"\n'
OPS = """
[[rules]]
name = "ops-shop"
groups = ["ops"]
resources = ["shop"]
allow = ["read"]
mask = ["builtin"]
"""
READ = "SELECT 'TCK-42'"


def _text(database: str, mask: str) -> str:
    text = config_text(database).replace('mask = ["builtin"]', mask, 1)
    return text + OPS + TICKET


@pytest.mark.parametrize("my_relay", ["native", "trio"], indirect=True)
async def test_a_mysql_session_whose_masks_changed_takes_them_live(
    nursery: trio.Nursery, tmp_path: Path, mydb: str, my_relay: str
) -> None:
    path = tmp_path / "limen.toml"
    path.write_text(_text(mydb, 'mask = ["builtin"]'))
    log = io.StringIO()
    config = load_config_text(path.read_text(), base_dir=tmp_path)
    gw = await start_gateway(nursery, config, JsonLog(log))
    services = gw.gateway.services
    reloader = Reloader(path, services, [gw.gateway], log=services.log)

    def connect(group: str) -> pymysql.Connection:  # type: ignore[type-arg]
        return gw.pymysql(gw.token(groups=(group,)))

    def one(conn: pymysql.Connection, sql: str) -> object:  # type: ignore[type-arg]
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()

    seen: dict[str, object] = {}
    ci = await trio.to_thread.run_sync(connect, "ci")
    ops = await trio.to_thread.run_sync(connect, "ops")
    try:
        thread = await trio.to_thread.run_sync(one, ci, "SELECT CONNECTION_ID()")
        # twice: the second from the native pump's cache
        before = [await trio.to_thread.run_sync(one, ci, READ) for _ in range(2)]
        path.write_text(_text(mydb, 'mask = ["builtin", "ticket"]'))
        reloaded = reloader.reload()
        seen["live"] = await trio.to_thread.run_sync(one, ci, READ)
        seen["thread"] = await trio.to_thread.run_sync(one, ci, "SELECT CONNECTION_ID()")
        still = await trio.to_thread.run_sync(one, ops, "SELECT 1")
        fresh = await trio.to_thread.run_sync(connect, "ci")
        renewed = await trio.to_thread.run_sync(one, fresh, READ)
        await trio.to_thread.run_sync(fresh.close)
    finally:
        for conn in (ci, ops):
            with contextlib.suppress(pymysql.err.Error):
                await trio.to_thread.run_sync(conn.close)
    assert before == [("TCK-42",), ("TCK-42",)]
    assert reloaded.ok
    assert reloaded.sessions == 2
    assert seen["live"] == ("[MASKED:ticket]",)
    assert seen["thread"] == thread  # the same connection, upstream too
    assert len(gw.recorders) == 3  # ci, ops, the fresh ci
    records = gw.recorders[0].records
    u2c = b"".join(p for k, p in records if k == "u2c")
    assert u2c.count(b"TCK-42") == 4  # before the reload only: column name and value, twice
    logged = [json.loads(line)["event"] for line in log.getvalue().splitlines()]
    assert logged.count("session_remasked") == 1
    assert "session_remask_refused" not in logged
    assert still == (1,)
    assert renewed == ("[MASKED:ticket]",)


@pytest.mark.skipif(MARIADB is None, reason="no mariadb client")
@pytest.mark.parametrize("my_relay", ["native", "trio"], indirect=True)
async def test_a_mariadb_client_session_takes_reloaded_masks_live(
    nursery: trio.Nursery, tmp_path: Path, mydb: str, my_relay: str
) -> None:
    path = tmp_path / "limen.toml"
    path.write_text(_text(mydb, 'mask = ["builtin"]'))
    gw = await start_gateway(nursery, load_config_text(path.read_text(), base_dir=tmp_path))
    services = gw.gateway.services
    reloader = Reloader(path, services, [gw.gateway], log=services.log)
    assert MARIADB is not None
    cli = subprocess.Popen(
        [
            MARIADB, "--no-defaults", "-h127.0.0.1", f"-P{gw.port}", "-ubot",
            f"-p{gw.token()}", "--batch", "--unbuffered", "--skip-column-names", "shop",
        ],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert cli.stdin is not None
    assert cli.stdout is not None

    def ask(sql: str) -> str:
        assert cli.stdin is not None
        assert cli.stdout is not None
        cli.stdin.write(sql + ";\n")
        cli.stdin.flush()
        return cli.stdout.readline().strip()

    try:
        thread = await trio.to_thread.run_sync(ask, "SELECT CONNECTION_ID()")
        before = [await trio.to_thread.run_sync(ask, READ) for _ in range(2)]
        path.write_text(_text(mydb, 'mask = ["builtin", "ticket"]'))
        reloaded = reloader.reload()
        after = await trio.to_thread.run_sync(ask, READ)
        thread_after = await trio.to_thread.run_sync(ask, "SELECT CONNECTION_ID()")
    finally:
        _, err = await trio.to_thread.run_sync(lambda: cli.communicate("", timeout=30))
    assert before == ["TCK-42", "TCK-42"], err
    assert reloaded.sessions == 1
    assert after == "[MASKED:ticket]", err
    assert thread_after == thread  # the same session
    assert cli.returncode == 0, err
