"""The AutoGen HTTP scenario end to end (issue 16's done-when):
examples/autogen/http_agent.py, scripted with AutoGen's
ReplayChatCompletionClient (offline, deterministic), runs a real
AssistantAgent whose call_api tool gets a token from the dev IdP by client
credentials and calls tests/http_app.py (under uvicorn) through the HTTP
listener of a real `limen serve` process with httpx.

The agent sees masked JSON, a problem+json 403 on the forbidden DELETE, and
its held POST waits until a second task approves it with the real CLI
(`limen approvals approve`); then `limen sessions replay` shows the
exchange (requests and responses) and `limen sessions verify` checks it.
Neither the client secret, a token, the upstream key nor the app's secrets
show up in the gateway's log or the replay."""

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
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from http_support import UPSTREAM_KEY, App, app

pytest.importorskip(
    "autogen_agentchat", reason="needs the autogen extra: pip install limen[autogen]"
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["app"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "autogen" / "http_agent.py"
CLIENT_ID = "autogen-http-agent"
SECRET = secrets.token_urlsafe(32)
RULE = "agent-helpdesk"
RESOURCE = "helpdesk"
APP_SECRETS = ["AKIAIOSFODNN7EXAMPLE", "alice@example.com", "4111 1111 1111 1111"]


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("limen_autogen_http_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


agent = load_example()


def write_config(tmp_path: Path, upstream_port: int) -> Path:
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
http = "127.0.0.1:0"

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[identity.dev.clients]]
client_id = "{CLIENT_ID}"
secret_sha256 = "{hashlib.sha256(SECRET.encode()).hexdigest()}"
groups = ["agents"]
ttl = "5m"

[[resources]]
name = "{RESOURCE}"
protocol = "http"
upstream = "http://127.0.0.1:{upstream_port}/base"
password_env = "LIMEN_TEST_API_KEY"

[[resources.http_routes]]
methods = ["DELETE"]
path = "/users/{{id}}"
class = "admin"

[[rules]]
name = "{RULE}"
groups = ["agents"]
resources = ["{RESOURCE}"]
allow = ["read"]
hold = ["write"]
deny = ["admin"]
mask = ["builtin"]
approvers = ["ops"]
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
            env={**os.environ, "PYTHONUNBUFFERED": "1", "LIMEN_TEST_API_KEY": UPSTREAM_KEY},
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.port = 0
        self.discovery = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.ready.wait(30) or not self.port:
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
            elif event.get("event") == "listening" and event.get("protocol") == "http":
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
def gateway(tmp_path: Path, app: App) -> Iterator[tuple[Serve, Path]]:
    app.reset()
    config = write_config(tmp_path, app.port)
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
        gateway=f"http://127.0.0.1:{serve.port}",
        resource=RESOURCE,
        config=str(config),
    )


def check_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert UPSTREAM_KEY not in text
        assert not any(raw in text for raw in APP_SECRETS)
        assert "eyJhbGciOi" not in text  # no JWT: tokens stay out of logs and replays


def approver(
    config: Path, upstream: int, decide: Callable[[str], Any], seen: dict[str, Any]
) -> threading.Thread:
    """A second task: a human watching `limen approvals list`, then deciding
    with ``decide(id)`` (the real CLI); what the upstream (the app on port
    ``upstream``) had received by then goes into ``seen`` too."""
    done = threading.Event()

    def run() -> None:
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            listed = limen("approvals", "list", "--config", str(config), "--json")
            pending = json.loads(listed.stdout) if listed.returncode == 0 else []
            mine = [p for p in pending if p.get("subject") == CLIENT_ID]
            if mine:
                seen["request"] = mine[0]
                seen["upstream_while_held"] = [r["method"] for r in App(upstream).seen()]
                seen["self"] = limen(
                    "approvals",
                    "approve",
                    "--config",
                    str(config),
                    mine[0]["id"],
                    "--as",
                    CLIENT_ID,
                )
                seen["decision"] = decide(mine[0]["id"])
                return
            time.sleep(0.2)

    thread = threading.Thread(target=run)
    thread.done = done  # type: ignore[attr-defined]
    thread.start()
    return thread


def run_with_approver(
    serve: Serve, config: Path, app: App, decide: Callable[[str], Any]
) -> tuple[Any, list[str], dict[str, Any]]:
    seen: dict[str, Any] = {}
    said: list[str] = []
    thread = approver(config, app.port, decide, seen)
    try:
        run = asyncio.run(
            agent.run_agent(settings(serve, config), agent.scripted_model(), say=said.append)
        )
    finally:
        thread.done.set()  # type: ignore[attr-defined]
        thread.join(70)
    return run, said, seen


def test_agent_gets_masked_json_a_403_and_waits_for_the_cli_approval_then_replays(
    gateway: tuple[Serve, Path], app: App
) -> None:
    serve, config = gateway

    def approve(rid: str) -> subprocess.CompletedProcess[str]:
        return limen(
            "approvals", "approve", "--config", str(config), rid, "--as", "alice",
            "--reason", "ticket ok",
        )  # fmt: skip

    run, said, seen = run_with_approver(serve, config, app, approve)
    assert run.subject == CLIENT_ID
    assert [s.request.split(" ")[:2] for s in run.steps] == [
        ["GET", "/echo"],
        ["DELETE", "/users/3"],
        ["POST", "/tickets"],
    ]
    read, delete, post = (s.result for s in run.steps)
    assert not any(s.is_error for s in run.steps)

    # 1. masked JSON: the names in clear, the secrets masked, still JSON
    lines = read.splitlines()
    assert lines[0] == "HTTP 200 OK"
    assert lines[1] == "content-type: application/json"
    doc = json.loads("\n".join(lines[2:]))
    assert doc["user"] == "alice"
    assert doc["email"] == "[MASKED:email]"
    assert doc["aws"] == "[MASKED:aws-access-key-id]"
    assert doc["card"] == "[MASKED:card-number]"

    # 2. the DELETE: a clear 403, a problem document naming rule and class
    lines = delete.splitlines()
    assert lines[0] == "HTTP 403 Forbidden"
    assert lines[1] == "content-type: application/problem+json"
    assert f"rule {RULE}, class admin" in lines[2]
    assert "cannot be approved" in lines[2]
    problem = json.loads("\n".join(lines[3:]))
    assert (problem["status"], problem["rule"], problem["class"]) == (403, RULE, "admin")
    assert (problem["action"], problem["approvable"]) == ("deny", False)

    # 3. the POST: held, approved from the CLI by a human, then answered
    request = seen["request"]
    assert request["statement"] == f"POST /r/{RESOURCE}/tickets"
    assert (request["class"], request["rule"], request["resource"], request["protocol"]) == (
        "write",
        RULE,
        RESOURCE,
        "http",
    )
    assert seen["upstream_while_held"] == ["GET"]  # the POST waited at limen
    assert seen["self"].returncode != 0  # the requester cannot approve itself
    assert seen["decision"].returncode == 0, seen["decision"].stderr
    lines = post.splitlines()
    assert lines[0] == "HTTP 200 OK", post
    echoed = json.loads("\n".join(lines[2:]))
    assert (echoed["method"], echoed["path"]) == ("POST", "/base/tickets")
    body = b'{"title": "rotate the staging API key"}'
    assert echoed["body_sha"] == hashlib.sha256(body).hexdigest()

    # The upstream got the read and the approved POST, with limen's
    # credential and not the bot's token; never the DELETE.
    got = app.seen()
    assert [(r["method"], r["path"]) for r in got] == [
        ("GET", "/base/echo"),
        ("POST", "/base/tickets"),
    ]
    for r in got:
        headers = r["headers"]
        assert isinstance(headers, dict)
        assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"

    # The whole exchange, from the gateway's signed recording.
    session = agent.find_session(str(config), CLIENT_ID, run.started_at)
    assert (session["resource"], session["protocol"]) == (RESOURCE, "http")
    replay = agent.replay_session(str(config), session["id"])
    for line in (
        f"GET /r/{RESOURCE}/echo HTTP/1.1",
        f"DELETE /r/{RESOURCE}/users/3 HTTP/1.1",
        f"POST /r/{RESOURCE}/tickets HTTP/1.1",
        "authorization: [redacted]",
        "set-cookie: [redacted]",
        "HTTP/1.1 200 OK",
        "HTTP/1.1 403 Forbidden",
        "content-type: application/problem+json",
        '"email": "[MASKED:email]"',
        '"action":"deny"',
        '"action":"hold"',
    ):
        assert line in replay, line
    assert replay.index("POST /r/") < replay.index('"action":"hold"')
    verified = limen("sessions", "verify", "--config", str(config), session["id"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    har = check_har(config, session["id"])
    log = serve.stop()
    check_no_secret(replay, log, "\n".join(said), har)


def check_har(config: Path, session_id: str) -> str:
    """`limen sessions export --format har`: one HAR 1.2 entry per exchange,
    masked bodies, no credential header in clear."""
    done = limen("sessions", "export", "--config", str(config), session_id, "--format", "har")
    assert done.returncode == 0, done.stderr
    har = json.loads(done.stdout)["log"]
    assert har["version"] == "1.2"
    assert har["creator"]["name"] == "limen"
    assert har["_limen"]["end"]["reason"] == "closed"
    assert har["_limen"]["resource"] == RESOURCE
    entries = har["entries"]
    assert [(e["request"]["method"], e["response"]["status"]) for e in entries] == [
        ("GET", 200),
        ("DELETE", 403),
        ("POST", 200),
    ]
    read, delete, post = entries
    assert read["request"]["url"].endswith(f"/r/{RESOURCE}/echo")
    body = json.loads(read["response"]["content"]["text"])
    assert body["email"] == "[MASKED:email]"
    assert read["response"]["content"]["mimeType"] == "application/json"
    assert read["_limen"]["response_masked"] is True
    assert delete["response"]["content"]["mimeType"] == "application/problem+json"
    assert json.loads(delete["response"]["content"]["text"])["rule"] == RULE
    decisions = [ev["record"] for ev in delete["_limen"]["events"]]
    assert [d["action"] for d in decisions if d.get("event") == "decision"] == ["deny"]
    assert post["request"]["postData"]["text"] == '{"title": "rotate the staging API key"}'
    kinds = [ev["record"].get("event") for ev in post["_limen"]["events"]]
    assert kinds == ["decision", "hold", "approval", "http_response"]
    approval = post["_limen"]["events"][2]["record"]
    assert (approval["status"], approval["by"]) == ("approved", "alice")
    assert post["request"]["bodySize"] == len(post["request"]["postData"]["text"])
    assert json.loads(post["response"]["content"]["text"])["method"] == "POST"
    for e in entries:
        assert e["startedDateTime"].endswith("Z")
        assert e["time"] >= 0
        for side in (e["request"], e["response"]):
            assert side["cookies"] == []
            for h in side["headers"]:
                if h["name"].lower() in ("authorization", "cookie", "set-cookie"):
                    assert h["value"] == "[redacted]"
        names = [h["name"].lower() for h in e["request"]["headers"]]
        assert "authorization" in names
    assert any(h["name"].lower() == "set-cookie" for h in read["response"]["headers"])
    return done.stdout


def test_a_held_call_denied_from_the_cli_is_a_403_naming_the_approval(
    gateway: tuple[Serve, Path], app: App
) -> None:
    serve, config = gateway

    def deny(rid: str) -> subprocess.CompletedProcess[str]:
        return limen(
            "approvals", "deny", "--config", str(config), rid, "--as", "alice",
            "--reason", "not this week",
        )  # fmt: skip

    run, _said, seen = run_with_approver(serve, config, app, deny)
    assert seen["decision"].returncode == 0, seen["decision"].stderr
    rid = seen["request"]["id"]
    lines = run.steps[2].result.splitlines()
    assert lines[0] == "HTTP 403 Forbidden"
    assert f"approval {rid}" in lines[2]
    problem = json.loads("\n".join(lines[3:]))
    assert problem["approval"] == rid
    assert "not this week" in problem["detail"] + problem.get("hint", "")
    assert [r["method"] for r in app.seen()] == ["GET"]  # the POST never went upstream
    check_no_secret(serve.stop())
