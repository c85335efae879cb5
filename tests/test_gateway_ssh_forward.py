"""Port forwarding, agent forwarding and X11 through limen with the real
OpenSSH client (`ssh -L`, `-R`, `-A`, `-X`): refused unless a rule allows
them (``@forward-local HOST:PORT``, ``@forward-remote ADDR:PORT``,
``@agent``, ``@x11``); an allowed forward carries bytes end to end."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import trio

from limen.config import load_config_text
from limen.recording import EVENT
from ssh_support import Gateway, Sshd, config_text, free_port, sshd, start_gateway

pytestmark = pytest.mark.integration
T = TypeVar("T")
__all__ = ["sshd"]


async def run(fn: Callable[..., T], *args: object) -> T:
    return await trio.to_thread.run_sync(fn, *args)


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path, sshd: Sshd) -> Gateway:
    extra = f"""
[[rules]]
name = "tunnels"
groups = ["tunnel"]
resources = ["box"]
allow_commands = ["@forward-local 127.0.0.1:{sshd.port}", "@forward-remote 127.0.0.1:*",
                  "printenv *"]

[[rules]]
name = "agents"
groups = ["agents"]
resources = ["box"]
allow_commands = ["@agent", "@x11", "ssh-add *", "python3 *"]
"""
    config = load_config_text(config_text(sshd) + extra, base_dir=tmp_path)
    return await start_gateway(nursery, config)


def connect(port: int, proc: subprocess.Popen[bytes]) -> socket.socket:
    deadline = time.monotonic() + 20
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> bytes:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)  # sshpass and its ssh
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
    return err


def local_forward(gw: Gateway, token: str, folder: Path, target: int) -> tuple[bytes, bytes]:
    """ssh -N -L to ``target``: what a connection reads, and ssh's stderr."""
    local = free_port()
    proc = gw.ssh_process(token, folder, ["-N", "-L", f"{local}:127.0.0.1:{target}"])
    try:
        with connect(local, proc) as conn:
            try:
                got = conn.recv(100)
            except (TimeoutError, ConnectionResetError):
                got = b""
    finally:
        err = stop(proc)
    return got, err


async def test_local_forward_runs_where_a_rule_allows_it(
    gw: Gateway, tmp_path: Path, sshd: Sshd
) -> None:
    got, _ = await run(local_forward, gw, gw.token("t", ("tunnel",)), tmp_path, sshd.port)
    assert got.startswith(b"SSH-2.0-OpenSSH")  # the upstream sshd's banner, through the tunnel
    other = free_port()
    got, err = await run(local_forward, gw, gw.token("t", ("tunnel",)), tmp_path, other)
    assert got == b""
    assert b"administratively prohibited" in err  # not the destination the rule names
    got, err = await run(local_forward, gw, gw.token(), tmp_path, sshd.port)
    assert got == b""
    assert b"administratively prohibited" in err  # group ci: no forwarding rule


@contextlib.contextmanager
def serving(server: socket.socket, handle: Callable[[socket.socket], None]) -> Iterator[None]:
    """Accepts on ``server`` in a thread, ``handle(conn)`` per connection
    (5 s timeouts), until the block ends."""
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                handle(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)
        server.close()


@pytest.fixture
def echo() -> Iterator[int]:
    """A TCP echo server on the client's side (the -R target)."""
    server = socket.create_server(("127.0.0.1", 0))

    def echo_all(conn: socket.socket) -> None:
        while data := conn.recv(4096):
            conn.sendall(data)

    with serving(server, echo_all):
        yield server.getsockname()[1]


def remote_forward(gw: Gateway, token: str, folder: Path, target: int) -> tuple[bytes, bytes]:
    """ssh -N -R: what the upstream side's port echoes, and ssh's stderr."""
    remote = free_port()
    proc = gw.ssh_process(
        token,
        folder,
        ["-N", "-o", "ExitOnForwardFailure=yes", "-R", f"127.0.0.1:{remote}:127.0.0.1:{target}"],
    )
    try:
        try:
            conn = connect(remote, proc)
        except OSError:
            return b"", stop(proc)
        with conn:
            conn.settimeout(30)
            conn.sendall(b"ping through -R\n")
            try:
                got = conn.recv(100)
            except (TimeoutError, ConnectionResetError):
                got = b""
    finally:
        err = stop(proc)
    return got, err


async def test_remote_forward_runs_where_a_rule_allows_it(
    gw: Gateway, tmp_path: Path, echo: int
) -> None:
    got, err = await run(remote_forward, gw, gw.token("t", ("tunnel",)), tmp_path, echo)
    assert got == b"ping through -R\n", err
    got, err = await run(remote_forward, gw, gw.token(), tmp_path, echo)
    assert got == b""
    assert b"remote port forwarding failed" in err


