"""Issue 15's "done when", as one story with real parts only: ``limen
serve`` in front of a real sshd; the bot gets a token (``limen token``) and
a certificate (``limen ssh cert``) from the real CLI, then uses plain
OpenSSH with ``-o CertificateFile=``: an allowed command runs, a forbidden
one and a compound command hiding one are refused (nothing runs), a held
command waits until a human approves it with ``limen approvals approve``
(the CLI, as a subprocess) and then runs; every session exports to an
asciicast that ``asciinema play`` plays."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

from ssh_support import Served, Sshd, keygen, serve_gateway, sshd

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


class Bot:
    """A bot with nothing but OpenSSH, its key and limen's certificate."""

    def __init__(self, served: Served, folder: Path) -> None:
        self.served = served
        self.folder = folder
        self.key = folder / "id_ed25519"
        self.cert = folder / "id_ed25519-cert.pub"
        self.known = served.gw.known_hosts(folder)

    def ssh(self, command: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                "ssh",
                "-F",
                "none",
                "-p",
                str(self.served.gw.port),
                "-i",
                str(self.key),
                "-o",
                f"CertificateFile={self.cert}",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                f"UserKnownHostsFile={self.known}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "box@127.0.0.1",
                command,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
        )


def approve_when_held(config: Path, found: dict[str, Any]) -> None:
    """A human's loop: wait for the held command in `limen approvals list`,
    then `limen approvals approve ID --as alice`."""
    for _ in range(600):
        listed = limen("approvals", "list", "--config", str(config), "--json")
        assert listed.returncode == 0, listed.stderr
        pending = json.loads(listed.stdout)
        if pending:
            found.update(pending[0])
            done = limen(
                "approvals",
                "approve",
                str(found["id"]),
                "--as",
                "alice",
                "--reason",
                "story",
                "--config",
                str(config),
            )
            found["approve_rc"] = done.returncode
            found["approve_err"] = done.stderr
            return
        threading.Event().wait(0.1)
    raise AssertionError("nothing was held")


async def test_a_bot_with_plain_openssh_and_a_limen_certificate(
    nursery: trio.Nursery, tmp_path: Path, sshd: Sshd
) -> None:
    if not shutil.which("asciinema"):
        pytest.skip("needs asciinema")
    served = await serve_gateway(nursery, tmp_path, sshd)
    config = str(served.config_path)
    bot = Bot(served, tmp_path)
    keygen(bot.key)

    # the bot's identity: a token, traded for a certificate
    token = await run(
        lambda: limen("token", "--config", config, "--sub", "ci-bot", "--group", "ci")
    )
    assert token.returncode == 0, token.stderr
    (tmp_path / "token").write_text(token.stdout)
    cert = await run(
        lambda: limen(
            "ssh",
            "cert",
            "--url",
            served.admin_url,
            "--key",
            f"{bot.key}.pub",
            "--token-file",
            str(tmp_path / "token"),
        )
    )
    assert cert.returncode == 0, cert.stderr
    assert bot.cert.read_text().startswith("ssh-ed25519-cert-v01@openssh.com ")

    # allowed
    ok = await run(bot.ssh, "echo deploy check")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == b"deploy check\n"

    # forbidden, and a compound command hiding a forbidden one
    victim = sshd.folder / "story-victim"
    victim.write_text("keep me")
    denied = await run(bot.ssh, f"rm -f {victim}")
    assert denied.returncode == 1
    assert b"limen: denied by rule ci-box" in denied.stderr
    hidden = await run(bot.ssh, f"git status; rm -f {victim}")
    assert hidden.returncode == 1
    assert hidden.stderr.startswith(b"limen: ")
    assert hidden.stdout == b""
    assert victim.read_text() == "keep me"

    # held until a human approves from the CLI
    made = sshd.folder / "story-made"
    made.unlink(missing_ok=True)
    found: dict[str, Any] = {}
    async with trio.open_nursery() as both:
        result: list[subprocess.CompletedProcess[bytes]] = []

        async def held() -> None:
            result.append(await run(bot.ssh, f"touch {made}"))

        both.start_soon(held)
        both.start_soon(run, approve_when_held, served.config_path, found)
    assert found["approve_rc"] == 0, found["approve_err"]
    assert found["subject"] == "ci-bot"
    assert found["protocol"] == "ssh"
    done = result[0]
    assert done.returncode == 0, done.stderr
    assert f"limen: held for approval {found['id']}".encode() in done.stderr
    assert f"limen approvals approve {found['id']} --as NAME".encode() in done.stderr
    assert made.exists()

    # every session exports to an asciicast that plays
    with trio.fail_after(30):
        while True:
            listed = await run(lambda: limen("sessions", "list", "--config", config, "--json"))
            rows = [json.loads(line) for line in listed.stdout.splitlines()]
            if len(rows) == 4 and all(r["ended_at"] is not None for r in rows):
                break
            await trio.sleep(0.1)
    shown: dict[str, str] = {}
    for row in rows:
        assert row["subject"] == "ci-bot"
        out = await run(
            lambda sid=row["id"]: limen(
                "sessions", "export", "--config", config, sid, "--format", "asciicast"
            )
        )
        assert out.returncode == 0, out.stderr
        cast = tmp_path / f"{row['id']}.cast"
        cast.write_text(out.stdout)
        played = await run(
            lambda c=cast: subprocess.run(
                ["asciinema", "play", "-s", "50", "-i", "0.05", str(c)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=60,
                check=False,
            )
        )
        assert played.returncode == 0, played.stderr
        shown[row["id"]] = played.stdout.decode()
    screens = "\n".join(shown.values())
    assert "$ echo deploy check\r\ndeploy check\r\n" in screens
    assert f"$ rm -f {victim}\r\nlimen: deny (rule ci-box)" in screens
    assert f"$ touch {made}\r\n" in screens
