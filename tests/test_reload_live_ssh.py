"""A reload's masks reach a running SSH channel (the gateway's reload,
:class:`limen.gateway.reload.Reloader`, OpenSSH's sshd upstream and its
`ssh` client through sshpass): a `cat` channel echoes a canary before the
reload (no rule masks it yet), and masked after it, on the same channel,
in what the client gets and in the recording."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import trio

from limen.config import load_config_text
from limen.gateway.reload import Reloader
from ssh_support import Sshd, config_text, sshd, start_gateway

pytestmark = pytest.mark.integration
__all__ = ["sshd"]

CANARY = b"canary-s3cr3t-value"
FULL = 'mask = ["builtin", "canary"]'


async def test_a_running_channel_takes_reloaded_masks_at_its_next_chunk(
    nursery: trio.Nursery, tmp_path: Path, sshd: Sshd
) -> None:
    path = tmp_path / "limen.toml"
    path.write_text(config_text(sshd).replace(FULL, 'mask = ["builtin"]'))
    gw = await start_gateway(nursery, load_config_text(path.read_text(), base_dir=tmp_path))
    services = gw.gateway.services
    reloader = Reloader(path, services, [gw.gateway], log=services.log)
    known = gw.known_hosts(tmp_path)
    proc = subprocess.Popen(
        [
            "sshpass", "-e", "ssh", "-p", str(gw.port),
            "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
            "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
            "-o", "ConnectTimeout=10", "box@127.0.0.1", "cat -",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SSHPASS": gw.token()},
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None

    async def echo(line: bytes) -> bytes:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(line + b"\n")
        proc.stdin.flush()
        with trio.fail_after(30):
            return await trio.to_thread.run_sync(proc.stdout.readline)

    try:
        before = await echo(b"one " + CANARY)
        path.write_text(config_text(sshd))
        reloaded = reloader.reload()
        after = await echo(b"two " + CANARY)
    finally:
        proc.stdin.close()
        await trio.to_thread.run_sync(proc.wait, 30)
    assert before == b"one " + CANARY + b"\n"
    assert reloaded.ok
    assert reloaded.sessions == 1
    assert after.startswith(b"two ")
    assert CANARY not in after
    assert b"[MASKED:" in after
    (recorder,) = gw.recorders
    channel = [p for k, p in recorder.records if k in ("c2u", "u2c")]
    later = b"".join(channel[next(i for i, p in enumerate(channel) if b"two" in p) :])
    assert CANARY not in later