async def test_agent_forwarding_and_x11_are_refused(
    gw: Gateway, tmp_path: Path, sshd: Sshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        while not sock.exists():
            await trio.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("DISPLAY", "127.0.0.1:0")
        # straight to sshd the agent is forwarded: the control
        known = tmp_path / "known_direct"
        known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key}\n")
        direct = await run(
            lambda: subprocess.run(
                [
                    *["ssh", "-F", "none", "-A", "-p", str(sshd.port), "-i", str(sshd.client_key)],
                    *["-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known}"],
                    *["-o", "BatchMode=yes", f"{sshd.user}@127.0.0.1", "printenv SSH_AUTH_SOCK"],
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
        )
        assert direct.returncode == 0, direct.stderr
        assert direct.stdout.strip()
        through = await run(
            lambda: gw.ssh(
                gw.token("t", ("tunnel",)), "printenv SSH_AUTH_SOCK", tmp_path, options=["-A"]
            )
        )
        assert through.returncode == 1  # printenv: not set
        assert through.stdout == b""
        x11 = await run(
            lambda: gw.ssh(
                gw.token("t", ("tunnel",)),
                "printenv DISPLAY",
                tmp_path,
                options=["-X"],
            )
        )
        assert b"X11 forwarding request failed" in x11.stderr
        assert x11.stdout == b""
    finally:
        agent.terminate()
        agent.wait(10)


async def test_agent_forwarding_runs_where_a_rule_allows_it(
    gw: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        while not sock.exists():
            await trio.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        key = tmp_path / "bot_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bot-key", "-f", str(key)],
            check=True,
        )
        subprocess.run(["ssh-add", "-q", str(key)], check=True, capture_output=True)
        fingerprint = subprocess.run(
            ["ssh-keygen", "-l", "-f", f"{key}.pub"], capture_output=True, check=True
        ).stdout.split()[1]
        listed = await run(
            lambda: gw.ssh(gw.token("a", ("agents",)), "ssh-add -l", tmp_path, options=["-A"])
        )
        assert listed.returncode == 0, listed.stderr
        assert fingerprint in listed.stdout  # the bot's agent, asked from the upstream host
        # without -A the upstream has no agent, though the rule would allow it
        bare = await run(lambda: gw.ssh(gw.token("a", ("agents",)), "ssh-add -l", tmp_path))
        assert bare.returncode == 2  # ssh-add: could not open a connection to the agent
    finally:
        agent.terminate()
        agent.wait(10)
    events = [json.loads(p) for r in gw.recorders for p in r.of(EVENT)]
    tunnels = [e for e in events if e.get("event") == "tunnel" and e["kind"] == "agent"]
    assert tunnels
    decisions = [
        e for e in events if e.get("event") == "decision" and e.get("request") == "forward"
    ]
    assert any(e["action"] == "allow" for e in decisions)


# Run upstream under sshd: an X11 client's connection setup (the fake
# cookie sshd stored with xauth), and what the X server answers.
X11_CLIENT = (
    "import os, socket, struct, subprocess; "
    "d = os.environ['DISPLAY']; "
    "cookie = bytes.fromhex(subprocess.run(['xauth', 'list', d], capture_output=True, "
    "text=True).stdout.split()[-1]); "
    "s = socket.create_connection(('127.0.0.1', 6000 + int(d.split(':')[1].split('.')[0]))); "
    "name = b'MIT-MAGIC-COOKIE-1'; "
    "s.sendall(struct.pack('<cxHHHHxx', b'l', 11, 0, len(name), len(cookie)) "
    "+ name + b'\\0\\0' + cookie); "
    "print(s.recv(100).decode())"
)


@pytest.fixture
def x_server() -> Iterator[tuple[int, list[bytes]]]:
    """A stand-in X server on the client's side (display number, what it read):
    it reads a connection setup and answers a line."""
    server, display = None, 0
    for display in range(60, 100):
        try:
            server = socket.create_server(("127.0.0.1", 6000 + display))
            break
        except OSError:
            continue
    assert server is not None
    got: list[bytes] = []

    def answer(conn: socket.socket) -> None:
        got.append(conn.recv(100))
        conn.sendall(b"stand-in X server here\n")

    with serving(server, answer):
        yield display, got


async def test_x11_runs_where_a_rule_allows_it(
    gw: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, x_server: tuple[int, list[bytes]]
) -> None:
    if not shutil.which("xauth"):
        pytest.skip("sshd forwards X11 only with xauth (apt-get install -y xauth)")
    display, got = x_server
    monkeypatch.setenv("DISPLAY", f"127.0.0.1:{display}")
    # -Y: no X server to make an untrusted cookie with; ssh fakes one
    answer = await run(
        lambda: gw.ssh(
            gw.token("x", ("agents",)), f'python3 -c "{X11_CLIENT}"', tmp_path, options=["-Y"]
        )
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == b"stand-in X server here"
    (setup,) = got
    assert setup.startswith(b"l\x00\x0b\x00")  # the X11 client's setup, through both hops
    events = [json.loads(p) for r in gw.recorders for p in r.of(EVENT)]
    assert [e for e in events if e.get("event") == "tunnel" and e["kind"] == "x11"]
