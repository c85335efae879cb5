"""Completed session logs copied to a shared directory ([gateway]
recordings_copy): a real `limen serve` session's log appears there, byte for
byte, under the same DAY/ID path, and verifies intact with `limen sessions
verify`; a copy that cannot be written is logged and the local log stays."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import trio

from fleet_support import Node, limen, token
from gateway_pg_support import config_text, database
from limen.recording.shipping import copy_log

pytestmark = pytest.mark.integration
__all__ = ["database"]


def test_copy_log_keeps_the_layout_and_leaves_no_part_file(tmp_path: Path) -> None:
    root, shared = tmp_path / "local", tmp_path / "shared"
    log = root / "2026-01-02" / "abc.limenlog"
    log.parent.mkdir(parents=True)
    log.write_bytes(bytes(range(256)) * 5000)
    copied = copy_log(log, root, shared)
    assert copied == shared / "2026-01-02" / "abc.limenlog"
    assert copied.read_bytes() == log.read_bytes()
    assert list(copied.parent.iterdir()) == [copied]  # the .part was renamed


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, path
        time.sleep(0.05)


async def test_limen_serve_copies_each_closed_log(
    tmp_path: Path, database: str, pg_relay: str
) -> None:
    config = tmp_path / "limen.toml"
    config.write_text(config_text(database, 'recordings_copy = "shared"', dev_listen="127.0.0.1:0"))
    tok = token(config, "bot", "ci")
    node = await trio.to_thread.run_sync(Node, config)
    try:
        dsn = (
            f"host=127.0.0.1 port={node.port} dbname=app user=bot password={tok} "
            "sslmode=disable connect_timeout=10"
        )

        def session() -> None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SELECT email FROM users WHERE id = 1").fetchone()

        await trio.to_thread.run_sync(session)
        end = await trio.to_thread.run_sync(node.wait_for, "session_end")
    finally:
        rc = await trio.to_thread.run_sync(node.stop)
    assert rc == 0
    (local,) = (tmp_path / "recordings").glob("*/*.limenlog")
    assert local.stem == end["session"]
    shared = tmp_path / "shared" / local.parent.name / local.name
    _wait_for(shared)
    assert shared.read_bytes() == local.read_bytes()
    out = subprocess.run(
        limen("sessions", "verify", "--integrity-only", "--json", str(shared)),
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout)["status"] == "intact", out.stdout
    assert out.returncode == 0


async def test_a_copy_that_fails_is_logged_and_the_local_log_stays(
    tmp_path: Path, database: str, pg_relay: str
) -> None:
    (tmp_path / "shared").write_text("a file where the directory should be")
    config = tmp_path / "limen.toml"
    config.write_text(config_text(database, 'recordings_copy = "shared"', dev_listen="127.0.0.1:0"))
    tok = token(config, "bot", "ci")
    node = await trio.to_thread.run_sync(Node, config)
    try:
        dsn = (
            f"host=127.0.0.1 port={node.port} dbname=app user=bot password={tok} "
            "sslmode=disable connect_timeout=10"
        )
        await trio.to_thread.run_sync(lambda: psycopg.connect(dsn).close())
        failed = await trio.to_thread.run_sync(node.wait_for, "recording_copy_failed")
    finally:
        rc = await trio.to_thread.run_sync(node.stop)
    assert rc == 0
    (local,) = (tmp_path / "recordings").glob("*/*.limenlog")
    assert failed["path"] == str(local)
    assert failed["error"] in {"NotADirectoryError", "FileExistsError"}
    out = subprocess.run(
        limen("sessions", "verify", "--integrity-only", "--json", str(local)),
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout)["status"] == "intact"
