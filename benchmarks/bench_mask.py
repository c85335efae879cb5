"""Masking throughput: limen one-shot and streaming (1, 16, 64 KiB chunks)
against Python's `re` (one alternation of the same patterns) and Hyperscan
(the `hyperscan` package, block mode), on the same corpus and detector set.

Work done differs and is reported: limen masks (finds start and end of
every leftmost match, validates candidates, writes the output); `re` finds
and substitutes without validators; Hyperscan only reports match ends
(start of match with SOM_LEFTMOST where the pattern compiles with it) to a
Python callback and writes nothing.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import generate
from limen.mask import Masker
from mask_classes import class_tables
from mask_classes import stream as _stream


def _best(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _hyperscan(patterns: list[bytes]) -> tuple[Any, str]:
    import hyperscan

    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    flags = [hyperscan.HS_FLAG_SOM_LEFTMOST] * len(patterns)
    try:
        db.compile(
            expressions=patterns,
            ids=list(range(len(patterns))),
            elements=len(patterns),
            flags=flags,
        )
        return db, "SOM_LEFTMOST"
    except Exception:
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(
            expressions=patterns,
            ids=list(range(len(patterns))),
            elements=len(patterns),
            flags=[0] * len(patterns),
        )
        return db, "no SOM (patterns too large for start-of-match tracking)"


def run(short: bool) -> dict[str, Any]:
    size = (8 if short else 64) * 1024 * 1024
    repeat = 1 if short else 3
    data, injected = generate(size)
    mb = len(data) / 1e6
    masker = Masker()
    patterns = [info.pattern.encode() for info in masker.detector_info()]
    notes: list[str] = [
        f"corpus {mb:.1f} MB, {injected} injected secrets, {len(patterns)} detectors"
    ]

    rows: list[list[Any]] = []
    results: dict[str, float] = {}

    one_shot = masker.mask(data)
    t = _best(lambda: masker.mask(data), repeat)
    results["limen one-shot"] = mb / t
    found = one_shot.count(b"[MASKED:")
    rows.append(["limen one-shot", mb / t, found])
    for kib in (1, 16, 64):
        out = _stream(masker, data, kib * 1024)
        assert out == one_shot, f"stream at {kib} KiB differs from one-shot"
        t = _best(lambda k=kib: _stream(masker, data, k * 1024), repeat)
        results[f"limen stream {kib} KiB"] = mb / t
        rows.append([f"limen stream {kib} KiB", mb / t, found])

    alternation = re.compile(b"|".join(b"(?:" + p + b")" for p in patterns))
    re_size = min(len(data), 4 * 1024 * 1024)  # re is slow: time a slice, report MB/s
    sample = data[:re_size]
    t = _best(lambda: alternation.sub(b"[MASKED]", sample), 1)
    results["python re"] = (re_size / 1e6) / t
    rows.append(["python re (sub)", results["python re"], len(alternation.findall(sample))])
    notes.append(f"python re timed on the first {re_size / 1e6:.1f} MB")

    db = None
    try:
        db, mode = _hyperscan(patterns)
        count = [0]

        def on_match(_id: int, _start: int, _end: int, _flags: int, _ctx: Any) -> None:
            count[0] += 1

        def scan() -> None:
            count[0] = 0
            db.scan(data, match_event_handler=on_match)

        t = _best(scan, repeat)
        results["hyperscan block"] = mb / t
        rows.append([f"hyperscan block ({mode})", mb / t, count[0]])
        t_nocb = _best(lambda: db.scan(data), repeat)
        results["hyperscan block, no callback"] = mb / t_nocb
        rows.append(["hyperscan block, no callback", mb / t_nocb, "-"])
    except Exception as exc:  # the peer failing to build is reported, not hidden
        notes.append(f"hyperscan unavailable: {type(exc).__name__}: {exc}")

    ratios = {
        "one-shot / python re": results["limen one-shot"] / results["python re"],
        "stream 16 KiB / one-shot": results["limen stream 16 KiB"] / results["limen one-shot"],
    }
    if "hyperscan block" in results:
        ratios["one-shot / hyperscan block"] = (
            results["limen one-shot"] / results["hyperscan block"]
        )
        ratios["one-shot / hyperscan block, no callback"] = (
            results["limen one-shot"] / results["hyperscan block, no callback"]
        )
    tables = class_tables(short, alternation, db)
    return {
        "tables": tables,
        "title": "masking throughput (MB/s, higher is better)",
        "columns": ["engine", "MB/s", "matches"],
        "rows": rows,
        "ratios": ratios,
        "notes": notes,
    }
