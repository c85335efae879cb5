"""Two sessions on one proxy: the latency of `SELECT 1` in one session while
another reads a large base64 result (about 50 MB) through the same proxy:
as about 48,000 rows, or as one cell (`string_agg` of the first rows: one
value of about 14.5 MB, masked whole; under the gateway's default 16 MiB
message cap).

A proxy that does heavy per-byte work (limen masks every value) on a thread
shared by all sessions would delay the small statement; the figure to watch
is the p99 of `SELECT 1` under that load, beside the same through pgbouncer.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from pgpeers import PG_HOST, PG_PORT, Target

TABLE = "bench_b64"
ROW_BYTES = 1040  # base64 of 768 random-looking bytes, with its newlines


def _psql(db: str, sql: str) -> str:
    return subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-qAt", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def prepare(db: str, megabytes: int) -> None:
    """A table of base64 text (about `megabytes` MB), made once."""
    rows = megabytes * 1_000_000 // ROW_BYTES
    have = _psql(db, f"SELECT count(*) FROM pg_class WHERE relname = '{TABLE}'")
    if have == "1" and _psql(db, f"SELECT count(*) FROM {TABLE}") == str(rows):
        return
    blocks = " || ".join(f"sha512((i || '-{k}')::bytea)" for k in range(12))
    _psql(db, f"DROP TABLE IF EXISTS {TABLE}")
    _psql(
        db,
        f"CREATE TABLE {TABLE} AS SELECT i, encode({blocks}, 'base64') AS v "
        f"FROM generate_series(1, {rows}) i",
    )


def read_all(t: Target, sql: str) -> float:
    """Seconds for psql to read the whole result of `sql` through `t`."""
    start = time.perf_counter()
    subprocess.run(
        ["psql", "-qAt", "-c", sql],
        env=t.conninfo_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return time.perf_counter() - start


ROWS_SQL = f"SELECT v FROM {TABLE}"
CELL_ROWS = 14_000
CELL_SQL = f"SELECT string_agg(v, '' ORDER BY i) FROM {TABLE} WHERE i <= {CELL_ROWS}"


def _reader(t: Target, reads: int, done: list[float], sql: str) -> None:
    for _ in range(reads):
        done.append(read_all(t, sql))


def _pings(t: Target, going: Callable[[], bool]) -> list[float]:
    import psycopg

    env = t.conninfo_env()
    lat: list[float] = []
    with psycopg.connect(
        host=t.host,
        port=t.port,
        user=t.user,
        dbname=t.dbname,
        password=t.password,
        sslmode=env.get("PGSSLMODE", "prefer"),
        autocommit=True,
    ) as conn:
        conn.execute("SELECT 1").fetchone()
        while going():
            start = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            lat.append(time.perf_counter() - start)
            time.sleep(0.002)
    return lat


def _p(lat: list[float], q: float) -> float:
    if not lat:
        return float("nan")
    ordered = sorted(lat)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_pair(t: Target, reads: int, sql: str = ROWS_SQL) -> dict[str, Any]:
    """`SELECT 1` alone, then while another session reads the table `reads`
    times (`sql`: its rows, or `CELL_SQL`: one cell); latencies in ms."""
    idle_end = time.perf_counter() + 1.0
    idle = _pings(t, lambda: time.perf_counter() < idle_end)
    done: list[float] = []
    reader = threading.Thread(target=_reader, args=(t, reads, done, sql))
    reader.start()
    try:
        busy = _pings(t, reader.is_alive)
    finally:
        reader.join()
    return {
        "idle_p50": _p(idle, 0.5),
        "idle_p99": _p(idle, 0.99),
        "busy_p50": _p(busy, 0.5),
        "busy_p99": _p(busy, 0.99),
        "busy_max": _p(busy, 1.0),
        "pings": len(busy),
        "read_s": min(done) if done else float("nan"),
    }


def main() -> None:
    """The two-session run alone, rows and one cell, limen beside pgbouncer
    (`python benchmarks/twosession.py [--short] [--cell] [--reads N]`)."""
    import sys

    from bench_pg import DB, _limen_target, _prepare
    from pgpeers import PgBouncer

    short = "--short" in sys.argv
    reads = 1 if short else 3
    if "--reads" in sys.argv:
        reads = int(sys.argv[sys.argv.index("--reads") + 1])
    variants = [("rows", ROWS_SQL), ("one cell", CELL_SQL)]
    if "--cell" in sys.argv:
        variants = variants[1:]
    _prepare()
    prepare(DB, 50)
    bouncer = PgBouncer(DB)
    targets = [bouncer.target()]
    limen, handle, note = _limen_target("native")
    if limen is not None:
        targets.append(limen)
    if note:
        print(note)
    try:
        for label, sql in variants:
            pairs = {t.name: run_pair(t, reads, sql) for t in targets}
            for name, r in pairs.items():
                print(
                    f"{label:<8} {name:<10} SELECT 1 ms idle p50 {r['idle_p50']:.2f} "
                    f"p99 {r['idle_p99']:.2f} | busy p50 {r['busy_p50']:.2f} "
                    f"p99 {r['busy_p99']:.2f} max {r['busy_max']:.2f} "
                    f"({r['pings']} pings), read {r['read_s']:.2f} s"
                )
            if "limen" in pairs:
                d = pairs["limen"]["busy_p99"] - pairs["pgbouncer"]["busy_p99"]
                print(f"{label:<8} busy p99 limen - pgbouncer: {d:+.2f} ms")
    finally:
        bouncer.close()
        if handle is not None:
            handle.close()


if __name__ == "__main__":
    main()
