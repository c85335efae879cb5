"""SSH sessions as terminal recordings: a session served by ``limen
serve`` (signed log on disk) exports to asciicast v2 with ``limen sessions
export --format asciicast`` (the real CLI) and ``asciinema play`` plays it;
a tampered log is refused; an interactive shell with a pty, driven through
tmux (send-keys, capture-pane, resize-window), exports with its input and
resize events; ``limen sessions replay --play`` plays it here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

from ssh_support import Served, Sshd, serve_gateway, sshd

pytestmark = pytest.mark.integration
T = TypeVar("T")
__all__ = ["sshd"]


async def run(fn: Callable[..., T], *args: object) -> T:
    return await trio.to_thread.run_sync(fn, *args)


def limen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sessions(served: Served) -> list[dict[str, Any]]:
    done = limen("sessions", "list", "--config", str(served.config_path), "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def closed_session(served: Served) -> str:
    """The id of the one session, once its log is closed."""
    with trio.fail_after(30):
        while True:
            rows = await run(sessions, served)
            if rows and all(r["ended_at"] is not None for r in rows):
                assert len(rows) == 1
                return str(rows[0]["id"])
            await trio.sleep(0.1)


def parse_cast(text: str) -> tuple[dict[str, Any], list[list[Any]]]:
    lines = text.splitlines()
    header = json.loads(lines[0])
    events = [json.loads(line) for line in lines[1:]]
    for t, code, data in events:
        assert isinstance(t, float | int)
        assert code in ("o", "i", "r")
        assert isinstance(data, str)
    times = [e[0] for e in events]
    assert times == sorted(times)
    return header, events


def asciinema_play(cast: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["asciinema", "play", "-s", "50", "-i", "0.05", str(cast)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def served(nursery: trio.Nursery, tmp_path: Path, sshd: Sshd) -> Served:
    if not shutil.which("asciinema"):
        pytest.skip("needs asciinema")
    return await serve_gateway(nursery, tmp_path, sshd)


async def test_exec_session_exports_and_plays(served: Served, tmp_path: Path) -> None:
    gw = served.gw
    done = await run(
        gw.ssh, gw.token(), "printf 'line one\\nline two canary-s3cr3t-value\\n'", tmp_path
    )
    assert done.returncode == 0, done.stderr
    sid = await closed_session(served)
    out = await run(
        limen,
        "sessions",
        "export",
        "--config",
        str(served.config_path),
        sid,
        "--format",
        "asciicast",
    )
    assert out.returncode == 0, out.stderr
    header, events = parse_cast(out.stdout)
    assert header["version"] == 2
    assert (header["width"], header["height"]) == (80, 24)  # exec: no pty
    assert f"limen session {sid}: bot on box" == header["title"]
    shown = "".join(d for _, c, d in events if c == "o")
    assert "$ printf 'line one\\nline two canary-s3cr3t-value\\n'" not in shown  # masked
    assert "line one\r\nline two [MASKED:canary]\r\n" in shown
    assert "$ printf 'line one\\nline two [MASKED:canary]\\n'\r\n" in shown
    assert "canary-s3cr3t-value" not in out.stdout
    cast = tmp_path / "s.cast"
    cast.write_text(out.stdout)
    played = await run(asciinema_play, cast)
    assert played.returncode == 0, played.stderr
    assert b"line two [MASKED:canary]" in played.stdout
    replay = await run(
        limen,
        "sessions",
        "replay",
        "--config",
        str(served.config_path),
        sid,
        "--play",
        "--speed",
        "1000",
    )
    assert replay.returncode == 0, replay.stderr
    assert "line one\nline two [MASKED:canary]" in replay.stdout  # text mode: \r\n read as \n


async def test_tampered_log_is_not_exported(served: Served, tmp_path: Path) -> None:
    gw = served.gw
    done = await run(gw.ssh, gw.token(), "echo will-be-tampered", tmp_path)
    assert done.returncode == 0, done.stderr
    sid = await closed_session(served)
    logs = list((tmp_path / "recordings").rglob("*.limenrec")) or [
        p for p in (tmp_path / "recordings").rglob("*") if p.is_file()
    ]
    assert len(logs) == 1
    data = bytearray(logs[0].read_bytes())
    at = bytes(data).index(b"will-be-tampered")
    data[at] ^= 0x20
    logs[0].write_bytes(bytes(data))
    out = await run(
        limen,
        "sessions",
        "export",
        "--config",
        str(served.config_path),
        sid,
        "--format",
        "asciicast",
    )
    assert out.returncode == 1
    assert "TAMPERED" in out.stderr
    assert out.stdout == ""


class Tmux:
    """A tmux server of its own (socket name), status line off."""

    def __init__(self, folder: Path) -> None:
        self.name = f"limen-test-{os.getpid()}-{time.monotonic_ns()}"
        self.conf = folder / "tmux.conf"
        self.conf.write_text("set -g status off\nset -g history-limit 2000\n")
        self.env = {**os.environ, "TERM": "xterm-256color"}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.name, "-f", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=20,
            env=self.env,
            check=False,
        )

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "bot").stdout

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def wait_gone(self) -> None:
        deadline = time.monotonic() + 30
        while self("has-session", "-t", "bot").returncode == 0:
            if time.monotonic() > deadline:
                raise AssertionError("the tmux session did not end")
            time.sleep(0.1)


def drive_shell(served: Served, folder: Path) -> None:
    """An interactive ssh in tmux: type, resize, see the new size, exit."""
    gw = served.gw
    if not shutil.which("tmux"):
        pytest.skip("needs tmux")
    known = gw.known_hosts(folder)
    token_file = folder / "token"
    token_file.write_text(gw.token("human-ish", ("ops",)))
    tmux = Tmux(folder)
    ssh = (
        f"sshpass -f {token_file} ssh -p {gw.port} -o UserKnownHostsFile={known} "
        "-o StrictHostKeyChecking=yes -o PubkeyAuthentication=no "
        "-o PreferredAuthentications=password box@127.0.0.1"
    )
    started = tmux("new-session", "-d", "-s", "bot", "-x", "100", "-y", "30", ssh)
    assert started.returncode == 0, started.stderr
    try:
        tmux("send-keys", "-t", "bot", "PS1='rea''dy> '", "Enter")
        tmux.wait_for("ready>")  # capture-pane drops trailing spaces
        tmux("send-keys", "-t", "bot", "echo hi-from-$((6*7))", "Enter")
        tmux.wait_for("hi-from-42")
        tmux("resize-window", "-t", "bot", "-x", "120", "-y", "40")
        tmux("send-keys", "-t", "bot", "stty size", "Enter")
        tmux.wait_for("40 120")
        tmux("send-keys", "-t", "bot", "exit", "Enter")
        tmux.wait_gone()
    finally:
        tmux("kill-server")


async def test_interactive_shell_through_tmux_exports_input_and_resize(
    served: Served, tmp_path: Path
) -> None:
    await run(drive_shell, served, tmp_path)
    sid = await closed_session(served)
    out = await run(
        limen,
        "sessions",
        "export",
        "--config",
        str(served.config_path),
        sid,
        "--format",
        "asciicast",
    )
    assert out.returncode == 0, out.stderr
    header, events = parse_cast(out.stdout)
    assert (header["width"], header["height"]) == (100, 30)
    assert header["env"]["TERM"].startswith(("screen", "tmux"))
    typed = "".join(d for _, c, d in events if c == "i")
    assert "echo hi-from-$((6*7))" in typed
    assert "stty size" in typed
    shown = "".join(d for _, c, d in events if c == "o")
    assert "hi-from-42" in shown
    assert "40 120" in shown
    assert ["r", "120x40"] in [[c, d] for _, c, d in events]
    cast = tmp_path / "shell.cast"
    cast.write_text(out.stdout)
    played = await run(asciinema_play, cast)
    assert played.returncode == 0, played.stderr
    assert b"hi-from-42" in played.stdout
