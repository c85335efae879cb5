"""SSH public keys in ``[[identity.keys]]`` (by fingerprint, with an
expiry): plain OpenSSH logs in with a known key and the rules see its
groups; an expired or unknown key is refused; ``limen identity revoke
--key NAME`` (the CLI) ends the key's live session and refuses new ones."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import trio

from limen.config import ConfigError, load_config_text
from ssh_support import Served, Sshd, config_text, keygen, serve_gateway, sshd

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
        env=dict(os.environ),
        check=False,
    )


def fingerprint(pub: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[1]


def ssh_argv(served: Served, key: Path, folder: Path, command: str) -> list[str]:
    return [
        "ssh",
        "-F",
        "none",
        "-p",
        str(served.gw.port),
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={served.gw.known_hosts(folder)}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "PreferredAuthentications=publickey",
        "box@127.0.0.1",
        command,
    ]


def ssh(
    served: Served, key: Path, folder: Path, command: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ssh_argv(served, key, folder, command),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def keyed(nursery: trio.Nursery, tmp_path: Path, sshd: Sshd) -> Served:
    keygen(tmp_path / "contractor")
    keygen(tmp_path / "old")
    keygen(tmp_path / "stranger")
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    extra = f"""
[[identity.keys]]
name = "contractor"
ssh_fingerprint = "{fingerprint(tmp_path / "contractor.pub")}"
expires = {soon.strftime("%Y-%m-%dT%H:%M:%SZ")}
groups = ["ci"]

[[identity.keys]]
name = "old-contractor"
ssh_fingerprint = "{fingerprint(tmp_path / "old.pub")}"
expires = 2020-01-01T00:00:00Z
groups = ["ci"]
"""
    return await serve_gateway(nursery, tmp_path, sshd, extra)


async def test_known_key_logs_in_expired_and_unknown_are_refused(
    keyed: Served, tmp_path: Path
) -> None:
    ok = await run(ssh, keyed, tmp_path / "contractor", tmp_path, "echo known key")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == b"known key\n"
    denied = await run(ssh, keyed, tmp_path / "contractor", tmp_path, "rm -rf /tmp/nothing")
    assert denied.returncode == 1
    assert b"denied by rule ci-box" in denied.stderr  # the key's groups: ci
    for name in ("old", "stranger"):
        refused = await run(ssh, keyed, tmp_path / name, tmp_path, "echo hi")
        assert refused.returncode == 255
        assert b"Permission denied" in refused.stderr
        assert refused.stdout == b""


async def test_revoking_the_key_ends_its_live_session(keyed: Served, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        ssh_argv(keyed, tmp_path / "contractor", tmp_path, "cat"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # the session is live (cat's output waits in the masker until the
        # stream ends: watch the session index instead)
        with trio.fail_after(30):
            while True:
                listed = await run(
                    limen, "sessions", "list", "--config", str(keyed.config_path), "--json"
                )
                rows = [json.loads(x) for x in listed.stdout.splitlines()]
                if rows and rows[0]["subject"] == "contractor":
                    assert rows[0]["ended_at"] is None
                    break
                await trio.sleep(0.1)
        done = await run(
            limen,
            "identity",
            "revoke",
            "--config",
            str(keyed.config_path),
            "--key",
            "contractor",
            "--reason",
            "contract ended",
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["kind"] == "key"
        status = await run(lambda: proc.wait(timeout=30))  # ended by limen, stdin still open
        assert status == 255
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert b"limen: " in err
        assert b"revoked" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    again = await run(ssh, keyed, tmp_path / "contractor", tmp_path, "echo back")
    assert again.returncode == 255
    assert again.stdout == b""


def test_config_checks_ssh_key_entries(tmp_path: Path, sshd: Sshd) -> None:
    base = config_text(sshd)
    bad = [
        ('name = "k"\nssh_fingerprint = "MD5:aa"', "ssh_fingerprint"),
        ('name = "k"', "one of sha256"),
        (
            'name = "k"\nsha256 = "' + "a" * 64 + '"\nssh_fingerprint = "SHA256:' + "A" * 43 + '"',
            "one of sha256",
        ),
        (
            'name = "k"\nssh_fingerprint = "SHA256:'
            + "A" * 43
            + '"\nexpires = 2027-01-01T00:00:00',
            "time zone",
        ),
    ]
    for entry, why in bad:
        with pytest.raises(ConfigError, match=why):
            load_config_text(base + "\n[[identity.keys]]\n" + entry + "\n", base_dir=tmp_path)
    good = 'name = "k"\nssh_fingerprint = "SHA256:' + "A" * 43 + '"\nexpires = 2027-01-01T00:00:00Z'
    config = load_config_text(base + "\n[[identity.keys]]\n" + good + "\n", base_dir=tmp_path)
    assert config.identity.keys[0].expires is not None
    assert time.time() < config.identity.keys[0].expires.timestamp() + 10**9
