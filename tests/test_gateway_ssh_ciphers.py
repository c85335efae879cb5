"""``[gateway] ssh_ciphers``: the ciphers the SSH listener offers an
OpenSSH client. ``fast`` (the default) offers AES-GCM only, so a client
that allows AES-CTR alone (``ssh -c aes128-ctr``) is refused at key
exchange; ``all`` offers paramiko's whole list and the same client runs
its command. Real sshd, real OpenSSH client."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from limen.config import load_config_text
from ssh_support import Sshd, config_text, sshd, start_gateway

pytestmark = pytest.mark.integration
__all__ = ["sshd"]


def _config(server: Sshd, ciphers: str | None) -> str:
    text = config_text(server)
    if ciphers is None:
        return text
    head = 'recordings = "recordings"\n'
    assert head in text
    return text.replace(head, f'{head}ssh_ciphers = "{ciphers}"\n', 1)


def test_default_is_fast(tmp_path: Path, sshd: Sshd) -> None:
    config = load_config_text(_config(sshd, None), base_dir=tmp_path)
    assert config.gateway.ssh_ciphers == "fast"


def test_unknown_value_is_refused(tmp_path: Path, sshd: Sshd) -> None:
    with pytest.raises(Exception, match="ssh_ciphers"):
        load_config_text(_config(sshd, "weak"), base_dir=tmp_path)


@pytest.mark.parametrize("ciphers", ["fast", "all"])
async def test_openssh_client_with_aes_ctr_only(
    nursery: trio.Nursery, tmp_path: Path, sshd: Sshd, ciphers: str
) -> None:
    config = load_config_text(_config(sshd, ciphers), base_dir=tmp_path)
    gw = await start_gateway(nursery, config)
    done = await trio.to_thread.run_sync(
        lambda: gw.ssh(gw.token(), "echo over ctr", tmp_path, options=["-c", "aes128-ctr", "-v"])
    )
    if ciphers == "all":
        assert done.returncode == 0, done.stderr[-800:]
        assert done.stdout == b"over ctr\n"
        assert b"cipher: aes128-ctr" in done.stderr
    else:
        assert done.returncode == 255
        assert b"no matching cipher" in done.stderr
        assert done.stdout == b""
