"""A real OpenSSH server for the SSH gateway tests: ``sshd -D`` as the
current user on a loopback port with its own config, host key and an
authorized key the tests generate; the SSH gateway in the test's nursery
with the dev IdP; the OpenSSH client (through sshpass) and paramiko."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
import trio

from limen.approvals import ApprovalHub
from limen.config import Config, load_config_text
from limen.gateway import JsonLog, Services, SshGateway
from limen.identity import Authenticator, DevIdP
from limen.recording import MemoryRecorder, SessionInfo

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path) -> str:
    """An ed25519 key pair at ``path``; returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class Sshd:
    port: int
    user: str
    host_key: str
    """The server's host key as a known_hosts line."""
    client_key: Path
    folder: Path


def start_sshd(folder: Path) -> tuple[subprocess.Popen[bytes], Sshd]:
    folder.mkdir(parents=True, exist_ok=True)
    host_pub = keygen(folder / "host_ed25519")
    client_pub = keygen(folder / "client_ed25519")
    (folder / "authorized_keys").write_text(client_pub + "\n")
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"""ListenAddress 127.0.0.1
Port {port}
HostKey {folder / "host_ed25519"}
AuthorizedKeysFile {folder / "authorized_keys"}
PidFile {folder / "sshd.pid"}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowTcpForwarding yes
X11Forwarding yes
Subsystem sftp internal-sftp
LogLevel ERROR
"""
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                err = proc.stderr.read() if proc.stderr else b""
                raise RuntimeError(f"sshd exited: {err!r}") from None
            time.sleep(0.05)
    user = getpass.getuser()
    return proc, Sshd(port, user, host_pub, folder / "client_ed25519", folder)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("sshpass")):
        pytest.skip("needs openssh-server, openssh-client and sshpass")
    proc, server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(10)


def config_text(server: Sshd, host_key: str | None = None) -> str:
    return f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"

[listeners]
ssh = "127.0.0.1:0"

[identity]
leeway = "0s"

[identity.dev]
enabled = true

[[resources]]
name = "box"
protocol = "ssh"
upstream = "127.0.0.1:{server.port}"
user = "{server.user}"
private_key_file = "{server.client_key}"
host_key = "[127.0.0.1]:{server.port} {host_key or server.host_key}"

[[mask_rules]]
name = "canary"
words = ["canary-s3cr3t-value"]

[[rules]]
name = "ci-box"
groups = ["ci"]
resources = ["box"]
allow_commands = ["echo *", "printf *", "git status", "cat *", "true", "false", "ls *"]
hold_commands = ["touch *"]
deny_commands = ["rm *"]
approvers = ["security"]
mask = ["builtin", "canary"]

