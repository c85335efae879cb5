"""sftp and scp through limen as the file transfers they are: real OpenSSH
`sftp`, `scp` (sftp protocol, the default) and `scp -O` (the legacy
protocol) against a real sshd, each operation allowed, held or denied by
the rules' ``@sftp OP PATH`` patterns; a refused one never reaches the
server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def fingerprint(pub: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[1]


@dataclass
class Files:
    served: Served
    key: Path
    srv: Path
    drop: Path
    local: Path
    outside: Path

    def options(self) -> list[str]:
        return [
            "-F",
            "none",
            "-i",
            str(self.key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.served.gw.known_hosts(self.local)}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "PreferredAuthentications=publickey",
        ]

    def sftp(self, batch: str) -> subprocess.CompletedProcess[str]:
        script = self.local / "batch"
        script.write_text(batch)
        return subprocess.run(
            [
                "sftp",
                *self.options(),
                "-P",
                str(self.served.gw.port),
                "-b",
                str(script),
                "box@127.0.0.1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def scp(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["scp", *self.options(), "-P", str(self.served.gw.port), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
async def files(nursery: trio.Nursery, tmp_path: Path, sshd: Sshd) -> Files:
    key = tmp_path / "mover"
    keygen(key)
    srv, drop, local, outside = (tmp_path / n for n in ("srv", "drop", "local", "outside"))
    for folder in (srv, drop, local, outside):
        folder.mkdir()
    (srv / "report.txt").write_text("quarterly report\n")
    (srv / "secret.txt").write_text("do not copy\n")
    (local / "up.txt").write_text("uploaded by the bot\n")
    extra = f"""
[[identity.keys]]
name = "mover"
ssh_fingerprint = "{fingerprint(key.with_suffix(".pub"))}"
groups = ["files"]

[[rules]]
name = "files"
groups = ["files"]
resources = ["box"]
allow_commands = ["@sftp read {srv}/*", "@sftp write {drop}/*", "@sftp list *", "@sftp stat *"]
hold_commands = ["@sftp remove {drop}/*"]
deny_commands = ["@sftp read {srv}/secret*"]
approvers = ["security"]
"""
    served = await serve_gateway(nursery, tmp_path, sshd, extra)
    return Files(served, key, srv, drop, local, outside)


async def test_sftp_operations_are_judged_one_by_one(files: Files) -> None:
    f = files
    done = await run(
        f.sftp,
        f"""get {f.srv}/report.txt {f.local}/report.txt
-get {f.srv}/secret.txt {f.local}/secret.txt
put {f.local}/up.txt {f.drop}/up.txt
-put {f.local}/up.txt {f.outside}/up.txt
-rename {f.drop}/up.txt {f.drop}/moved.txt
-mkdir {f.outside}/made
ls {f.drop}
""",
    )
    assert done.returncode == 0, done.stderr
    assert (f.local / "report.txt").read_text() == "quarterly report\n"
    assert not (f.local / "secret.txt").exists()
    assert (f.drop / "up.txt").read_text() == "uploaded by the bot\n"
    assert list(f.outside.iterdir()) == []  # the refused write and mkdir never ran
    assert not (f.drop / "moved.txt").exists()
    assert f"{f.drop}/up.txt" in done.stdout  # ls went through
    err = done.stderr
    assert f"limen: denied by rule files: read {f.srv}/secret.txt" in err
    assert f"limen: denied: no rule allows write {f.outside}/up.txt" in err
    assert f"no rule allows rename {f.drop}/up.txt {f.drop}/moved.txt" in err
    assert f"no rule allows mkdir {f.outside}/made" in err


@pytest.mark.parametrize("legacy", [False, True], ids=["scp-sftp", "scp-legacy"])
async def test_scp_both_protocols(files: Files, legacy: bool) -> None:
    f = files
    mode = ["-O"] if legacy else []
    got = await run(f.scp, *mode, f"box@127.0.0.1:{f.srv}/report.txt", str(f.local / "r.txt"))
    assert got.returncode == 0, got.stderr
    assert (f.local / "r.txt").read_text() == "quarterly report\n"
    secret = await run(f.scp, *mode, f"box@127.0.0.1:{f.srv}/secret.txt", str(f.local / "s.txt"))
    assert secret.returncode != 0
    assert "limen: denied by rule files" in secret.stderr
    assert not (f.local / "s.txt").exists() or (f.local / "s.txt").read_text() == ""
    put = await run(f.scp, *mode, str(f.local / "up.txt"), f"box@127.0.0.1:{f.drop}/in.txt")
    assert put.returncode == 0, put.stderr
    assert (f.drop / "in.txt").read_text() == "uploaded by the bot\n"
    out = await run(f.scp, *mode, str(f.local / "up.txt"), f"box@127.0.0.1:{f.outside}/x.txt")
    assert out.returncode != 0
    assert "limen: denied: no rule allows write" in out.stderr
    assert list(f.outside.iterdir()) == []


def limen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )


def approve_when_held(config: Path, found: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = limen("approvals", "list", "--config", str(config), "--json")
        pending = json.loads(listed.stdout) if listed.returncode == 0 else []
        if pending:
            found.update(pending[0])
            done = limen(
                "approvals", "approve", str(found["id"]), "--as", "alice", "--config", str(config)
            )
            found["approve_rc"] = done.returncode
            found["approve_err"] = done.stderr
            return
        threading.Event().wait(0.1)
    raise AssertionError("nothing was held")


async def test_a_held_sftp_remove_waits_for_approval(files: Files) -> None:
    f = files
    (f.drop / "old.txt").write_text("old\n")
    found: dict[str, Any] = {}
    result: dict[str, subprocess.CompletedProcess[str]] = {}
    async with trio.open_nursery() as both:

        async def remove() -> None:
            result["rm"] = await run(f.sftp, f"rm {f.drop}/old.txt\n")

        both.start_soon(remove)
        both.start_soon(run, approve_when_held, f.served.config_path, found)
    assert found["approve_rc"] == 0, found["approve_err"]
    assert result["rm"].returncode == 0, result["rm"].stderr
    assert f"limen: held for approval {found['id']}" in result["rm"].stderr
    assert not (f.drop / "old.txt").exists()
