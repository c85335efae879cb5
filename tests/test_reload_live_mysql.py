"""A reload and live MySQL sessions (the gateway's reload,
:class:`limen.gateway.reload.Reloader`, MariaDB and PyMySQL, both relays):
a session whose masks changed takes them at its next statement on the
Trio relay, and is ended with a message saying why on the native pump
(which does not swap maskers); a session whose masks did not change goes
on, and a new session gets the new masks."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pymysql
import pytest
import trio

from gateway_mysql_support import config_text, mydb, start_gateway
from limen.config import load_config_text
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
async def test_a_mysql_session_whose_masks_changed_takes_them_or_is_ended(
    nursery: trio.Nursery, tmp_path: Path, mydb: str, my_relay: str
) -> None:
    path = tmp_path / "limen.toml"
    path.write_text(_text(mydb, 'mask = ["builtin"]'))
    gw = await start_gateway(nursery, load_config_text(path.read_text(), base_dir=tmp_path))
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
        before = await trio.to_thread.run_sync(one, ci, READ)
        path.write_text(_text(mydb, 'mask = ["builtin", "ticket"]'))
        reloaded = reloader.reload()
        if my_relay == "trio":  # swapped live
            seen["live"] = await trio.to_thread.run_sync(one, ci, READ)
        else:
            with pytest.raises(pymysql.err.MySQLError) as ended:
                await trio.to_thread.run_sync(one, ci, READ)
            seen["ended"] = str(ended.value)
        still = await trio.to_thread.run_sync(one, ops, "SELECT 1")
        fresh = await trio.to_thread.run_sync(connect, "ci")
        renewed = await trio.to_thread.run_sync(one, fresh, READ)
        await trio.to_thread.run_sync(fresh.close)
    finally:
        for conn in (ci, ops):
            with contextlib.suppress(pymysql.err.Error):  # already ended
                await trio.to_thread.run_sync(conn.close)
    assert before == ("TCK-42",)
    assert reloaded.ok
    assert reloaded.sessions == 2
    if my_relay == "trio":
        assert seen["live"] == ("[MASKED:ticket]",)
        assert len(gw.recorders) == 3  # ci, ops, the fresh ci
        u2c = b"".join(p for k, p in gw.recorders[0].records if k == "u2c")
        assert u2c.count(b"TCK-42") == 2  # before the reload only: column name and value
    else:
        assert "masking rules of this session changed" in str(seen["ended"])
    assert still == (1,)
    assert renewed == ("[MASKED:ticket]",)
