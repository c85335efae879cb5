"""The PostgreSQL gateway over TLS, and `limen serve` as a real process:
JSON log lines, a session through it, SIGTERM draining to exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import trio

from gateway_pg_support import config_text, database, gateway_config, start_gateway
from oidc_provider import self_signed

pytestmark = pytest.mark.integration
__all__ = ["database"]


async def test_tls_from_the_client(nursery: trio.Nursery, tmp_path: Path, database: str) -> None:
    self_signed(tmp_path)  # writes cert.pem and key.pem
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    base = gateway_config(tmp_path, database)
    config = type(base)(
        gateway=base.gateway,
        listeners=type(base.listeners)(
            postgres=base.listeners.postgres, tls_cert=str(cert), tls_key=str(key)
        ),
        identity=base.identity,
        resources=base.resources,
        rules=base.rules,
        base_dir=base.base_dir,
    )
    gw = await start_gateway(nursery, config)
    dsn = gw.dsn(gw.token()).replace("sslmode=disable", "sslmode=require")

    def client() -> tuple[bool, object]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return conn.pgconn.ssl_in_use, conn.execute(
                "SELECT email FROM users WHERE id=1"
            ).fetchone()

    ssl_in_use, row = await trio.to_thread.run_sync(client)
    assert ssl_in_use is True
    assert row == ("[MASKED:email]",)


def _config_file(tmp_path: Path, database: str) -> Path:
    path = tmp_path / "limen.toml"
    path.write_text(config_text(database, 'drain_timeout = "2s"', dev_listen="127.0.0.1:0"))
    return path


def _limen(*args: str) -> list[str]:
    return [sys.executable, "-m", "limen", *args]


async def test_limen_serve_logs_json_serves_and_drains_on_sigterm(
    tmp_path: Path, database: str, pg_relay: str
) -> None:
    config = _config_file(tmp_path, database)
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
        lines: list[dict[str, object]] = []
        port = None
        while port is None:
            line = await trio.to_thread.run_sync(proc.stderr.readline)
            assert line, "limen serve exited early"
            lines.append(json.loads(line))
            if lines[-1]["event"] == "listening":
                port = lines[-1]["port"]
        dsn = (
            f"host=127.0.0.1 port={port} dbname=app user=bot password={token} "
            "sslmode=disable connect_timeout=10"
        )

        def client() -> tuple[object, str]:
            with psycopg.connect(dsn, autocommit=True) as conn:
                row = conn.execute("SELECT email FROM users WHERE id = 1").fetchone()
                proc.send_signal(signal.SIGTERM)
                # The open session is ended once the drain timeout passes.
                for _ in range(400):
                    try:
                        conn.execute("SELECT pg_sleep(0.02)")
                    except psycopg.OperationalError as exc:
                        return row, str(exc)
                return row, "still connected"

        row, ended = await trio.to_thread.run_sync(client)
        rc = await trio.to_thread.run_sync(proc.wait, 30)
        rest = await trio.to_thread.run_sync(proc.stderr.read)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert row == ("[MASKED:email]",)
    assert ended != "still connected"
    assert rc == 0
    events = [e["event"] for e in lines] + [json.loads(x)["event"] for x in rest.splitlines()]
    assert "session_start" in events
    assert "draining" in events
    ends = [json.loads(x) for x in rest.splitlines() if '"session_end"' in x]
    assert [e["reason"] for e in ends] == ["57P01"]  # ended by the drain
    pumped = [json.loads(x) for x in rest.splitlines() if '"pump_end"' in x]
    # relay = "native": the native pump moved the bytes (and was stopped by the drain)
    assert [e["reason"] for e in pumped] == (["stopped"] if pg_relay == "native" else [])
    assert events[-1] == "exit"
    assert token not in rest
    # The session was recorded as a signed log and indexed in the state store.
    listed = subprocess.run(
        _limen("sessions", "list", "--config", str(config), "--json"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(listed) == 1
    session = json.loads(listed[0])
    assert (session["subject"], session["resource"], session["protocol"]) == (
        "bot",
        "app",
        "postgres",
    )
    assert session["ended_at"] is not None
    assert session["statements"] >= 1
    verified = subprocess.run(
        _limen("sessions", "verify", "--config", str(config), session["id"]),
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    replay = subprocess.run(
        _limen("sessions", "replay", "--config", str(config), session["id"]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "SELECT email FROM users WHERE id = 1" in replay
    assert "[MASKED:email]" in replay
    assert "alice@example.com" not in replay  # results are recorded masked
    assert token not in replay
