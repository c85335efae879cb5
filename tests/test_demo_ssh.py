"""`limen demo --walkthrough`'s SSH part: with an OpenSSH server installed
the demo starts its own sshd and the bot's allowed command comes back
masked, a forbidden one and a compound line hiding one are refused; without
one the demo says how to get one and the rest still runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from test_demo import _env, _limen, demo_db

pytestmark = pytest.mark.integration
__all__ = ["demo_db"]


def walkthrough(tmp_path: Path, database: str, env: dict[str, str]) -> str:
    p = subprocess.run(
        _limen("demo", "--walkthrough", "--database", database, "--port", "0"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "every step behaved as expected" in p.stdout
    return p.stdout


def test_walkthrough_has_an_ssh_part(tmp_path: Path, demo_db: str) -> None:
    if not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("needs openssh-server")
    out = walkthrough(tmp_path, demo_db, _env())
    ssh = out.split("SSH: an allowed command", 1)[1]
    assert "deploy token [MASKED:github-token]" in ssh
    assert "ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6" not in ssh.split("bot saw:", 1)[1]
    assert "limen: denied by rule demo-ssh: rm matches 'rm *'" in ssh
    assert ssh.count("ok: ") == 3
    assert "UNEXPECTED" not in out
    assert (tmp_path / ".limen" / "sshd" / "sshd_config").is_file()


def test_without_sshd_the_demo_says_how_to_get_one(tmp_path: Path, demo_db: str) -> None:
    out = walkthrough(tmp_path, demo_db, {**_env(), "LIMEN_DEMO_SSHD": "/nonexistent/sshd"})
    assert "SSH part skipped: no OpenSSH server at /nonexistent/sshd" in out
    assert "apt-get install openssh-server" in out
    assert "SSH: an allowed command" not in out


def test_running_demo_serves_ssh(tmp_path: Path, demo_db: str) -> None:
    if not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("needs openssh-server")
    from limen.cli.demo.sshpart import _exec

    proc = subprocess.Popen(
        _limen("demo", "--database", demo_db, "--port", "0", "--mysql-port", "0"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        text = "".join(seen)
        token = re.search(r"export LIMEN_TOKEN='([^']+)'", text)
        port = re.search(r"SSH: the gateway listens on 127\.0\.0\.1:(\d+)", text)
        assert token is not None, text
        assert port is not None, text
        assert "sshpass -e ssh -p" in text
        status, out, _ = _exec(int(port.group(1)), token.group(1), "echo one ghp_" + "a1" * 18)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert status == 0
    assert out == "one [MASKED:github-token]\n"
    assert rc == 0
