"""A fleet behind HAProxy: pgbench through HAProxy (TCP, least
connections) to two `limen serve` processes sharing one PostgreSQL state
store (PROXY protocol v2 to them, as docs/deploy.md runs them; policy,
masking and recording on), against HAProxy to two pgbouncers (session
pooling), in one run. Two loads: `pgbench -S` with 8 clients on open
sessions, and 4 psycopg clients opening a session per `SELECT 1`
(sessions opened per second, and per node). Reports TPS and the limen/pgbouncer
ratios.

All four processes and HAProxy share this machine's cores with pgbench
and PostgreSQL: the figures compare the two fleets, they do not size one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from haproxypeer import HAPROXY, HAProxy
from pgpeers import PG_HOST, PG_PORT, PgBouncer, Target

DB = "limen_bench"
LIMEN = str(Path(sys.executable).parent / "limen")


def _psql(sql: str, db: str = "postgres") -> str:
    return subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-qAt", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _prepare() -> None:
    if not _psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB}'"):
        _psql(f"CREATE DATABASE {DB}")
        subprocess.run(
            ["pgbench", "-i", "-q", "-s", "1", "-h", PG_HOST, "-U", "postgres", DB],
            check=True,
            capture_output=True,
        )


def _config(state: str) -> str:
    return f"""
[gateway]
state = "{state}"
state_dir = "state"
recordings = "recordings"
admin = "127.0.0.1:0"

[listeners]
postgres = "127.0.0.1:0"
proxy_protocol_from = ["127.0.0.1/32"]

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[resources]]
name = "{DB}"
protocol = "postgres"
upstream = "{PG_HOST}:{PG_PORT}"
database = "{DB}"
user = "postgres"

[[rules]]
name = "bench"
groups = ["bench"]
resources = ["{DB}"]
allow = ["read", "write"]
mask = ["builtin"]
"""


class Node:
    """One `limen serve` of the fleet: its listener and admin ports."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [LIMEN, "serve", "--config", str(config)],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stderr is not None
        self.port = self.admin = 0
        while not (self.port and self.admin):
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("limen serve exited before listening")
            event: dict[str, Any] = json.loads(line)
            if event.get("event") == "listening" and event.get("protocol") == "postgres":
                self.port = int(event["port"])
            elif event.get("event") == "admin_api":
                self.admin = int(str(event["url"]).rsplit(":", 1)[1].split("/", 1)[0])
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


def _pgbench(t: Target, clients: int, seconds: int) -> float | None:
    """``pgbench -S`` TPS; None when it failed or stalled (bounded: a stall
    of a peer is reported, never waited out)."""
    args = ["pgbench", "-n", "-S", "-c", str(clients), "-j", "2", "-T", str(seconds)]
    try:
        p = subprocess.run(
            args, env=t.conninfo_env(), capture_output=True, text=True, timeout=seconds + 30
        )
    except subprocess.TimeoutExpired:
        return None
    found = re.search(r"tps = ([0-9.]+)", p.stdout)
    return float(found.group(1)) if p.returncode == 0 and found else None


def _sessions_per_s(t: Target, threads: int, seconds: float) -> tuple[float, int]:
    """Sessions opened (connect, ``SELECT 1``, close) per second by
    ``threads`` psycopg clients, and how many attempts failed. (Not
    ``pgbench -C``: through HAProxy to pgbouncer it stalls here.)"""
    import psycopg

    password = f" password={t.password}" if t.password else ""
    dsn = (
        f"host={t.host} port={t.port} dbname={t.dbname} user={t.user}{password} "
        "sslmode=disable connect_timeout=5"
    )
    done = [0] * threads
    failed = [0] * threads
    deadline = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                done[i] += 1
            except psycopg.Error:
                failed[i] += 1

    started = time.monotonic()
    # Daemon threads joined with a bound: a session a peer stalls (no read
    # timeout in libpq) is counted failed, never waited out.
    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()) + 10)
    stuck = sum(1 for w in workers if w.is_alive())
    return sum(done) / (time.monotonic() - started), sum(failed) + stuck


def run(short: bool) -> dict[str, Any]:
    if not Path(HAPROXY).exists():
        raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
    seconds = 2 if short else 10
    _prepare()
    state_db = f"limen_bench_state_{secrets.token_hex(4)}"
    _psql(f'CREATE DATABASE "{state_db}"')
    work = Path(tempfile.mkdtemp(prefix="limen-bench-fleet-"))
    closers: list[Any] = []
    try:
        config = work / "limen.toml"
        config.write_text(_config(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{state_db}"))
        token = subprocess.run(
            [LIMEN, "token", "--config", str(config), "--sub", "bench", "--group", "bench"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        first = Node(config)  # the first start writes the recording key
        closers.append(first)
        second = Node(config)
        closers.append(second)
        limen_lb = HAProxy(work, [(first.port, first.admin), (second.port, second.admin)])
        closers.append(limen_lb)
        bouncers = [PgBouncer(DB), PgBouncer(DB)]
        closers.extend(bouncers)
        bouncer_lb = HAProxy(work, [(b.port, None) for b in bouncers])
        closers.append(bouncer_lb)
        targets = [
            Target("haproxy→2 limen", "127.0.0.1", limen_lb.port, "bench", DB, token,
                   env={"PGSSLMODE": "disable"}),
            Target("haproxy→2 pgbouncer", "127.0.0.1", bouncer_lb.port, "postgres", DB),
        ]  # fmt: skip
        rows: list[list[Any]] = []
        notes: list[str] = []
        figures: dict[str, dict[str, float]] = {}
        for t in targets:
            steady = _pgbench(t, 8, seconds)
            opened, failed = _sessions_per_s(t, 4, seconds)
            if steady is None:
                notes.append(f"pgbench -S via {t.name} failed or stalled")
            figures[t.name] = {"steady": steady or 0.0, "opened": opened}
            rows.append([t.name, steady or "failed", opened, opened / 2, failed])
    finally:
        for c in reversed(closers):
            c.close()
        shutil.rmtree(work, ignore_errors=True)
        _psql(f'DROP DATABASE IF EXISTS "{state_db}" WITH (FORCE)')
    lim, bou = figures[targets[0].name], figures[targets[1].name]

    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    return {
        "title": "a fleet of two behind HAProxy: pgbench -S, and sessions opened per second",
        "columns": [
            "target",
            "TPS (pgbench -S, 8 clients)",
            "sessions/s (4 clients)",
            "per node",
            "failed",
        ],
        "rows": rows,
        "ratios": {
            "fleet_tps_vs_pgbouncer": ratio(lim["steady"], bou["steady"]),
            "fleet_sessions_per_s_vs_pgbouncer": ratio(lim["opened"], bou["opened"]),
        },
        "notes": [
            *notes,
            "a failed session through pgbouncer here is one it stalled past connect_timeout "
            "(5 s) while sessions are opened back to back",
            "limen nodes: policy, builtin masking, signed recordings, a PostgreSQL state store "
            "(session index, fleet-wide limits), PROXY v2 from HAProxy; pgbouncer: session "
            "pooling, trust auth, no PROXY (it does not take one)",
        ],
    }


if __name__ == "__main__":
    print(json.dumps(run("--short" in sys.argv), indent=2))
