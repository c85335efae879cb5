"""The AutoGen scenario end to end: examples/autogen/agent.py, scripted with
AutoGen's ReplayChatCompletionClient (offline, deterministic), runs a real
AssistantAgent whose run_sql tool gets a token from the dev IdP's token
endpoint by client credentials and queries the local PostgreSQL through a
real `limen serve` process. Asserts on what the agent saw at each step, on
the session that `limen sessions list/replay/verify` show, and that neither
the client secret nor a token shows up in the gateway's log or the replay.

The held DELETE (approved from a second task through `limen approvals`) is
its own test: it follows the approvals contract of issue 6."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from limen.cli import demo

pytest.importorskip(
    "autogen_agentchat", reason="needs the autogen extra: pip install limen[autogen]"
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "autogen" / "agent.py"
CLIENT_ID = "autogen-agent"
SECRET = secrets.token_urlsafe(32)
RULE = "agent-staging"
RAW_SECRETS = [v for u in demo.USERS for v in (u[2], u[3], u[4])] + ["AKIAIOSFODNN7EXAMPLE"]


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("limen_autogen_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


agent = load_example()


def _direct(dbname: str) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname=dbname, autocommit=True
    )


@pytest.fixture
def staging() -> Iterator[str]:
    """A fresh database holding the demo's users table."""
    try:
        _direct("postgres").close()
    except psycopg.Error:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    name = f"limen_agent_{secrets.token_hex(4)}"
    demo.prepare_database(name)
    try:
        yield name
    finally:
        with _direct("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_config(tmp_path: Path, database: str) -> Path:
    path = tmp_path / "limen.toml"
    path.write_text(
        f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
drain_timeout = "2s"
hold_timeout = "2m"
admin = "127.0.0.1:0"

[listeners]
postgres = "127.0.0.1:0"

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[identity.dev.clients]]
client_id = "{CLIENT_ID}"
secret_sha256 = "{hashlib.sha256(SECRET.encode()).hexdigest()}"
groups = ["agents"]
ttl = "5m"

[[resources]]
name = "staging"
protocol = "postgres"
upstream = "127.0.0.1:5432"
database = "{database}"
user = "postgres"

[[rules]]
name = "{RULE}"
groups = ["agents"]
resources = ["staging"]
allow = ["read"]
hold = ["write"]
deny = ["ddl", "admin"]
mask = ["builtin", "column:users.api_key"]
approvers = ["dba"]
""",
        encoding="utf-8",
    )
    return path


def limen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args], capture_output=True, text=True, check=False
    )


class Serve:
    """`limen serve` as a process; its JSON log lines are read by a thread."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "limen", "serve", "--config", str(config)],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.port = 0
        self.discovery = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.ready.wait(30):
            self.stop()
            raise AssertionError("limen serve did not start:\n" + "".join(self.lines))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "dev_idp":
                self.discovery = event["discovery"]
            elif event.get("event") == "listening":
                self.port = int(event["port"])
                self.ready.set()
        self.ready.set()

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        return "".join(self.lines)


@pytest.fixture
def gateway(tmp_path: Path, staging: str) -> Iterator[tuple[Serve, Path]]:
    config = write_config(tmp_path, staging)
    serve = Serve(config)
    try:
        yield serve, config
    finally:
        serve.stop()


def settings(serve: Serve, config: Path) -> Any:
    return agent.Settings(
        discovery_url=serve.discovery,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        host="127.0.0.1",
        port=serve.port,
        resource="staging",
        config=str(config),
    )


def run_scripted(serve: Serve, config: Path, script: Any) -> tuple[Any, list[str]]:
    said: list[str] = []
    run = asyncio.run(
        agent.run_agent(settings(serve, config), agent.scripted_model(script), say=said.append)
    )
    return run, said


def check_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert not any(raw in text for raw in RAW_SECRETS)
        # no JWT (header "eyJ...") anywhere: tokens stay out of logs and replays
        assert "eyJhbGciOi" not in text


def test_agent_reads_masked_data_is_refused_a_drop_and_its_session_replays(
    gateway: tuple[Serve, Path],
) -> None:
    serve, config = gateway
    run, said = run_scripted(serve, config, agent.SCRIPT[:3])
    assert run.subject == CLIENT_ID
    assert [s.sql for s in run.steps] == [sql for _, sql in agent.SCRIPT[:3]]
    tables, users, drop = (s.result for s in run.steps)
    # 1. the tables
    assert tables.splitlines() == ["table_name", "users", "(1 row)"]
    # 2. the users, as the agent saw them: names in clear, secrets masked
    assert "Alice Martin" in users
    for mask in (
        "[MASKED:email]",
        "[MASKED:card-number]",
        "[MASKED:column:users.api_key]",
        "[MASKED:aws-access-key-id]",
    ):
        assert mask in users
    assert users.splitlines()[-1] == "(3 rows)"
    check_no_secret(users)
    # 3. the DROP: limen's reason in PostgreSQL's own fields, the next step in the hint
    lines = drop.splitlines()
    assert lines[0].startswith("ERROR 42501: ")
    assert f"rule {RULE}" in lines[0]
    assert "class ddl" in lines[0]
    assert any(line.startswith("HINT: ") for line in lines)
    assert not any(s.is_error for s in run.steps)  # the tool answered; the database refused
    assert run.final.startswith("DONE")
    assert any(line.startswith("agent sees: ERROR 42501") for line in said)

    # The whole session, from the gateway's recording.
    session = agent.find_session(str(config), CLIENT_ID, run.started_at)
    assert (session["subject"], session["resource"], session["protocol"]) == (
        CLIENT_ID,
        "staging",
        "postgres",
    )
    assert session["statements"] == 3
    replay = agent.replay_session(str(config), session["id"])
    for _, sql in agent.SCRIPT[:3]:
        assert sql in replay
    assert "[MASKED:email]" in replay
    assert '"action":"deny"' in replay
    assert "42501" in replay
    verified = limen("sessions", "verify", "--config", str(config), session["id"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    log = serve.stop()
    check_no_secret(replay, log, "\n".join(said))
    assert "session_start" in log


def test_held_delete_waits_for_a_human_approving_from_the_cli(
    gateway: tuple[Serve, Path], staging: str
) -> None:
    serve, config = gateway
    done = threading.Event()
    seen: dict[str, Any] = {}

    def approver() -> None:
        """A second task: a human watching `limen approvals list`, approving."""
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            listed = limen("approvals", "list", "--config", str(config), "--json")
            pending = json.loads(listed.stdout) if listed.returncode == 0 else []
            mine = [p for p in pending if p.get("subject") == CLIENT_ID]
            if mine:
                seen["request"] = mine[0]
                rid = mine[0]["id"]
                seen["self"] = limen(
                    "approvals", "approve", "--config", str(config), rid, "--as", CLIENT_ID
                )
                seen["approve"] = limen(
                    "approvals",
                    "approve",
                    "--config",
                    str(config),
                    rid,
                    "--as",
                    "alice",
                    "--reason",
                    "test fixture cleanup",
                )
                return
            time.sleep(0.2)

    thread = threading.Thread(target=approver)
    thread.start()
    try:
        run, said = run_scripted(serve, config, agent.SCRIPT)
    finally:
        done.set()
        thread.join(70)
    drop, delete = run.steps[2].result, run.steps[3].result
    # The DROP: the hint says the class cannot be approved.
    assert "cannot be approved" in drop
    # The DELETE: held, then approved from the CLI, then run.
    request = seen["request"]
    assert request["statement"] == agent.SCRIPT[3][1]
    assert (request["class"], request["rule"], request["resource"], request["protocol"]) == (
        "write",
        RULE,
        "staging",
        "postgres",
    )
    assert request["session_id"]
    assert seen["self"].returncode != 0  # the requester cannot approve itself
    assert seen["approve"].returncode == 0, seen["approve"].stderr
    rid = request["id"]
    assert len(rid) == 12
    assert f"approval {rid}" in delete
    hints = [line for line in delete.splitlines() if line.startswith("HINT: ")]
    assert any("limen approvals approve" in h and rid in h and "--as" in h for h in hints)
    assert delete.splitlines()[0].startswith("NOTICE: ")
    assert delete.splitlines()[-1] == "OK: DELETE 1 (1 row affected)"
    assert any(line.startswith("limen: NOTICE") for line in said)  # shown while waiting
    with _direct(staging) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE id = 3").fetchone() == (0,)
    session = agent.find_session(str(config), CLIENT_ID, run.started_at)
    replay = agent.replay_session(str(config), session["id"])
    assert agent.SCRIPT[3][1] in replay
    assert "DELETE 1" in replay
    check_no_secret(replay, serve.stop())


def test_the_example_in_one_command_against_limen_demo(tmp_path: Path) -> None:
    """README: `limen demo` in one terminal, `python examples/autogen/agent.py`
    in another (same folder); the example finds the demo through
    .limen/agent.env. The first three steps (the DELETE depends on the demo's
    rule for writes)."""
    name = f"limen_agent_demo_{secrets.token_hex(4)}"
    try:
        _direct("postgres").close()
    except psycopg.Error:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    proc = subprocess.Popen(
        [sys.executable, "-m", "limen", "demo", "--database", name, "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        assert "examples/autogen/agent.py" in "".join(seen), "".join(seen)
        env_file = (tmp_path / ".limen" / "agent.env").read_text()
        assert "LIMEN_CLIENT_ID=demo-agent" in env_file
        assert "SECRET=" not in env_file  # only the secret's file
        secret_file = tmp_path / ".limen" / "agent.secret"
        assert secret_file.stat().st_mode & 0o077 == 0
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), "--steps", "3"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith("LIMEN_")},
        )
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        with _direct("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "agent: token for demo-agent" in out
    assert "[MASKED:email]" in out
    assert "agent sees: ERROR 42501: limen: denied by rule demo-ci: class ddl" in out
    assert "$ limen sessions replay" in out
    assert "DROP TABLE users" in out.split("$ limen sessions replay")[1]
    assert "Token count" not in done.stderr
    check_no_secret(out, done.stderr)
    assert secret_file.read_text().strip() not in out
