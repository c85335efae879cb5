"""Session logs copied to a shared store ([gateway] recordings_copy): a real
`limen serve` session's closed log appears in a shared directory, byte for
byte, under the same DAY/ID path, and verifies intact with `limen sessions
verify`; a copy that cannot be written is logged and the local log stays;
a node killed (kill -9) mid-session leaves a copy (a directory, or the
PostgreSQL state store) that `limen sessions verify/export --config` read
when the local log is gone: truncated, never tampered, with every
statement copied before the kill."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import trio

from fleet_support import Node, limen, token
from gateway_pg_support import config_text, database
from limen.recording import open_log, verify
from limen.recording.shipping import copy_log
from limen.store import open_store

pytestmark = pytest.mark.integration
__all__ = ["database"]

PG = "postgresql://postgres@127.0.0.1:5432/"


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


@pytest.fixture
def pg_state() -> Iterator[str]:
    name = f"limen_copy_{secrets.token_hex(4)}"
    with psycopg.connect(PG + "postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG + name
    finally:
        with psycopg.connect(PG + "postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _copy_statements(where: str, shared: Path, state: str, session: str, tmp: Path) -> list[str]:
    """The statements the copy holds now (none while there is no copy)."""
    if where == "directory":
        found = list(shared.glob(f"*/{session}.limenlog"))
        if not found:
            return []
        path = found[0]
    else:
        store = open_store(state)
        path = tmp / f"probe-{secrets.token_hex(4)}.limenlog"
        try:
            if store.segment_size(session) == 0:
                return []
            with path.open("wb+") as f:
                store.segment_read(session, f)
        finally:
            store.close()
    return [r.payload.decode() for r in open_log(path) if r.kind == "c2u"]


@pytest.mark.parametrize("where", ["directory", "state"])
async def test_a_killed_nodes_log_is_read_from_its_copy_truncated_with_what_was_copied(
    tmp_path: Path, database: str, pg_state: str, pg_relay: str, where: str
) -> None:
    copy = "shared" if where == "directory" else "state:"
    config = tmp_path / "limen.toml"
    config.write_text(
        config_text(
            database,
            f'recordings_copy = "{copy}"\nrecordings_copy_interval = "200ms"',
            dev_listen="127.0.0.1:0",
        ).replace('state = "sqlite://state/limen.db"', f'state = "{pg_state}"\nstate_dir = "state"')
    )
    tok = token(config, "bot", "ci")
    node = await trio.to_thread.run_sync(Node, config)
    conn = None
    try:
        dsn = (
            f"host=127.0.0.1 port={node.port} dbname=app user=bot password={tok} "
            "sslmode=disable connect_timeout=10"
        )
        conn = await trio.to_thread.run_sync(lambda: psycopg.connect(dsn, autocommit=True))
        for n in range(3):
            sql = f"SELECT name FROM users WHERE id = {n + 1}"
            await trio.to_thread.run_sync(lambda sql=sql: conn.execute(sql).fetchall())
        start = await trio.to_thread.run_sync(node.wait_for, "session_start")
        session = start["session"]
        wanted = [f"SELECT name FROM users WHERE id = {n + 1}" for n in range(3)]
        deadline = time.monotonic() + 30
        while _copy_statements(where, tmp_path / "shared", pg_state, session, tmp_path) != wanted:
            assert time.monotonic() < deadline, "the statements never reached the copy"
            await trio.sleep(0.05)
        node.proc.kill()  # kill -9: no close, no trailer
        await trio.to_thread.run_sync(node.proc.wait)
    finally:
        if conn is not None:
            conn.close()
        await trio.to_thread.run_sync(node.stop)
    (local,) = (tmp_path / "recordings").glob(f"*/{session}.limenlog")
    assert verify(local, None).status == "truncated"
    local.unlink()  # the node's disk is lost with it
    out = subprocess.run(
        limen("sessions", "verify", "--config", str(config), "--json", session),
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout)
    assert result["status"] == "truncated", out.stdout + out.stderr
    assert result["session_id"] == session
    assert "is missing; reading its copy" in out.stderr
    assert out.returncode == 1
    exported = subprocess.run(
        limen("sessions", "export", "--config", str(config), "--format", "jsonl", session),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    statements = [r["text"] for r in lines if r.get("kind") == "c2u"]
    assert statements[: len(wanted)] == wanted
    assert lines[-1] == {"type": "end", "status": "truncated"}
