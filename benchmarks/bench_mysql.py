"""MariaDB through limen: sysbench ``oltp_read_only`` (Debian's sysbench,
server-side prepared statements as sysbench uses them by default, and the
text protocol with ``--db-ps-mode=disable``) at 1 and 8 threads, direct to
the local MariaDB, through HAProxy in TCP mode (``haproxy-tcp``: a layer-4
relay that only moves bytes, the floor of what any proxy costs on this
machine, where the proxy shares two cores with sysbench and MariaDB) and
through limen (policy, masking of every built-in detector and recording on)
on the native pump (``limen``, the default relay) and on the Trio relay
(``limen-trio``), in one run. Each configuration runs on every target one
after the other, so its ratios compare runs seconds apart.

Reports transactions and queries per second, the average latency per
transaction, the latency limen adds per query (from the queries-per-second
figures: 1/qps through limen - 1/qps direct, per thread), the relay's CPU
per transaction (from /proc), and the ratios limen/direct and
limen/haproxy-tcp per configuration.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from haproxypeer import HAProxy
from limen_bench_gateway import MYSQL_HOST, MYSQL_PORT
from pgpeers import Target, cpu_seconds

DB = "limen_bench"
TABLE_SIZE = 10_000


def _mariadb(sql: str) -> None:
    subprocess.run(
        ["mariadb", "-h", MYSQL_HOST, "-P", str(MYSQL_PORT), "-u", "root", "-e", sql],
        check=True,
        capture_output=True,
    )


def _sysbench_args(t: Target, threads: int, mode: str) -> list[str]:
    args = [
        "sysbench",
        "oltp_read_only",
        f"--mysql-host={t.host}",
        f"--mysql-port={t.port}",
        f"--mysql-user={t.user}",
        f"--mysql-db={t.dbname}",
        "--tables=1",
        f"--table-size={TABLE_SIZE}",
        f"--threads={threads}",
        f"--db-ps-mode={mode}",
    ]
    if t.password is not None:
        args.append(f"--mysql-password={t.password}")
    return args


def _prepare() -> None:
    _mariadb(f"CREATE DATABASE IF NOT EXISTS {DB}")
    direct = Target("direct", MYSQL_HOST, MYSQL_PORT, "root", DB)
    check = subprocess.run(
        [
            "mariadb",
            "-h",
            MYSQL_HOST,
            "-u",
            "root",
            "-N",
            "-e",
            f"SELECT COUNT(*) FROM {DB}.sbtest1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode == 0 and check.stdout.strip() == str(TABLE_SIZE):
        return
    _mariadb(f"DROP TABLE IF EXISTS {DB}.sbtest1")
    subprocess.run([*_sysbench_args(direct, 1, "auto"), "prepare"], check=True, capture_output=True)


def _run(t: Target, threads: int, mode: str, seconds: int) -> dict[str, float]:
    cpu0 = cpu_seconds(t.pid) if t.pid else 0.0
    p = subprocess.run(
        [*_sysbench_args(t, threads, mode), f"--time={seconds}", "run"],
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        raise RuntimeError(f"sysbench via {t.name} failed: {(p.stdout + p.stderr)[-600:]}")
    cpu = (cpu_seconds(t.pid) - cpu0) if t.pid else 0.0

    def grab(pattern: str) -> float:
        m = re.search(pattern, p.stdout)
        if m is None:
            raise RuntimeError(f"sysbench via {t.name}: no {pattern!r} in its output")
        return float(m.group(1))

    tx = grab(r"transactions:\s+(\d+)")
    errors = grab(r"ignored errors:\s+(\d+)")
    if errors:
        raise RuntimeError(f"sysbench via {t.name}: {errors:.0f} queries failed")
    return {
        "tps": grab(r"transactions:\s+\d+\s+\(([0-9.]+) per sec"),
        "qps": grab(r"queries:\s+\d+\s+\(([0-9.]+) per sec"),
        "latency_ms": grab(r"avg:\s+([0-9.]+)"),
        "cpu_us_per_tx": (cpu / tx * 1e6) if t.pid and tx else 0.0,
    }


def _limen(relay: str) -> tuple[Target | None, Any, str | None]:
    if importlib.util.find_spec("limen.gateway.mysql") is None:
        return None, None, "limen: the MySQL gateway is not built yet; direct only"
    from limen_bench_gateway import start_limen_mysql

    target, handle = start_limen_mysql(DB, relay=relay)
    return target, handle, None


def run(short: bool) -> dict[str, Any]:
    if shutil.which("sysbench") is None:
        raise RuntimeError("sysbench is not installed (apt-get install sysbench)")
    seconds = 3 if short else 15
    _prepare()
    notes: list[str] = []
    targets = [Target("direct", MYSQL_HOST, MYSQL_PORT, "root", DB)]
    handles = []
    configs = [(mode, threads) for mode in ("auto", "disable") for threads in (1, 8)]
    results: dict[str, dict[tuple[str, int], dict[str, float]]] = {}
    work: Path | None = None  # HAProxy's config
    try:
        if shutil.which("haproxy") is not None:
            work = Path(tempfile.mkdtemp(prefix="limen-bench-haproxy-"))
            lb = HAProxy(work, [(MYSQL_PORT, None)])
            handles.append(lb)
            targets.append(Target("haproxy-tcp", MYSQL_HOST, lb.port, "root", DB, pid=lb.pid))
        else:
            notes.append("haproxy is not installed (apt-get install haproxy): no layer-4 peer")
        for relay in ("native", "trio"):
            limen, handle, note = _limen(relay)
            if limen is not None:
                targets.append(limen)
                handles.append(handle)
            if note:
                notes.append(note)
                break
        for c in configs:
            for t in targets:
                results.setdefault(t.name, {})[c] = _run(t, c[1], c[0], seconds)
    finally:
        for h in handles:
            h.close()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    rows: list[list[Any]] = []
    ratios: dict[str, float] = {}
    for t in targets:
        for mode, threads in configs:
            r = results[t.name][(mode, threads)]
            d = results["direct"][(mode, threads)]
            label = f"oltp_read_only {'prepared' if mode == 'auto' else 'text'}/{threads}"
            added = "-"
            if t.name != "direct":
                # per query, per thread: the time a query takes more through limen
                added_us = (threads / r["qps"] - threads / d["qps"]) * 1e6
                added = f"{added_us:.0f}"
                ratios[f"{t.name}/direct {label} TPS"] = r["tps"] / d["tps"]
                ratios[f"{t.name}-direct {label} added us/query"] = added_us
                if t.name.startswith("limen") and "haproxy-tcp" in results:
                    hp = results["haproxy-tcp"][(mode, threads)]
                    ratios[f"{t.name}/haproxy-tcp {label} TPS"] = r["tps"] / hp["tps"]
            rows.append(
                [
                    t.name,
                    label,
                    r["tps"],
                    r["qps"],
                    r["latency_ms"],
                    added,
                    r["cpu_us_per_tx"] if t.pid else "-",
                ]
            )
    return {
        "title": (
            "MariaDB: sysbench oltp_read_only, direct vs HAProxy (TCP) vs limen"
            " (policy, masking, recording)"
        ),
        "columns": ["target", "run", "TPS", "QPS", "ms/tx", "added us/query", "CPU us/tx"],
        "rows": rows,
        "ratios": ratios,
        "notes": notes,
    }
