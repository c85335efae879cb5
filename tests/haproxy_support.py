"""HAProxy (the Debian package) in front of `limen serve` nodes, with the
configuration docs/deploy.md shows: read from the doc, only its addresses
replaced by the test's."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["DEPLOY_DOC", "HAProxy", "doc_blocks", "free_port", "haproxy_config"]

DEPLOY_DOC = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"


def doc_blocks(lang: str, doc: Path = DEPLOY_DOC) -> list[str]:
    """The fenced code blocks of ``lang`` in the doc, in order."""
    text = doc.read_text(encoding="utf-8")
    return re.findall(rf"^```{re.escape(lang)}\n(.*?)^```$", text, re.M | re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def haproxy_config(bind_port: int, nodes: list[tuple[int, int]]) -> str:
    """The doc's HAProxy config with its frontend bound to
    ``127.0.0.1:bind_port`` and its servers at ``127.0.0.1`` on each node's
    ``(listener port, admin port)``; everything else as written."""
    (text,) = doc_blocks("haproxy")
    text, binds = re.subn(r"(?m)^(\s*bind )\S+$", rf"\g<1>127.0.0.1:{bind_port}", text)
    assert binds == 1, "the doc's HAProxy config has one bind line"
    servers = re.findall(r"(?m)^\s*server .*$", text)
    assert len(servers) == len(nodes), "one doc server line per node"
    for line, (port, admin) in zip(servers, nodes, strict=True):
        new, n = re.subn(r"\d+\.\d+\.\d+\.\d+:\d+", f"127.0.0.1:{port}", line)
        new, m = re.subn(r"\bport \d+", f"port {admin}", new)
        assert (n, m) == (1, 1), line
        text = text.replace(line, new, 1)
    return text


class HAProxy:
    """``haproxy -db -f CONFIG`` (foreground) until :meth:`stop`."""

    def __init__(self, config: str, directory: Path, port: int) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.path = directory / "haproxy.cfg"
        self.path.write_text(config)
        self.log = directory / "haproxy.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", str(self.path)], stdout=self._out, stderr=subprocess.STDOUT
        )
        self.port = port
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "haproxy does not listen"
                time.sleep(0.05)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.log.read_text()
