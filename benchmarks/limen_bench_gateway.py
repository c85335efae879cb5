"""limen as a benchmark target: `limen serve` as its own process in front of
the local PostgreSQL (or MariaDB: :func:`start_limen_mysql`), with policy,
masking (every built-in detector) and recording on, and a dev-IdP token as
the password. `relay` picks who moves the PostgreSQL bytes after the
handshake: the native pump (target "limen") or the Trio relay (target
"limen-trio"); `columns` adds ``column:`` masks (target name "…-colmask")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from pgpeers import PG_HOST, PG_PORT, Target

LIMEN = str(Path(sys.executable).parent / "limen")
MYSQL_HOST = "127.0.0.1"
MYSQL_PORT = 3306


def _config(
    protocol: str,
    dbname: str,
    upstream: str,
    user: str,
    relay: str,
    columns: tuple[str, ...],
    tls: tuple[Path, Path] | None = None,
) -> str:
    mask = json.dumps(["builtin", *(f"column:{c}" for c in columns)])
    tls_lines = "" if tls is None else f'tls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\n'

    return f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
relay = "{relay}"
admin = "127.0.0.1:0"
max_connections_per_identity = 200

[listeners]
{protocol} = "127.0.0.1:0"
{tls_lines}
[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[resources]]
name = "{dbname}"
protocol = "{protocol}"
upstream = "{upstream}"
database = "{dbname}"
user = "{user}"

[[rules]]
name = "bench"
groups = ["bench"]
resources = ["{dbname}"]
allow = ["read", "write"]
mask = {mask}
"""


class LimenServe:
    """`limen serve` on a config of one resource of ``protocol``."""

    def __init__(self, protocol: str, config: str) -> None:
        self.protocol = protocol
        self.dir = Path(tempfile.mkdtemp(prefix="limen-bench-gw-"))
        cfg = self.dir / "limen.toml"
        cfg.write_text(config)
        self.token = subprocess.run(
            [
                LIMEN,
                "token",
                "--config",
                str(cfg),
                "--sub",
                "bench",
                "--group",
                "bench",
                "--ttl",
                "1h",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        self.proc = subprocess.Popen(
            [LIMEN, "serve", "--config", str(cfg)],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stderr is not None
        self.port = 0
        while not self.port:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("limen serve exited before listening")
            event: dict[str, Any] = json.loads(line)
            if event.get("event") == "listening" and event.get("protocol", "postgres") == protocol:
                self.port = int(event["port"])
        # keep reading its log so the pipe never fills
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for _ in self.proc.stderr:
            pass

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_limen(
    dbname: str,
    relay: str = "native",
    columns: tuple[str, ...] = (),
    tls: tuple[Path, Path] | None = None,
) -> tuple[Target, LimenServe]:
    """limen in front of PostgreSQL; with ``tls`` (certificate, key) its
    listener has a certificate and the target's clients use
    ``sslmode=require`` (name "…-tls")."""
    upstream = f"{PG_HOST}:{PG_PORT}"
    serve = LimenServe(
        "postgres", _config("postgres", dbname, upstream, "postgres", relay, columns, tls)
    )
    name = ("limen" if relay == "native" else f"limen-{relay}") + ("-colmask" if columns else "")
    name += "" if tls is None else "-tls"
    target = Target(
        name,
        "127.0.0.1",
        serve.port,
        "bench",
        dbname,
        password=serve.token,
        pid=serve.proc.pid,
        env={"PGSSLMODE": "disable" if tls is None else "require"},
    )
    return target, serve


def start_limen_mysql(dbname: str, columns: tuple[str, ...] = ()) -> tuple[Target, LimenServe]:
    """limen in front of the local MariaDB (user root without a password)."""
    upstream = f"{MYSQL_HOST}:{MYSQL_PORT}"
    serve = LimenServe("mysql", _config("mysql", dbname, upstream, "root", "native", columns))
    name = "limen" + ("-colmask" if columns else "")
    target = Target(name, "127.0.0.1", serve.port, "bench", dbname, serve.token, serve.proc.pid)
    return target, serve
