"""The demo's SSH part, when an OpenSSH server is installed: the demo starts
its own ``sshd`` on a loopback port (its own config, host key and a key for
limen under ``./.limen/sshd/``, as the current user), serves it as the
resource ``demo-ssh`` behind limen's SSH listener, and the walkthrough's
bot runs an allowed command (its secret masked), a denied one and a
compound line hiding one. Without ``sshd`` the demo says how to get one and
runs the rest."""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from limen.cli.demo.bot import Steps
from limen.cli.demo.defaults import APPROVERS, CONFIG_DIR, GROUP, SUBJECT
from limen.identity import DevIdP

__all__ = [
    "SSH_RESOURCE",
    "DemoSshd",
    "no_sshd_hint",
    "ssh_config",
    "ssh_help",
    "ssh_steps",
    "start_sshd",
]

SSH_RESOURCE = "demo-ssh"
SSHD_ENV = "LIMEN_DEMO_SSHD"
"""Where the demo looks for sshd (default /usr/sbin/sshd)."""
SECRET_LINE = "deploy token ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"  # noqa: S105 (a fake, to be masked)
SSH_RULE = "demo-ssh"


@dataclass
class DemoSshd:
    proc: subprocess.Popen[bytes]
    port: int
    host_key: str
    key: Path
    user: str

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _sshd() -> str:
    return os.environ.get(SSHD_ENV, "/usr/sbin/sshd")


def no_sshd_hint() -> str | None:
    """None when the demo can run sshd; else how to get one."""
    if os.path.exists(_sshd()) and shutil.which("ssh-keygen"):
        return None
    return (
        f"SSH part skipped: no OpenSSH server at {_sshd()}. To see limen in front of SSH, "
        "install one (Debian/Ubuntu: sudo apt-get install openssh-server; Fedora: sudo dnf "
        "install openssh-server) and run the demo again."
    )


def _keygen(path: Path) -> str:
    if not path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
            check=True,
            capture_output=True,
        )
    return path.with_suffix(".pub").read_text(encoding="utf-8").strip()


def start_sshd() -> DemoSshd:
    """The demo's own sshd on a free loopback port (raises OSError)."""
    folder = (CONFIG_DIR / "sshd").resolve()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    host = _keygen(folder / "host_ed25519")
    client = _keygen(folder / "limen_ed25519")
    (folder / "authorized_keys").write_text(client + "\n", encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {folder / 'host_ed25519'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n",
        encoding="utf-8",
    )
    with contextlib.suppress(OSError):
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([_sshd(), "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise OSError(f"the demo's sshd did not start on 127.0.0.1:{port}") from None
            time.sleep(0.05)
    user = getpass.getuser()
    return DemoSshd(proc, port, " ".join(host.split()[:2]), folder / "limen_ed25519", user)


def ssh_config(sshd: DemoSshd) -> tuple[str, str]:
    """The listener line and the resource and rule of the SSH part."""
    listener = 'ssh = "127.0.0.1:0"\n'
    rest = f"""
[[resources]]
name = "{SSH_RESOURCE}"
protocol = "ssh"
upstream = "127.0.0.1:{sshd.port}"
user = "{sshd.user}"
private_key_file = "{sshd.key}"
host_key = "[127.0.0.1]:{sshd.port} {sshd.host_key}"
description = "the demo's own sshd on loopback"

[[rules]]
name = "{SSH_RULE}"
groups = ["{GROUP}"]
resources = ["{SSH_RESOURCE}"]
allow_commands = ["echo *", "ls *", "uname *", "@sftp read *", "@sftp list *", "@sftp stat *"]
hold_commands = ["touch *"]
deny_commands = ["rm *"]
approvers = ["{APPROVERS}"]
mask = ["builtin"]
"""
    return listener, rest


def ssh_help(port: int) -> list[str]:
    """The SSH part of the running demo's help."""
    opts = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    return [
        "",
        f"SSH: the gateway listens on 127.0.0.1:{port} in front of the demo's own sshd "
        f'(resource "{SSH_RESOURCE}"; the token is the password):',
        f'  SSHPASS="$LIMEN_TOKEN" sshpass -e ssh -p {port} {opts} {SSH_RESOURCE}@127.0.0.1 '
        f"'echo {SECRET_LINE}'   (masked)",
        f"  ... 'rm -rf /tmp/x' (denied)   'touch /tmp/x' (held)   sftp -P {port} "
        f"{SSH_RESOURCE}@127.0.0.1 (reads)",
    ]


def _exec(port: int, token: str, command: str) -> tuple[int, str, str]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        transport.auth_password(SSH_RESOURCE, token)
        chan = transport.open_session()
        chan.settimeout(30)
        chan.exec_command(command)
        out = chan.makefile("rb").read().decode("utf-8", "replace")
        err = chan.makefile_stderr("rb").read().decode("utf-8", "replace")
        return chan.recv_exit_status(), out, err
    finally:
        transport.close()


def ssh_steps(steps: Steps, idp: DevIdP, port: int) -> None:
    """The bot over SSH (paramiko; plain OpenSSH works the same)."""
    # paramiko logs a peer's reset at ERROR on stderr; the steps say what happened
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    token = idp.mint(SUBJECT, [GROUP], 600)
    secret = SECRET_LINE.split()[-1]
    steps.start("SSH: an allowed command; the secret it prints comes back masked")
    steps.sent(f"ssh {SSH_RESOURCE}@gateway 'echo {SECRET_LINE}'")
    status, out, err = _exec(port, token, f"echo {SECRET_LINE}")
    steps.saw(out or err)
    steps.check(
        status == 0 and "[MASKED:github-token]" in out and secret not in out,
        "exit 0 and the token masked",
    )
    steps.start("SSH: a forbidden command is refused, nothing runs")
    steps.sent(f"ssh {SSH_RESOURCE}@gateway 'rm -rf /tmp/limen-demo'")
    status, out, err = _exec(port, token, "rm -rf /tmp/limen-demo")
    steps.saw(err)
    steps.check(status == 1 and f"denied by rule {SSH_RULE}" in err, "exit 1, denied by rule")
    steps.start("SSH: a compound line hiding a forbidden command is refused whole")
    steps.sent(f"ssh {SSH_RESOURCE}@gateway 'echo hello; rm -rf /tmp/limen-demo'")
    status, out, err = _exec(port, token, "echo hello; rm -rf /tmp/limen-demo")
    steps.saw(err)
    steps.check(status == 1 and out == "" and "denied" in err, "exit 1, no output: nothing ran")
