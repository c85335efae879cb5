"""A reload that changes a live MySQL session's `column:` masks (the
gateway's reload, MariaDB, mysql-connector-python's text and prepared
cursors, both relays): the session is not dropped (same connection); its
next statements see the new column masks, also through statements it
prepared before the reload (one judged, one the native pump prepared from
its cache); a mask that leaves the rules unmasks the column; a statement
prepared before the reload that the new masks refuse ends the session
(57P01, saying why) instead of leaving it as it was."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from gateway_mysql_support import config_text, mydb, start_gateway
from limen.config import load_config_text
from limen.gateway import JsonLog
from limen.gateway.reload import Reloader

pytestmark = pytest.mark.integration
__all__ = ["mydb"]

connector = pytest.importorskip("mysql.connector")

NAME = "SELECT name FROM users WHERE id = 1"
PREPARED = "SELECT name FROM users WHERE id = ?"
COPY = "INSERT INTO users (id, note) SELECT id + 100, name FROM users"
WITH = 'mask = ["builtin", "column:users.name"]'
WITHOUT = 'mask = ["builtin"]'
MASKED = "[MASKED:column:users.name]"


def _text(database: str, mask: str) -> str:
    return config_text(database).replace('mask = ["builtin"]', mask, 1)


Conn = Any  # mysql.connector's connection (untyped)


def _before(conn: Conn, *, copy: bool) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    cur = conn.cursor()
    cur.execute("SELECT CONNECTION_ID()")
    seen["thread"] = cur.fetchall()
    cur.execute(NAME)
    seen["text"] = cur.fetchall()
    # Two prepared statements of one text: on the native pump the second
    # is prepared from the pump's cache (the judge never sees it).
    seen["cursors"] = [conn.cursor(prepared=True), conn.cursor(prepared=True)]
    seen["prepared"] = []
    for prepared in seen["cursors"]:
        prepared.execute(PREPARED, (1,))
        seen["prepared"].append(prepared.fetchall())
    if copy:  # prepared only: it would copy a masked value once masked
        conn.cmd_stmt_prepare(COPY.encode())
    return seen


def _after(conn: Conn, cursors: list[Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    cur = conn.cursor()
    cur.execute(NAME)
    seen["text"] = cur.fetchall()
    seen["prepared"] = []
    for prepared in cursors:
        prepared.execute(PREPARED, (1,))
        seen["prepared"].append(prepared.fetchall())
    cur.execute("SELECT CONNECTION_ID()")
    seen["thread"] = cur.fetchall()
    return seen


async def _session(
    nursery: trio.Nursery,
    tmp_path: Path,
    mydb: str,
    first: str,
    then: str,
    *,
    copy: bool = False,
) -> tuple[dict[str, Any], dict[str, Any] | str, list[dict[str, Any]]]:
    """A session under masks ``first``, reloaded to ``then``: what it saw
    before, after (or the error that ended it), and the log's events."""
    path = tmp_path / "limen.toml"
    path.write_text(_text(mydb, first))
    log = io.StringIO()
    gw = await start_gateway(
        nursery, load_config_text(path.read_text(), base_dir=tmp_path), JsonLog(log)
    )
    services = gw.gateway.services
    reloader = Reloader(path, services, [gw.gateway], log=services.log)
    connect: Callable[[], Conn] = lambda: connector.connect(  # noqa: E731
        host="127.0.0.1",
        port=gw.port,
        user="bot",
        password=gw.token(),
        database="shop",
        use_pure=True,
        ssl_disabled=True,
    )
    conn = await trio.to_thread.run_sync(connect)
    try:
        before = await trio.to_thread.run_sync(lambda: _before(conn, copy=copy))
        path.write_text(_text(mydb, then))
        reloaded = reloader.reload()
        assert reloaded.ok
        assert reloaded.sessions == 1
        after: dict[str, Any] | str
        try:
            after = await trio.to_thread.run_sync(lambda: _after(conn, before["cursors"]))
        except connector.Error as exc:
            after = str(exc)
    finally:
        await trio.to_thread.run_sync(conn.close)
    with trio.fail_after(30):  # the session's end is logged as it closes
        while '"event":"session_end"' not in log.getvalue():
            await trio.sleep(0.05)
    return before, after, [json.loads(line) for line in log.getvalue().splitlines()]


def _named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


@pytest.mark.parametrize("my_relay", ["native", "trio"], indirect=True)
async def test_a_column_mask_added_by_a_reload_reaches_a_live_mysql_session(
    nursery: trio.Nursery, tmp_path: Path, mydb: str, my_relay: str
) -> None:
    before, after, events = await _session(nursery, tmp_path, mydb, WITHOUT, WITH)
    assert isinstance(after, dict), after
    assert before["text"] == [("alice",)]
    assert [str(rows) for rows in before["prepared"]] == [str([("alice",)])] * 2
    assert after["text"] == [(MASKED,)]
    for rows in after["prepared"]:  # judged again, or every column masked
        assert "alice" not in str(rows)
        assert "MASKED" in str(rows)
    assert after["thread"] == before["thread"]  # the same connection
    assert len(_named(events, "session_remasked")) == 1
    assert not _named(events, "session_remask_refused")


@pytest.mark.parametrize("my_relay", ["native", "trio"], indirect=True)
async def test_a_column_mask_removed_by_a_reload_unmasks_a_live_mysql_session(
    nursery: trio.Nursery, tmp_path: Path, mydb: str, my_relay: str
) -> None:
    before, after, events = await _session(nursery, tmp_path, mydb, WITH, WITHOUT)
    assert isinstance(after, dict), after
    assert before["text"] == [(MASKED,)]
    assert all("alice" not in str(rows) for rows in before["prepared"])
    assert after["text"] == [("alice",)]
    assert [str(rows) for rows in after["prepared"]] == [str([("alice",)])] * 2
    assert after["thread"] == before["thread"]
    assert len(_named(events, "session_remasked")) == 1
    assert not _named(events, "session_remask_refused")


@pytest.mark.parametrize("my_relay", ["native", "trio"], indirect=True)
async def test_a_prepared_statement_the_new_column_masks_refuse_ends_the_session(
    nursery: trio.Nursery, tmp_path: Path, mydb: str, my_relay: str
) -> None:
    before, after, events = await _session(nursery, tmp_path, mydb, WITHOUT, WITH, copy=True)
    assert before["text"] == [("alice",)]
    assert isinstance(after, str), after
    assert "alice" not in after
    # The client's next command got the ERR (mysql.connector's ping first
    # reports it as a connection no longer available, on the Trio relay).
    assert "could not apply them live" in after or "not available" in after
    (refused,) = _named(events, "session_remask_refused")
    assert "would now be refused" in refused["reason"]
    assert [e["reason"] for e in _named(events, "session_end")] == ["57P01"]
