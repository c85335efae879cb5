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


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost (openssl), shared
    by the TLS peers of a run: (certificate, key)."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o644)  # pgbouncer reads it as Debian's postgres user
    return cert, key


class PgBouncer:
    """pgbouncer in session mode in front of the local server; with
    ``tls`` (certificate, key), clients must use TLS
    (``client_tls_sslmode = require``)."""

    def __init__(
        self, dbname: str, user: str = "postgres", tls: tuple[Path, Path] | None = None
    ) -> None:
        exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(exe).exists():
            raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
        self.dir = Path(tempfile.mkdtemp(prefix="limen-bench-pgbouncer-"))
        self.port = free_port()
        self.user = user
        self.dbname = dbname
        (self.dir / "users.txt").write_text(f'"{user}" ""\n')
        self.tls = tls is not None
        tls_lines = ""
        if tls is not None:
            tls_lines = (
                "client_tls_sslmode = require\n"
                f"client_tls_cert_file = {tls[0]}\n"
                f"client_tls_key_file = {tls[1]}\n"
            )
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
default_pool_size = 80
server_idle_timeout = 1
logfile = {self.dir / "pgbouncer.log"}
pidfile = {self.dir / "pgbouncer.pid"}
{tls_lines}"""
        )
        # pgbouncer refuses to run as root; it switches itself to Debian's
        # postgres user (-u), so the process we signal is pgbouncer itself.
        cmd = [exe, str(ini)]
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            for p in self.dir.iterdir():
                shutil.chown(p, "postgres")
            cmd = [exe, "-u", "postgres", str(ini)]
        # Its log goes to its logfile; stderr never to an unread pipe
        # (64 clients fill a pipe and pgbouncer blocks writing to it).
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def pid(self) -> int:
        return self.proc.pid

    def target(self) -> Target:
        if self.tls:
            return Target(
                "pgbouncer-tls",
                "127.0.0.1",
                self.port,
                self.user,
                self.dbname,
                pid=self.pid(),
                env={"PGSSLMODE": "require"},
            )
        return Target("pgbouncer", "127.0.0.1", self.port, self.user, self.dbname, pid=self.pid())

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
