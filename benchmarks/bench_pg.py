"""PostgreSQL through a proxy: `pgbench -S` (simple and prepared, 1, 8 and
64 clients; extended, i.e. unnamed statements, at 1 and 8), a large
streamed SELECT, and two sessions at once (the p50/p99 of `SELECT 1` while
another session reads 50 MB of base64 as rows, and while it reads one
14.5 MB cell; the rows give the pings and the p50 and p99 in ms in the TPS
and latency columns), direct to PostgreSQL, through pgbouncer (session
pooling), and through limen (policy, masking and recording on) when the
gateway is available — twice: "limen" moves the bytes with the native pump
(the default), "limen-trio" with the Trio relay. The TLS pair runs in the
same run: "pgbouncer-tls" (``client_tls_sslmode = require``) and
"limen-tls" (a TLS listener, default relay), same certificate, clients
with ``sslmode=require``. The cells up to 8 clients run every target in
turn, so that each ratio compares runs seconds apart.

Reports TPS, added latency per query against direct, the proxy's CPU per
transaction (from /proc), and the ratios of each limen to pgbouncer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgpeers import PG_HOST, PG_PORT, PgBouncer, Target, cpu_seconds, make_cert
from twosession import CELL_SQL, read_all, run_pair
from twosession import prepare as prepare_b64

DB = "limen_bench"
CLIENTS = (1, 8, 64)
#: pgbench -M: "extended" sends Parse("", text) for every transaction (as
#: JDBC and many ORMs do), run at these client counts only.
MODES = ("simple", "prepared", "extended")
EXTENDED_CLIENTS = (1, 8)


def _psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-qAt", "-c", sql],
        check=True,
        capture_output=True,
    )


def _prepare() -> None:
    exists = subprocess.run(
        [
            "psql",
            "-h",
            PG_HOST,
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qAt",
            "-c",
            f"SELECT 1 FROM pg_database WHERE datname = '{DB}'",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not exists:
        _psql(f"CREATE DATABASE {DB}")
        subprocess.run(
            ["pgbench", "-i", "-q", "-s", "1", "-h", PG_HOST, "-U", "postgres", DB],
            check=True,
            capture_output=True,
        )


def _pgbench(t: Target, clients: int, mode: str, seconds: int) -> dict[str, float]:
    """One pgbench run; a run whose clients were cut off (another test on
    the shared server, say) is tried once more before it counts as failed."""
    try:
        return _pgbench_once(t, clients, mode, seconds)
    except RuntimeError as exc:
        print(f"  retrying once: {exc}", flush=True)
        return _pgbench_once(t, clients, mode, seconds)


def _pgbench_once(t: Target, clients: int, mode: str, seconds: int) -> dict[str, float]:
    cpu0 = cpu_seconds(t.pid) if t.pid else 0.0
    p = subprocess.run(
        [
            "pgbench",
            "-n",
            "-S",
            "-M",
            mode,
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
        ],
        env=t.conninfo_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0 or "tps = " not in p.stdout:
        raise RuntimeError(f"pgbench via {t.name} failed: {p.stderr.strip()[-400:]}")
    cpu = (cpu_seconds(t.pid) - cpu0) if t.pid else 0.0
    tps = float(re.search(r"tps = ([0-9.]+)", p.stdout).group(1))  # type: ignore[union-attr]
    lat = float(re.search(r"latency average = ([0-9.]+) ms", p.stdout).group(1))  # type: ignore[union-attr]
    tx = int(re.search(r"number of transactions actually processed: (\d+)", p.stdout).group(1))  # type: ignore[union-attr]
    return {
        "tps": tps,
        "latency_ms": lat,
        "cpu_us_per_tx": (cpu / tx * 1e6) if t.pid and tx else 0.0,
    }


def _rows_per_s(t: Target, sql: str, rows: int) -> float:
    return rows / read_all(t, sql)


def _big_select(t: Target, rows: int) -> float:
    return _rows_per_s(t, f"SELECT i, md5(i::text) FROM generate_series(1, {rows}) i", rows)


def _table_select(t: Target, rows: int) -> float:
    """Rows per second of a large SELECT of a table's column through an
    expression (the best of three runs: the machine is shared)."""
    sql = f"SELECT i, s || '' FROM {_big_table(rows)}"
    return max(_rows_per_s(t, sql, rows) for _ in range(3))


def _big_table(rows: int) -> str:
    return f"limen_big_{rows}"


def _prepare_big(rows: int) -> None:
    _psql(
        f"CREATE TABLE IF NOT EXISTS {_big_table(rows)} AS "
        f"SELECT i, md5(i::text) AS s FROM generate_series(1, {rows}) i",
        DB,
    )


def _column_mask(rows: int, plain: Target) -> tuple[list[list[Any]], dict[str, float]]:
    """The same large SELECT through limen (native pump) without and with a
    ``column:`` mask on the selected column (masked whole by its output
    plan: the expression is derived from it)."""
    _prepare_big(rows)
    from limen_bench_gateway import start_limen

    masked, handle = start_limen(DB, "native", (f"{_big_table(rows)}.s",))
    try:
        without = _table_select(plain, rows)
        with_mask = _table_select(masked, rows)
    finally:
        handle.close()
    label = f"SELECT {rows} table rows, s || ''"
    return (
        [
            [plain.name, label, without, "-", "-", "-"],
            [masked.name, label, with_mask, "-", "-", "-"],
        ],
        {"limen-colmask/limen rows/s": with_mask / without},
    )


def _limen_target(
    relay: str, tls: tuple[Path, Path] | None = None
) -> tuple[Target | None, Any, str | None]:
    import importlib.util

    if importlib.util.find_spec("limen.gateway") is None:
        return (
            None,
            None,
            "limen: the PostgreSQL gateway is not built yet; direct and pgbouncer only",
        )
    from limen_bench_gateway import start_limen

    target, handle = start_limen(DB, relay, tls=tls)
    return target, handle, None


def run(short: bool) -> dict[str, Any]:
    seconds = 2 if short else 10
    rows_big = 100_000 if short else 1_000_000
    _prepare()
    notes: list[str] = []
    targets = [Target("direct", PG_HOST, PG_PORT, "postgres", DB)]
    bouncer = PgBouncer(DB)
    targets.append(bouncer.target())
    cert_dir = Path(tempfile.mkdtemp(prefix="limen-bench-cert-"))
    cert_dir.chmod(0o755)
    cert = make_cert(cert_dir)
    bouncer_tls = PgBouncer(DB, tls=cert)
    targets.append(bouncer_tls.target())
    handles: list[Any] = []
    for relay, tls in (("native", None), ("trio", None), ("native", cert)):
        limen_target, limen_handle, note = _limen_target(relay, tls)
        if limen_target is not None:
            targets.append(limen_target)
            handles.append(limen_handle)
        if note:
            notes.append(note)
            break
    results: dict[str, dict[str, dict[str, float]]] = {}
    rows: list[list[Any]] = []
    try:
        for t in targets:
            results[t.name] = {}
        # Cell by cell up to 8 clients, every target in turn: a ratio then
        # compares runs a few seconds apart, not minutes (on a shared
        # machine the load moves in between).
        for mode in MODES:
            for clients in CLIENTS:
                if clients > 8 or (mode == "extended" and clients not in EXTENDED_CLIENTS):
                    continue
                for t in targets:
                    r = _pgbench(t, clients, mode, seconds)
                    results[t.name][f"{mode}/{clients}"] = r
        for t in targets:
            # pgbouncer closes the last target's idle server connections
            # (server_idle_timeout): 64 clients twice over would exceed
            # PostgreSQL's max_connections, so these go target by target.
            time.sleep(2)
            for mode in ("simple", "prepared"):
                for clients in (c for c in CLIENTS if c > 8):
                    # 64 clients spend the first seconds connecting.
                    r = _pgbench(t, clients, mode, seconds * 3)
                    results[t.name][f"{mode}/{clients}"] = r
            results[t.name]["big"] = {"rows_per_s": _big_select(t, rows_big)}
        limen = next((t for t in targets if t.name == "limen"), None)
        colmask: tuple[list[list[Any]], dict[str, float]] = ([], {})
        if limen is not None:
            try:
                colmask = _column_mask(rows_big, limen)
            except (subprocess.CalledProcessError, RuntimeError) as exc:
                notes.append(f"limen-colmask: the column-mask run failed ({exc})")
        prepare_b64(DB, 50)
        paired = [t for t in targets if t.name in ("direct", "pgbouncer", "limen")]
        pairs = {t.name: run_pair(t, 6 if short else 10) for t in paired}
        cells = {t.name: run_pair(t, 6 if short else 10, CELL_SQL) for t in paired}
        for t in targets:
            for key, r in results[t.name].items():
                if key == "big":
                    rows.append([t.name, f"SELECT {rows_big} rows", r["rows_per_s"], "-", "-", "-"])
                    continue
                added = (r["latency_ms"] - results["direct"][key]["latency_ms"]) * 1000
                rows.append(
                    [
                        t.name,
                        f"pgbench -S {key}",
                        r["tps"],
                        r["latency_ms"],
                        added if t.name != "direct" else "-",
                        r["cpu_us_per_tx"] if t.pid else "-",
                    ]
                )
        rows.extend(colmask[0])
    finally:
        bouncer.close()
        bouncer_tls.close()
        shutil.rmtree(cert_dir, ignore_errors=True)
        for h in handles:
            h.close()
    for name, pair in pairs.items():
        rows.append(
            [name, "SELECT 1 p50/p99 ms, idle", "-", pair["idle_p50"], pair["idle_p99"], "-"]
        )
        for what, p in (("50 MB base64 rows", pair), ("one 14.5 MB base64 cell", cells[name])):
            rows.append(
                [
                    name,
                    f"SELECT 1 p50/p99 ms, other session reads {what}",
                    p["pings"],
                    p["busy_p50"],
                    p["busy_p99"],
                    f"read {p['read_s']:.2f} s",
                ]
            )
    ratios: dict[str, float] = dict(colmask[1])
    if "limen" in pairs:
        ratios["two-session SELECT 1 p99 ms, limen - pgbouncer"] = (
            pairs["limen"]["busy_p99"] - pairs["pgbouncer"]["busy_p99"]
        )
        ratios["two-session (one cell) SELECT 1 p99 ms, limen - pgbouncer"] = (
            cells["limen"]["busy_p99"] - cells["pgbouncer"]["busy_p99"]
        )
    keys = [f"{m}/{c}" for c in (8, 1, 64) for m in ("simple", "prepared")]
    keys += [f"extended/{c}" for c in EXTENDED_CLIENTS]
    for key in keys:
        ratios[f"pgbouncer/direct tps {key}"] = (
            results["pgbouncer"][key]["tps"] / results["direct"][key]["tps"]
        )
        for name, peer in (
            ("limen", "pgbouncer"),
            ("limen-trio", "pgbouncer"),
            ("limen-tls", "pgbouncer-tls"),
        ):
            if name in results:
                ratios[f"{name}/{peer} tps {key}"] = (
                    results[name][key]["tps"] / results[peer][key]["tps"]
                )
    if "limen-tls" in results:
        for mode in MODES:
            key = f"{mode}/1"
            tls, peer = results["limen-tls"][key], results["pgbouncer-tls"][key]
            ratios[f"limen-tls - pgbouncer-tls added µs {key}"] = (
                tls["latency_ms"] - peer["latency_ms"]
            ) * 1000
    return {
        "title": "PostgreSQL through a proxy (TPS, latency, added µs per query, proxy CPU per tx)",
        "columns": [
            "target",
            "workload",
            "TPS or rows/s",
            "latency ms",
            "added µs",
            "proxy CPU µs/tx",
        ],
        "rows": rows,
        "ratios": ratios,
        "notes": notes,
    }
