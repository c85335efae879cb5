"""Peers for the PostgreSQL benchmarks: the local server direct, and
pgbouncer (Debian's package) started on a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_HOST = "127.0.0.1"
PG_PORT = 5432


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Target:
    """Where pgbench connects, and which process's CPU counts as the gateway's."""

    name: str
    host: str
    port: int
    user: str
    dbname: str
    password: str | None = None
    pid: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    def conninfo_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user, PGDATABASE=self.dbname
        )
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        env.update(self.env)
        return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class PgBouncer:
    """pgbouncer in session mode in front of the local server."""

    def __init__(self, dbname: str, user: str = "postgres") -> None:
        exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(exe).exists():
            raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
        self.dir = Path(tempfile.mkdtemp(prefix="limen-bench-pgbouncer-"))
        self.port = free_port()
        self.user = user
        self.dbname = dbname
        (self.dir / "users.txt").write_text(f'"{user}" ""\n')
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            f"""[databases]
{dbname} = host={PG_HOST} port={PG_PORT} dbname={dbname}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir / "users.txt"}
pool_mode = session
max_client_conn = 200
default_pool_size = 20
logfile = {self.dir / "pgbouncer.log"}
pidfile = {self.dir / "pgbouncer.pid"}
"""
        )
        # pgbouncer refuses to run as root; it switches itself to Debian's
        # postgres user (-u), so the process we signal is pgbouncer itself.
        cmd = [exe, str(ini)]
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            for p in self.dir.iterdir():
                shutil.chown(p, "postgres")
            cmd = [exe, "-u", "postgres", str(ini)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port)

    def pid(self) -> int:
        return self.proc.pid

    def target(self) -> Target:
        return Target("pgbouncer", "127.0.0.1", self.port, self.user, self.dbname, pid=self.pid())

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
