"""Session recording throughput: limen.recording against raw sequential writes.

Baseline ("raw"): the same payload objects written with ``f.write`` from
Python to a file in the same folder, through a buffered file whose buffer is
the writer's flush threshold (256 KiB), then flushed and fsynced: the same
bytes of payload, the same disk, the same language layer. The writer adds 60
bytes of framing per record, a BLAKE3 checksum, the hash chain and the
signed trailer ("hashed"), plus AES-256-GCM in batches ("encrypted").
Both sides end with an fsync, so each figure includes getting the bytes to
the disk. 64 B records are also appended in batches of 1024 per call
(``append_many``): per-call Python overhead, not the format, bounds the
single-append figure there. The Rust-only figures are in the crate's
criterion bench (``cargo bench -p limen-record``).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from limen import recording

FLUSH = 256 << 10
SIZES = (64, 4096, 65536)


def _payloads(size: int, total: int) -> list[bytes]:
    pool = [os.urandom(size) for _ in range(64)]
    n = max(1, total // size)
    return [pool[i % 64] for i in range(n)]


def _raw(path: Path, payloads: list[bytes]) -> None:
    with open(path, "wb", buffering=FLUSH) as f:
        for p in payloads:
            f.write(p)
        f.flush()
        os.fsync(f.fileno())


def _writer(path: Path, recipient: bytes | None) -> recording.SessionWriter:
    return recording.SessionWriter(
        path,
        session_id="bench",
        identity="bench",
        resource="bench",
        protocol="postgres",
        signing_key=SIGNING_KEY,
        recipient=recipient,
        flush_bytes=FLUSH,
    )


def _limen(recipient: bytes | None, many: bool) -> Callable[[Path, list[bytes]], None]:
    def run(path: Path, payloads: list[bytes]) -> None:
        w = _writer(path, recipient)
        if many:
            for i in range(0, len(payloads), 1024):
                w.append_many("u2c", payloads[i : i + 1024])
        else:
            append = w.append
            for p in payloads:
                append("u2c", p)
        w.close()

    return run


SIGNING_KEY = recording.generate_signing_key()


def _best(fn: Callable[[Path, list[bytes]], None], payloads: list[bytes], repeat: int) -> float:
    best = float("inf")
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as d:
        for i in range(repeat):
            path = Path(d) / f"run{i}.log"
            t0 = time.perf_counter()
            fn(path, payloads)
            best = min(best, time.perf_counter() - t0)
            path.unlink()
    return best


def run(short: bool) -> dict[str, Any]:
    total = (16 if short else 128) << 20
    repeat = 2 if short else 3
    recipient = recording.generate_recipient_key().public
    rows: list[list[Any]] = []
    ratios: dict[str, float] = {}
    for size in SIZES:
        payloads = _payloads(size, total)
        n = len(payloads)
        mb = n * size / 1e6
        modes: list[tuple[str, Callable[[Path, list[bytes]], None]]] = [
            ("raw f.write", _raw),
            ("limen hashed", _limen(None, many=False)),
            ("limen encrypted", _limen(recipient, many=False)),
        ]
        if size == 64:
            modes.append(("limen hashed, append_many", _limen(None, many=True)))
            modes.append(("limen encrypted, append_many", _limen(recipient, many=True)))
        raw_s = 0.0
        for name, fn in modes:
            secs = _best(fn, payloads, repeat)
            if name.startswith("raw"):
                raw_s = secs
            ratio = raw_s / secs
            rows.append([f"{size} B", name, n, mb / secs, n / secs, ratio])
            label = f"{size}B {name.removeprefix('limen ')}"
            if not name.startswith("raw"):
                ratios[f"{label} / raw"] = ratio
            if size == 64 and not name.startswith("raw"):
                ratios[f"{label} Mrecords/s"] = n / secs / 1e6
    return {
        "title": "session recording: limen.recording vs raw sequential writes (payload MB/s)",
        "columns": ["record", "writer", "records", "MB/s", "records/s", "x raw"],
        "rows": rows,
        "ratios": ratios,
        "notes": [
            f"{total >> 20} MiB of payload per run, best of {repeat}, fsync included; "
            "targets: 4096B hashed >= 0.8x raw, encrypted >= 0.6x, 64B >= 1M records/s",
            "raw = Python f.write of the same payload objects, 256 KiB buffer, fsync at end",
            "limen runs two threads (appending: framing, most BLAKE3 payload digests, "
            "AES-GCM; I/O: the other digests, chain links, write), raw one: with the second "
            "core busy (other builds), limen's ratios drop",
        ],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(short=True), indent=2))
