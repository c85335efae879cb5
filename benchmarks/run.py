"""Run every benchmark in this folder side by side with its peers.

Each ``benchmarks/bench_*.py`` module defines ``run(short: bool) -> dict``
returning::

    {"title": str,                  # one line: what is compared
     "columns": [str, ...],         # table header
     "rows": [[value, ...], ...],   # one row per configuration
     "ratios": {name: float},       # the figures the issue targets
     "notes": [str, ...],           # optional: what was skipped and why
     "tables": [{...}, ...]}        # optional: more tables of the same shape

This script prints each as a table and writes all results to
``benchmarks/results/latest.json``. ``--short`` uses small inputs (what CI
runs); ``--only NAME`` runs the modules whose name contains NAME. A benchmark
that raises fails the run (exit 1); a slow figure never does.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return str(value)


def print_table(result: dict[str, Any]) -> None:
    columns = [str(c) for c in result["columns"]]
    rows = [[_fmt(v) for v in row] for row in result["rows"]]
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)
    ]
    print(f"\n## {result['title']}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(
            "  ".join(
                v.rjust(w) if i else v.ljust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    for name, ratio in result.get("ratios", {}).items():
        print(f"  ratio {name}: {ratio:.3f}")
    for note in result.get("notes", []):
        print(f"  note: {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="small inputs (CI)")
    parser.add_argument("--only", default="", help="run benchmarks whose name contains this")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()

    results: dict[str, Any] = {"short": args.short, "started": time.time(), "benchmarks": {}}
    failed = False
    for path in sorted(HERE.glob("bench_*.py")):
        if args.only and args.only not in path.stem:
            continue
        print(f"# {path.stem} ({'short' if args.short else 'full'})", flush=True)
        try:
            result = _load(path).run(args.short)
        except Exception:
            traceback.print_exc()
            failed = True
            continue
        results["benchmarks"][path.stem] = result
        print_table(result)
        for table in result.get("tables", []):
            print_table(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
