"""The SSH gateway against a real OpenSSH server (started by the tests)
with the OpenSSH client (through sshpass, the token as the password) and
paramiko: an allowed exec runs, a denied one and a compound command that
hides one are refused with a clear stderr and a non-zero status, a held
command waits until approved, a secret printed upstream is masked for the
client and the recording, a wrong token and a changed upstream host key are
refused."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import paramiko
import pytest
import trio

from limen.approvals import ApprovalHub
from limen.cli.serve import serve
from limen.config import load_config_text
from limen.gateway import JsonLog
from limen.identity import DevIdP
from limen.recording import C2U, EVENT, U2C
from limen.store import open_store
from ssh_support import (
    Gateway,
    Sshd,
    config_text,
    free_port,
    gateway_config,
    keygen,
    paramiko_session,
    sshd,
    start_gateway,
)

pytestmark = pytest.mark.integration
T = TypeVar("T")
__all__ = ["sshd"]


async def run(fn: Callable[..., T], *args: object) -> T:
    return await trio.to_thread.run_sync(fn, *args)


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path, sshd: Sshd) -> Gateway:
    return await start_gateway(nursery, gateway_config(tmp_path, sshd))


def events(gw: Gateway) -> list[dict[str, object]]:
    return [msgspec.json.decode(p) for r in gw.recorders for p in r.of(EVENT)]


async def test_allowed_exec_runs_upstream(gw: Gateway, tmp_path: Path, sshd: Sshd) -> None:
    done = await run(gw.ssh, gw.token(), "echo hello from $HOME", tmp_path)
    assert done.returncode != 0  # $HOME: limen cannot judge a variable
    done = await run(gw.ssh, gw.token(), "echo hello; printf 'two words'", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"hello\ntwo words"
    decisions = [e for e in events(gw) if e["event"] == "decision"]
    assert [d["action"] for d in decisions] == ["deny", "allow"]


async def test_exit_status_and_stdin_pass(gw: Gateway, tmp_path: Path) -> None:
    done = await run(gw.ssh, gw.token(), "false", tmp_path)
    assert done.returncode == 1
    assert done.stderr == b""
    done = await run(gw.ssh, gw.token(), "cat", tmp_path, b"piped input\n")
    assert done.returncode == 0
    assert done.stdout == b"piped input\n"
    recorded = b"".join(p for r in gw.recorders for p in r.of(C2U))
    assert b"piped input" in recorded


async def test_denied_and_uncovered_commands(gw: Gateway, tmp_path: Path, sshd: Sshd) -> None:
    victim = sshd.folder / "victim"
    victim.write_text("keep me")
    done = await run(gw.ssh, gw.token(), f"rm -f {victim}", tmp_path)
    assert done.returncode == 1
    assert b"limen: denied by rule ci-box" in done.stderr
    assert victim.exists()
    done = await run(gw.ssh, gw.token(), "id", tmp_path)
    assert done.returncode == 1
    assert b"no rule allows id" in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        "git status; rm -rf {v}",
        "echo ok && rm -rf {v}",
        "echo ok || rm -rf {v}",
        "echo ok | rm -rf {v}",
        "echo ok\nrm -rf {v}",
        "echo $(rm -rf {v})",
        "echo `rm -rf {v}`",
        "echo ok > {v}",
    ],
)
async def test_compound_commands_are_judged_whole(
    gw: Gateway, tmp_path: Path, sshd: Sshd, command: str
) -> None:
    victim = sshd.folder / "victim2"
    victim.write_text("keep me")
    done = await run(gw.ssh, gw.token(), command.format(v=victim), tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(b"limen: ")
    assert done.stdout == b""
    assert victim.read_text() == "keep me"


async def test_secret_output_is_masked(gw: Gateway, tmp_path: Path) -> None:
    cmd = "printf 'token canary-s3cr3t-value and AKIAIOSFODNN7EXAMPLE end'"
    done = await run(gw.ssh, gw.token(), cmd, tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"canary-s3cr3t-value" not in done.stdout
    assert b"AKIAIOSFODNN7EXAMPLE" not in done.stdout
    assert b"[MASKED:canary]" in done.stdout
    assert done.stdout.endswith(b" end")
    out = b"".join(p for r in gw.recorders for p in r.of(U2C))
    assert b"[MASKED:canary]" in out
    assert b"canary-s3cr3t-value" not in out
    everything = b"".join(p for r in gw.recorders for _, p in r.records)
    assert b"AKIAIOSFODNN7EXAMPLE" not in everything


async def test_secrets_in_command_lines_stay_out_of_the_recording(
    gw: Gateway, tmp_path: Path
) -> None:
    secrets_ = ["mysqlpw-7f3a", "bearer-9c1d", "envtok-2b8e", "urlpw-5e6f"]
    commands = [
        f"mysql -u root -p{secrets_[0]} -e 'select 1'",
        f"curl -H 'Authorization: Bearer {secrets_[1]}' https://api.example",
        f"env API_TOKEN={secrets_[2]} ./deploy.sh",
        f"psql postgresql://app:{secrets_[3]}@db/app",
    ]
    for command in commands:
        done = await run(gw.ssh, gw.token(), command, tmp_path)
        assert done.returncode != 0  # not allowed here: judged and recorded all the same
    recorded = b"".join(p for r in gw.recorders for p in r.of(C2U))
    assert recorded.count(b"[MASKED:shell-secret]") >= 3
    assert b"mysql -u root -p[MASKED:shell-secret] -e 'select 1'" in recorded
    everything = b"".join(p for r in gw.recorders for _, p in r.records)
    for secret in secrets_:
        assert secret.encode() not in everything, secret


async def test_paramiko_client(gw: Gateway) -> None:
    status, out, err = await run(gw.paramiko_exec, gw.token(), "echo via paramiko")
    assert (status, out, err) == (0, b"via paramiko\n", b"")
    status, out, err = await run(gw.paramiko_exec, gw.token(), "git status; rm -rf /")
    assert status == 1
    assert out == b""
    assert b"denied" in err


async def test_wrong_token_is_refused(gw: Gateway, tmp_path: Path) -> None:
    done = await run(gw.ssh, "not-a-token", "echo hi", tmp_path)
    assert done.returncode != 0
    assert done.stdout == b""
    other = await run(gw.ssh, gw.token(), "echo hi", tmp_path, b"", "nosuchresource")
    assert other.returncode != 0
    assert other.stdout == b""
    assert gw.recorders == []


async def test_changed_upstream_host_key_is_refused(
    nursery: trio.Nursery, tmp_path: Path, sshd: Sshd
) -> None:
    other = keygen(tmp_path / "other").split()
    gw = await start_gateway(
        nursery, gateway_config(tmp_path, sshd, host_key=f"{other[0]} {other[1]}")
    )
    done = await run(gw.ssh, gw.token(), "echo hi", tmp_path)
    assert done.returncode == 255
    assert b"not the pinned one" in done.stderr
    assert done.stdout == b""


async def test_held_exec_runs_once_approved(
    nursery: trio.Nursery, tmp_path: Path, sshd: Sshd
) -> None:
    config = gateway_config(tmp_path, sshd)
    store = open_store(config.gateway.state, tmp_path)
    hub = ApprovalHub(store, poll_interval=0.05)
    await nursery.start(hub.run)
    gw = await start_gateway(nursery, config, approvals=hub)
    made = sshd.folder / "made-by-held"
    made.unlink(missing_ok=True)
    result: list[Any] = []

    async def client() -> None:
        result.append(await run(gw.ssh, gw.token(), f"touch {made}", tmp_path))

    nursery.start_soon(client)
    with trio.fail_after(20):
        while not (reqs := await run(store.approvals)):
            await trio.sleep(0.05)
    req = reqs[0]
    assert not made.exists()
    assert req.protocol == "ssh"
    assert req.klass == "ssh:touch *"
    await run(lambda: store.approval_vote(req.id, approver="sam", approve=True, now=time.time()))
    with trio.fail_after(20):
        while not result:
            await trio.sleep(0.05)
    done = result[0]
    assert done.returncode == 0, done.stderr
    assert f"held for approval {req.id}".encode() in done.stderr
    assert made.exists()


async def test_limen_serve_runs_the_ssh_listener(
    nursery: trio.Nursery, tmp_path: Path, sshd: Sshd
) -> None:
    text = config_text(sshd).replace(
        'ssh = "127.0.0.1:0"', 'ssh = "127.0.0.1:0"\npostgres = "127.0.0.1:0"'
    )
    text = text.replace(
        "[identity.dev]\nenabled = true",
        f'[identity.dev]\nenabled = true\nlisten = "127.0.0.1:{free_port()}"',
    )
    text = text.replace(
        'recordings = "recordings"', 'recordings = "recordings"\nadmin = "127.0.0.1:0"'
    )
    config = load_config_text(text, base_dir=tmp_path)
    (tmp_path / "recordings").mkdir()
    serving = await nursery.start(serve, config, JsonLog())
    assert serving.ssh_port is not None
    idp = DevIdP.from_config(config)
    gw = Gateway(config, serving.gateway, idp, serving.ssh_port)
    done = await run(gw.ssh, idp.mint("bot", ("ci",), 600), "echo served", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"served\n"
    denied = await run(gw.ssh, idp.mint("bot", ("ci",), 600), "rm -rf /", tmp_path)
    assert denied.returncode == 1
    nursery.cancel_scope.cancel()


def _forwarding_and_shell(port: int, token: str, upstream_port: int) -> list[str]:
    """What a paramiko client gets for a local forward, a remote forward,
    agent forwarding, X11 and a shell no rule allows."""
    got: list[str] = []
    transport = paramiko_session(port, token)
    try:
        try:
            transport.open_channel("direct-tcpip", ("127.0.0.1", upstream_port), ("127.0.0.1", 0))
            got.append("direct-tcpip opened")
        except paramiko.ChannelException as exc:
            got.append(f"direct-tcpip refused {exc.code}")
        try:
            transport.request_port_forward("127.0.0.1", 0)
            got.append("remote forward opened")
        except paramiko.SSHException:
            got.append("remote forward refused")
        chan = transport.open_session()
        try:
            chan.request_x11()
            got.append("x11 accepted")
        except paramiko.SSHException:
            got.append("x11 refused")
        chan = transport.open_session()
        chan.get_pty()
        chan.invoke_shell()
        chan.settimeout(10)
        err = chan.makefile_stderr("rb").read()
        got.append(f"shell {chan.recv_exit_status()} {err.decode().strip()}")
    finally:
        transport.close()
    return got


async def test_forwarding_x11_and_shell_are_refused(gw: Gateway, sshd: Sshd) -> None:
    got = await run(_forwarding_and_shell, gw.port, gw.token(), sshd.port)
    assert got[:3] == [
        f"direct-tcpip refused {paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED}",
        "remote forward refused",
        "x11 refused",
    ]
    assert got[3].startswith("shell 1 limen: denied: no rule allows @shell")


def _local_forward(gw: Gateway, token: str, folder: Path, target: int) -> tuple[bytes, bytes]:
    """ssh -N -L: what a connection to the forwarded port reads (the
    upstream sshd's banner if the forward worked), and ssh's stderr."""
    local = free_port()
    proc = gw.ssh_process(token, folder, ["-N", "-L", f"{local}:127.0.0.1:{target}"])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", local), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        with conn:
            conn.settimeout(5)
            try:
                got = conn.recv(100)
            except (TimeoutError, ConnectionResetError):
                got = b""
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # sshpass and its ssh
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=10)
    return got, err


async def test_openssh_local_forward_is_refused(gw: Gateway, tmp_path: Path, sshd: Sshd) -> None:
    got, err = await run(_local_forward, gw, gw.token(), tmp_path, sshd.port)
    assert not got.startswith(b"SSH-")
    assert b"administratively prohibited" in err


async def test_held_exec_denied_exits_non_zero(
    nursery: trio.Nursery, tmp_path: Path, sshd: Sshd
) -> None:
    config = gateway_config(tmp_path, sshd)
    store = open_store(config.gateway.state, tmp_path)
    hub = ApprovalHub(store, poll_interval=0.05)
    await nursery.start(hub.run)
    gw = await start_gateway(nursery, config, approvals=hub)
    made = sshd.folder / "never-made"
    made.unlink(missing_ok=True)
    result: list[Any] = []

    async def client() -> None:
        result.append(await run(gw.ssh, gw.token(), f"touch {made}", tmp_path))

    nursery.start_soon(client)
    with trio.fail_after(20):
        while not (reqs := await run(store.approvals)):
            await trio.sleep(0.05)
    req = reqs[0]
    await run(
        lambda: store.approval_vote(
            req.id, approver="sam", approve=False, now=time.time(), reason="not today"
        )
    )
    with trio.fail_after(20):
        while not result:
            await trio.sleep(0.05)
    done = result[0]
    assert done.returncode == 1
    assert b"denied by sam: not today" in done.stderr
    assert not made.exists()
    kinds = [e["event"] for e in events(gw)]
    assert "hold" in kinds
    assert "approval" in kinds


async def test_keyboard_interactive_with_openssh(gw: Gateway, tmp_path: Path) -> None:
    """sshpass answers the Token: prompt of keyboard-interactive."""
    done = await run(
        lambda: gw.ssh(
            gw.token(),
            "echo kbd",
            tmp_path,
            b"",
            "box",
            ["-o", "PreferredAuthentications=keyboard-interactive"],
            "Token:",
        )
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"kbd\n"


async def test_malformed_and_silent_clients_end_only_their_own_session(
    gw: Gateway, tmp_path: Path
) -> None:
    """Garbage instead of an SSH banner closes that connection; a client
    that says nothing holds only its own; others keep working meanwhile."""
    garbage = await trio.open_tcp_stream("127.0.0.1", gw.port)
    await garbage.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\xff" * 5000)
    silent = await trio.open_tcp_stream("127.0.0.1", gw.port)
    banner = await silent.receive_some(100)
    assert banner.startswith(b"SSH-2.0-")
    done = await run(gw.ssh, gw.token(), "echo still fine", tmp_path)
    assert done.stdout == b"still fine\n"
    with trio.fail_after(15):
        got = b""
        while chunk := await garbage.receive_some(4096):
            got += chunk
    assert b"still fine" not in got  # the connection ended: nothing but a banner
    await silent.aclose()
    await garbage.aclose()


async def test_stderr_and_exit_status_of_the_upstream_command(gw: Gateway, tmp_path: Path) -> None:
    done = await run(gw.ssh, gw.token(), "echo first; ls /nonexistent-limen-path", tmp_path)
    assert done.stdout == b"first\n"
    assert b"nonexistent-limen-path" in done.stderr
    assert not done.stderr.startswith(b"limen:")
    assert done.returncode == 2  # ls's own status
