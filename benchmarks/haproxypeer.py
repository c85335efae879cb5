"""HAProxy in TCP mode on a free loopback port: the load balancer of the
fleet benchmark, and (with one server and no checks) the plain layer-4 relay
the MySQL benchmark runs beside limen, a floor for what any proxy costs on
this machine: it moves the bytes and does nothing else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pgpeers import free_port, wait_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class HAProxy:
    """HAProxy (TCP) on a free port in front of ``servers`` (``(port,
    admin port or None)``): with an admin port, PROXY v2 and the /readyz
    check of docs/deploy.md; without, a TCP check."""

    def __init__(self, directory: Path, servers: list[tuple[int, int | None]]) -> None:
        self.port = free_port()
        lines = []
        for i, (port, admin) in enumerate(servers):
            extra = f" send-proxy-v2 check port {admin}" if admin else " check"
            lines.append(f"    server s{i} 127.0.0.1:{port}{extra}")
        check = (
            "    option httpchk\n    http-check send meth GET uri /readyz\n"
            "    http-check expect status 200\n"
            if all(admin for _, admin in servers)
            else ""
        )
        cfg = directory / f"haproxy-{self.port}.cfg"
        cfg.write_text(
            f"""global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    retries 3
    option redispatch 1
frontend fe
    bind 127.0.0.1:{self.port}
    default_backend be
backend be
    balance leastconn
{check}    default-server inter 1s fall 2 rise 2
"""
            + "\n".join(lines)
            + "\n"
        )
        self.proc = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_port(self.port)
        self.pid = self.proc.pid

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
