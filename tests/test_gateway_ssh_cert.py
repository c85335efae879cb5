"""SSH user certificates end to end: ``limen ssh cert`` (the real CLI)
trades a dev-IdP token and a bot's public key for a certificate through the
admin API; plain OpenSSH logs in with it and runs an allowed command, is
refused a denied one; a bare key, another CA's certificate, an expired one
and a certificate presented without its private key are refused."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import paramiko
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from limen.admin import AdminAPI
from limen.approvals import ApprovalHub
from limen.identity import Identity
from limen.identity.sshca import SshCa
from limen.store import open_store
from ssh_support import Gateway, Sshd, gateway_config, keygen, sshd, start_gateway

pytestmark = pytest.mark.integration
T = TypeVar("T")
__all__ = ["sshd"]


async def run(fn: Callable[..., T], *args: object) -> T:
    return await trio.to_thread.run_sync(fn, *args)


def limen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path, sshd: Sshd) -> Gateway:
    return await start_gateway(nursery, gateway_config(tmp_path, sshd))


async def admin_url(nursery: trio.Nursery, gw: Gateway, tmp_path: Path) -> str:
    store = open_store(gw.config.gateway.state, tmp_path)
    hub = ApprovalHub(store, poll_interval=0.05)
    await nursery.start(hub.run)
    assert gw.auth is not None
    api = AdminAPI(hub, gw.auth, ssh_ca=gw.gateway.ca, max_cert_lifetime=3600)
    listeners = await nursery.start(api.serve, "127.0.0.1", 0)
    return f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"


async def test_openssh_with_a_limen_certificate(
    nursery: trio.Nursery, gw: Gateway, tmp_path: Path, sshd: Sshd
) -> None:
    url = await admin_url(nursery, gw, tmp_path)
    keygen(tmp_path / "bot")
    token = gw.token("cert-bot", ("ci",))
    done = await run(
        lambda: limen(
            "ssh",
            "cert",
            "--url",
            url,
            "--key",
            str(tmp_path / "bot.pub"),
            env={"LIMEN_TOKEN": token},
        )
    )
    assert done.returncode == 0, done.stderr
    cert = tmp_path / "bot-cert.pub"
    assert cert.read_text().startswith("ssh-ed25519-cert-v01@openssh.com ")
    assert "limen:cert-bot:serial=" in done.stdout
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(cert)], capture_output=True, text=True, check=True
    ).stdout
    assert "Type: ssh-ed25519-cert-v01@openssh.com user certificate" in shown
    assert "cert-bot" in shown.split("Principals:")[1]

    ok = await run(gw.ssh_cert, tmp_path / "bot", cert, "echo via certificate", tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == b"via certificate\n"
    denied = await run(gw.ssh_cert, tmp_path / "bot", cert, "rm -rf /tmp/x", tmp_path)
    assert denied.returncode == 1
    assert b"limen: denied by rule ci-box" in denied.stderr
    assert gw.recorders[0].info.subject == "cert-bot"

    # the key alone (OpenSSH loads KEY-cert.pub by itself: a copy without it)
    (tmp_path / "bare").mkdir()
    plain = tmp_path / "bare" / "bot"
    plain.write_bytes((tmp_path / "bot").read_bytes())
    plain.chmod(0o600)
    bare = await run(gw.ssh_cert, plain, None, "echo no cert", tmp_path)
    assert bare.returncode == 255
    assert b"Permission denied" in bare.stderr
    assert bare.stdout == b""


async def test_the_cli_refuses_a_bad_token(
    nursery: trio.Nursery, gw: Gateway, tmp_path: Path
) -> None:
    url = await admin_url(nursery, gw, tmp_path)
    keygen(tmp_path / "bot")
    (tmp_path / "tok").write_text("not-a-token\n")
    done = await run(
        lambda: limen(
            "ssh",
            "cert",
            "--url",
            url,
            "--key",
            str(tmp_path / "bot.pub"),
            "--token-file",
            str(tmp_path / "tok"),
            "-o",
            str(tmp_path / "c"),
        )
    )
    assert done.returncode == 1
    assert "401" in done.stderr
    assert not (tmp_path / "c").exists()


def _cert_for(ca: SshCa, key_pub: Path, out: Path, *, now: float, exp: int) -> Path:
    ident = Identity(
        subject="cert-bot",
        groups=("ci",),
        issuer="x",
        expires_at=exp,
        token_id=None,
        method="dev",
    )
    out.write_text(ca.issue(ident, key_pub.read_text(), now=now, max_lifetime=3600).line)
    return out


async def test_other_ca_and_expired_certificates_are_refused(gw: Gateway, tmp_path: Path) -> None:
    keygen(tmp_path / "bot")
    now = time.time()
    other = SshCa(Ed25519PrivateKey.generate())
    foreign = _cert_for(
        other, tmp_path / "bot.pub", tmp_path / "f-cert.pub", now=now, exp=int(now) + 600
    )
    done = await run(gw.ssh_cert, tmp_path / "bot", foreign, "echo hi", tmp_path)
    assert done.returncode == 255
    assert b"Permission denied" in done.stderr
    old = _cert_for(
        gw.gateway.ca,
        tmp_path / "bot.pub",
        tmp_path / "o-cert.pub",
        now=now - 7200,
        exp=int(now) - 3600,
    )
    done = await run(gw.ssh_cert, tmp_path / "bot", old, "echo hi", tmp_path)
    assert done.returncode == 255
    assert b"Permission denied" in done.stderr
    assert gw.recorders == []


def _stolen_certificate(port: int, cert_line: str, thief_key: Path) -> str:
    """paramiko presenting another key's certificate with its own key: the
    signature cannot match the certified key."""
    thief = paramiko.Ed25519Key.from_private_key_file(str(thief_key))
    kind, b64 = cert_line.split()[:2]
    thief.public_blob = paramiko.PublicBlob(kind, base64.b64decode(b64))
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        try:
            transport.auth_publickey("box", thief)
        except paramiko.AuthenticationException:
            return "refused"
        return "accepted" if transport.is_authenticated() else "refused"
    finally:
        transport.close()


async def test_a_certificate_without_its_private_key_is_refused(
    gw: Gateway, tmp_path: Path
) -> None:
    keygen(tmp_path / "bot")
    now = time.time()
    cert = _cert_for(
        gw.gateway.ca, tmp_path / "bot.pub", tmp_path / "bot-cert.pub", now=now, exp=int(now) + 600
    )
    keygen(tmp_path / "thief")
    got = await run(_stolen_certificate, gw.port, cert.read_text(), tmp_path / "thief")
    assert got == "refused"
    assert gw.recorders == []
    # the same certificate with its key works (the refusal was the signature)
    done = await run(gw.ssh_cert, tmp_path / "bot", cert, "true", tmp_path)
    assert done.returncode == 0, done.stderr


async def test_ssh_config_stanza_connects(gw: Gateway, tmp_path: Path, sshd: Sshd) -> None:
    """`limen ssh config` prints a Host stanza and known_hosts line that
    plain `ssh -F FILE RESOURCE@limen` uses as they are."""
    from ssh_support import config_text

    (tmp_path / "limen.toml").write_text(config_text(sshd))
    keygen(tmp_path / "bot")
    now = time.time()
    _cert_for(
        gw.gateway.ca, tmp_path / "bot.pub", tmp_path / "bot-cert.pub", now=now, exp=int(now) + 600
    )
    done = await run(
        lambda: limen(
            "ssh",
            "config",
            "--config",
            str(tmp_path / "limen.toml"),
            "--address",
            f"127.0.0.1:{gw.port}",
            "--identity",
            str(tmp_path / "bot"),
        )
    )
    assert done.returncode == 0, done.stderr
    config_part, known_part = done.stdout.split("# ~/.ssh/known_hosts\n")
    (tmp_path / "known").write_text(known_part)
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        config_part + f"    UserKnownHostsFile {tmp_path / 'known'}\n    BatchMode yes\n"
    )
    ok = await run(
        lambda: subprocess.run(
            ["ssh", "-F", str(ssh_config), "box@limen", "echo configured"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == b"configured\n"
    # a known_hosts line for another key: StrictHostKeyChecking refuses
    (tmp_path / "known").write_text(
        "limen " + " ".join((tmp_path / "bot.pub").read_text().split()[:2]) + "\n"
    )
    bad = await run(
        lambda: subprocess.run(
            ["ssh", "-F", str(ssh_config), "box@limen", "echo configured"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    )
    assert bad.returncode == 255
    assert b"HOST IDENTIFICATION HAS CHANGED" in bad.stderr or b"verification failed" in bad.stderr


async def test_admin_endpoint_answers(nursery: trio.Nursery, gw: Gateway, tmp_path: Path) -> None:
    import httpx

    url = await admin_url(nursery, gw, tmp_path)
    pub = keygen(tmp_path / "bot")
    token = gw.token("cert-bot", ("ci",))

    def post(body: object, tok: str | None = token, base: str = url) -> httpx.Response:
        headers = {"authorization": f"Bearer {tok}"} if tok else {}
        return httpx.post(f"{base}/v1/ssh/cert", json=body, headers=headers, timeout=10)

    ok = await run(post, {"public_key": pub})
    assert ok.status_code == 200
    body = ok.json()
    assert body["principals"] == ["cert-bot"]
    assert body["key_id"] == f"limen:cert-bot:serial={body['serial']}"
    assert body["valid_before"] - body["valid_after"] <= 600
    assert (await run(post, {"public_key": pub}, None)).status_code == 401
    bad = await run(post, {"public_key": "ssh-ed25519 AAAA"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"
    assert (await run(post, {"public_key": body["certificate"]})).status_code == 400
    assert (await run(post, {"key": pub})).status_code == 400
    # a gateway without an SSH listener has no CA
    store = open_store(gw.config.gateway.state, tmp_path)
    assert gw.auth is not None
    api = AdminAPI(ApprovalHub(store), gw.auth)
    listeners = await nursery.start(api.serve, "127.0.0.1", 0)
    other = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    assert (await run(lambda: post({"public_key": pub}, token, other))).status_code == 404
