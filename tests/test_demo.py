"""`limen demo` as a real process against the local PostgreSQL: the
walkthrough's steps, and the long-running demo a client connects to."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gateway_pg_support import _direct, postgres_available
from limen.cli.demo import Steps, bot_script
from limen.identity import DevIdP
from limen.identity.devidp import DevKeyStore

pytestmark = pytest.mark.integration

RAW = [
    "alice@example.com",
    "bob.smith@example.org",
    "4111 1111 1111 1111",
    "5500 0000 0000 0004",
    "ak_demo_7f3a91c2",
    "AKIAIOSFODNN7EXAMPLE",
]


@pytest.fixture
def demo_db() -> Iterator[str]:
    """A database name of our own (the demo creates it); dropped afterwards."""
    if not postgres_available():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    name = f"limen_demo_test_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        with _direct() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _limen(*args: str) -> list[str]:
    return [sys.executable, "-m", "limen", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_walkthrough_drives_every_step(tmp_path: Path, demo_db: str) -> None:
    p = subprocess.run(
        _limen("demo", "--walkthrough", "--database", demo_db, "--port", "0"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    out = p.stdout
    assert p.returncode == 0, out + p.stderr
    assert "every step behaved as expected" in out
    assert "UNEXPECTED" not in out
    for masked in (
        "[MASKED:email]",
        "[MASKED:card-number]",
        "[MASKED:column:users.api_key]",
        "[MASKED:aws-access-key-id]",
    ):
        assert masked in out
    for raw in RAW:
        assert raw not in out
    assert "Alice Martin" in out  # names are not secrets
    assert "42501" in out
    assert "demo-ci" in out
    assert "28P01" in out
    replay = out.split("replay the bot's own session", 1)[1]
    assert "SELECT id, name, email, card, api_key, note FROM users" in replay
    assert "[MASKED:email]" in replay
    assert "alice@example.com" not in replay
    # The embedded config landed in the working directory, with the recordings.
    assert (tmp_path / ".limen" / "limen.toml").is_file()
    assert any((tmp_path / ".limen" / "recordings").iterdir())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_demo_serves_until_stopped(tmp_path: Path, demo_db: str, signum: signal.Signals) -> None:
    proc = subprocess.Popen(
        _limen("demo", "--database", demo_db),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        text = "".join(seen)
        assert "connect with" in text, text
        token = re.search(r"export LIMEN_TOKEN='([^']+)'", text)
        port = re.search(r"psql \"host=127\.0\.0\.1 port=(\d+) dbname=demo user=demo-bot", text)
        assert token is not None, text
        assert port is not None, text
        assert "limen sessions list --config .limen/limen.toml" in text
        with psycopg.connect(
            host="127.0.0.1",
            port=int(port.group(1)),
            dbname="demo",
            user="demo-bot",
            password=token.group(1),
            sslmode="disable",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            row = conn.execute("SELECT email, card, api_key FROM users WHERE id = 1").fetchone()
        proc.send_signal(signum)
        rc = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert row == ("[MASKED:email]", "[MASKED:card-number]", "[MASKED:column:users.api_key]")
    assert rc == 0
    # The other commands work on the config it wrote.
    listed = subprocess.run(
        _limen("sessions", "list", "--config", ".limen/limen.toml"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "demo-bot" in listed.stdout


def test_demo_without_postgres_says_how_to_start_it(tmp_path: Path) -> None:
    """Point the demo at a port where nothing listens: a clear message, exit 1."""
    p = subprocess.run(
        _limen("demo", "--database", "limen_demo_unused", "--pg-port", "1"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert p.returncode == 1
    assert "PostgreSQL is not reachable" in p.stderr
    assert "start" in p.stderr
    assert not (tmp_path / ".limen").exists()


def test_a_step_that_goes_wrong_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bot against a port where no gateway listens: step 2 fails, by name."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        idp = DevIdP(
            issuer="http://127.0.0.1:0",
            audience="limen",
            store=DevKeyStore(tmp_path / "keys.json"),
        )
        steps = Steps()
        bot_script(steps, idp, port)
    out = capsys.readouterr().out
    assert len(steps.failed) == 1
    assert steps.failed[0].startswith("step 2 ")
    assert "UNEXPECTED: expected the connection to be accepted" in out
