"""`limen serve` as a real process with `[listeners] http`: the HTTP
listener is opened beside the PostgreSQL one, a curl request with a token
from `limen token` goes through to the app under uvicorn with the
resource's credential, SIGTERM drains and exits 0, and the session's signed
log lists, verifies and replays without the token or the secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from http_support import UPSTREAM_KEY, App, app

pytestmark = pytest.mark.integration
__all__ = ["app"]


def _limen(*args: str) -> list[str]:
    return [sys.executable, "-m", "limen", *args]


CONFIG = """
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
admin = "127.0.0.1:0"
drain_timeout = "2s"

[listeners]
postgres = "127.0.0.1:0"
http = "127.0.0.1:0"

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[resources]]
name = "api"
protocol = "http"
upstream = "http://127.0.0.1:{port}/base"
password_env = "LIMEN_TEST_API_KEY"

[[rules]]
name = "ci-api"
groups = ["ci"]
resources = ["api"]
allow = ["read"]
mask = ["builtin"]
"""


async def test_limen_serve_opens_the_http_listener(tmp_path: Path, app: App) -> None:
    app.reset()
    config = tmp_path / "limen.toml"
    config.write_text(CONFIG.format(port=app.port))
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
        env={**os.environ, "PYTHONUNBUFFERED": "1", "LIMEN_TEST_API_KEY": UPSTREAM_KEY},
    )
    try:
        assert proc.stderr is not None
        port = None
        while port is None:
            line = await trio.to_thread.run_sync(proc.stderr.readline)
            assert line, "limen serve exited early"
            event = json.loads(line)
            if event["event"] == "listening" and event["protocol"] == "http":
                port = event["port"]
        result = await trio.run_process(
            [
                "curl",
                "-sS",
                "--max-time",
                "20",
                "-H",
                f"Authorization: Bearer {token}",
                f"http://127.0.0.1:{port}/r/api/echo",
            ],
            capture_stdout=True,
        )
        body = json.loads(result.stdout)
        assert body["user"] == "alice"
        assert "AKIA" not in result.stdout.decode()
        (seen,) = app.seen()
        headers = seen["headers"]
        assert isinstance(headers, dict)
        assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        proc.send_signal(signal.SIGTERM)
        rc = await trio.to_thread.run_sync(proc.wait, 30)
        rest = await trio.to_thread.run_sync(proc.stderr.read)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0
    events = [json.loads(line)["event"] for line in rest.splitlines() if line.startswith("{")]
    assert "session_end" in events
    assert token not in rest
    # The session's signed log: listed, verified, and replayed without the
    # token, the credential or the secrets of the answer.
    listed = subprocess.run(
        _limen("sessions", "list", "--config", str(config), "--json"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    session = json.loads(listed[0])
    assert (session["resource"], session["protocol"]) == ("api", "http")
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
    assert "GET /r/api/echo HTTP/1.1" in replay
    assert "authorization: [redacted]" in replay
    assert '"user": "alice"' in replay
    assert token not in replay
    assert UPSTREAM_KEY not in replay
    assert "AKIAIOSFODNN7EXAMPLE" not in replay
