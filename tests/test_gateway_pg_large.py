"""A million rows through `limen serve` (masking and recording on) in
constant gateway memory: the gateway process's peak RSS (VmHWM) grows by
far less than the bytes that went through it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from gateway_pg_support import config_text, database

pytestmark = pytest.mark.integration
__all__ = ["database"]

ROWS = 1_000_000
WIDTH = 200  # bytes of text per row: about 200 MB through the gateway


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


def _limen(*args: str) -> list[str]:
    return [sys.executable, "-m", "limen", *args]


async def test_a_million_rows_stream_in_constant_memory(tmp_path: Path, database: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    config = tmp_path / "limen.toml"
    config.write_text(config_text(database, dev_listen="127.0.0.1:0"))
    token = subprocess.run(
        _limen("token", "--config", str(config), "--sub", "bot", "--group", "ci"),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    proc = subprocess.Popen(
        _limen("serve", "--config", str(config)),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        port = None
        while port is None:
            line = await trio.to_thread.run_sync(proc.stderr.readline)
            assert line, "limen serve exited early"
            event = json.loads(line)
            if event["event"] == "listening":
                port = event["port"]

        def query(sql: str) -> int:
            """Rows psql printed (one result: the gateway streams it whole)."""
            run = subprocess.Popen(
                [psql, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                stdout=subprocess.PIPE,
                env={
                    **os.environ,
                    "PGHOST": "127.0.0.1",
                    "PGPORT": str(port),
                    "PGUSER": "bot",
                    "PGDATABASE": "app",
                    "PGPASSWORD": token,
                    "PGSSLMODE": "disable",
                },
            )
            assert run.stdout is not None
            rows = sum(1 for _ in run.stdout)
            assert run.wait(300) == 0
            return rows

        # Warm up (imports, masker, first session), then measure the peak.
        assert await trio.to_thread.run_sync(query, "SELECT 1") == 1
        before = _hwm_kib(proc.pid)
        sql = (
            f"SELECT i, repeat('x', {WIDTH - 30}) || ' user' || i || '@example.com' "
            f"FROM generate_series(1, {ROWS}) AS i"
        )
        assert await trio.to_thread.run_sync(query, sql) == ROWS
        after = _hwm_kib(proc.pid)
    finally:
        proc.terminate()
        await trio.to_thread.run_sync(proc.wait, 30)
    through_mib = ROWS * WIDTH / 2**20
    grew_mib = (after - before) / 1024
    # ~190 MiB went through; a gateway that buffered the result would grow
    # by at least that much.
    assert grew_mib < 40, f"peak RSS grew {grew_mib:.0f} MiB for {through_mib:.0f} MiB of rows"