[[rules]]
name = "ops-shell"
groups = ["ops"]
resources = ["box"]
allow_commands = ["@shell", "echo *"]
mask = ["builtin", "canary"]
"""


@dataclass
class Gateway:
    config: Config
    gateway: SshGateway
    idp: DevIdP
    port: int
    recorders: list[MemoryRecorder] = field(default_factory=list)
    auth: Authenticator | None = None

    def token(self, subject: str = "bot", groups: tuple[str, ...] = ("ci",)) -> str:
        return self.idp.mint(subject, groups, 600)

    def known_hosts(self, folder: Path) -> Path:
        """A known_hosts file pinning limen's own host key."""
        key = (self.config.state_dir() / "ssh-host-ed25519.key").read_text()
        pub = paramiko.Ed25519Key.from_private_key(__import__("io").StringIO(key))
        path = folder / "known_hosts"
        path.write_text(f"[127.0.0.1]:{self.port} {pub.get_name()} {pub.get_base64()}\n")
        return path

    def ssh_process(self, token: str, folder: Path, options: list[str]) -> subprocess.Popen[bytes]:
        """The OpenSSH client as a process (sshpass -e), no command."""
        known = self.known_hosts(folder)
        return subprocess.Popen(
            [
                "sshpass",
                "-e",
                "ssh",
                *options,
                "-p",
                str(self.port),
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password",
                "box@127.0.0.1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "SSHPASS": token},
            start_new_session=True,
        )

    def ssh(
        self,
        token: str,
        command: str,
        folder: Path,
        stdin: bytes = b"",
        user: str = "box",
        options: list[str] | None = None,
        prompt: str | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """The OpenSSH client, the token as the password (sshpass -e)."""
        known = self.known_hosts(folder)
        return subprocess.run(
            [
                "sshpass",
                "-e",
                *(["-P", prompt] if prompt else []),
                "ssh",
                *(options or []),
                "-p",
                str(self.port),
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=10",
                f"{user}@127.0.0.1",
                command,
            ],
            input=stdin,
            capture_output=True,
            env={**os.environ, "SSHPASS": token},
            timeout=60,
            check=False,
        )

    def ssh_cert(
        self, key: Path, cert: Path | None, command: str, folder: Path, user: str = "box"
    ) -> subprocess.CompletedProcess[bytes]:
        """Plain OpenSSH with a key and (optionally) its certificate; no
        password: publickey only."""
        known = self.known_hosts(folder)
        return subprocess.run(
            [
                "ssh",
                "-F",
                "none",
                "-p",
                str(self.port),
                "-i",
                str(key),
                *(["-o", f"CertificateFile={cert}"] if cert is not None else []),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "PreferredAuthentications=publickey",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                f"{user}@127.0.0.1",
                command,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )

    def paramiko_exec(self, token: str, command: str) -> tuple[int, bytes, bytes]:
        """paramiko as the client (keyboard-interactive with the token)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=10)
            transport.auth_interactive("box", lambda title, instr, prompts: [token] * len(prompts))
            chan = transport.open_session()
            chan.exec_command(command)
            out = chan.makefile("rb").read()
            err = chan.makefile_stderr("rb").read()
            return chan.recv_exit_status(), out, err
        finally:
            transport.close()


async def start_gateway(
    nursery: trio.Nursery, config: Config, *, approvals: ApprovalHub | None = None
) -> Gateway:
    idp = DevIdP.from_config(config)
    discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    recorders: list[MemoryRecorder] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        r = MemoryRecorder(info)
        recorders.append(r)
        return r

    services = Services(config, auth, recorder_factory=recorder, log=JsonLog(), approvals=approvals)
    gw = SshGateway(services)
    listeners = await nursery.start(gw.serve, "127.0.0.1", 0)
    port = listeners[0].socket.getsockname()[1]
    return Gateway(config, gw, idp, port, recorders, auth)


def gateway_config(tmp_path: Path, server: Sshd, host_key: str | None = None) -> Config:
    return load_config_text(config_text(server, host_key), base_dir=tmp_path)


def paramiko_session(port: int, token: str) -> paramiko.Transport:
    """A paramiko client transport logged in with the token as the password."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    transport = paramiko.Transport(sock)
    transport.start_client(timeout=10)
    transport.auth_password("box", token)
    return transport


@dataclass
class Served:
    """``limen serve`` in the test's nursery, its config on disk."""

    gw: Gateway
    config_path: Path
    admin_url: str


async def serve_gateway(
    nursery: trio.Nursery, folder: Path, server: Sshd, extra: str = ""
) -> Served:
    """The whole gateway (``limen serve``: signed recordings on disk, the
    admin API, the approvals hub), its config written to ``limen.toml``
    so CLI subprocesses can use ``--config``."""
    from limen.cli.serve import serve

    text = config_text(server).replace(
        "[identity.dev]\nenabled = true",
        f'[identity.dev]\nenabled = true\nlisten = "127.0.0.1:{free_port()}"',
    )
    text = text.replace(
        'recordings = "recordings"', 'recordings = "recordings"\nadmin = "127.0.0.1:0"'
    )
    text += extra
    path = folder / "limen.toml"
    path.write_text(text)
    config = load_config_text(text, base_dir=folder)
    (folder / "recordings").mkdir(exist_ok=True)
    serving = await nursery.start(serve, config, JsonLog())
    assert serving.ssh_port is not None
    idp = DevIdP.from_config(config)
    gw = Gateway(config, serving.gateway, idp, serving.ssh_port)
    return Served(gw, path, f"http://127.0.0.1:{serving.admin_port}")
