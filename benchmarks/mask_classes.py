"""Content classes for the masking benchmark: ordinary text, encoded blobs,
numbers, and repetitive near-misses of every detector (what makes a
backtracking or restarting scanner slow). Each generator is deterministic
and returns exactly `size` bytes."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from limen.mask import Masker

B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
HEX = b"0123456789abcdef"
DIGITS = b"0123456789"


def _alphabet(size: int, alphabet: bytes, seed: int, line: int = 0) -> bytes:
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    raw = random.Random(seed).randbytes(size).translate(table)
    if not line:
        return raw
    return b"\n".join(raw[i : i + line] for i in range(0, size, line))[:size]


def _repeat(unit: bytes, size: int) -> bytes:
    return (unit * (size // len(unit) + 1))[:size]


def _lines(size: int, make: Callable[[random.Random], str]) -> bytes:
    rnd = random.Random(7)
    parts: list[str] = []
    n = 0
    while n < size:
        s = make(rnd)
        parts.append(s)
        n += len(s)
    return "".join(parts).encode()[:size]


WORDS = [
    "the",
    "gateway",
    "masks",
    "secret",
    "values",
    "in",
    "results",
    "and",
    "a",
    "key",
    "for",
    "each",
    "session",
]


def _prose(r: random.Random) -> str:
    return " ".join(r.choice(WORDS) for _ in range(12)) + ".\n"


def _log(r: random.Random) -> str:
    return (
        f"2026-11-26T10:20:{r.randrange(60):02}.123Z INFO req={r.getrandbits(64):016x} "
        f"user=u{r.randrange(1000)}@example.com handled in {r.randrange(500)}ms\n"
    )


def _json(r: random.Random) -> str:
    return (
        f'{{"id": {r.randrange(100000)}, "status": "shipped", '
        f'"price": {r.randrange(1000)}.{r.randrange(100):02}, "sku": "ab{r.randrange(65536):x}"}}\n'
    )


def _json_escaped(r: random.Random) -> str:
    # Log text inside JSON strings: escapes (\n, \t, \", \u00e9) every few words.
    words = " ".join(r.choice(WORDS) for _ in range(6))
    return (
        f'{{"msg": "{words}\\n\\tat line {r.randrange(999)}\\n'
        f'caf\\u00e9 \\"{r.choice(WORDS)}\\"", "n": {r.randrange(100)}}}\n'
    )


def _csv(r: random.Random) -> str:
    return (
        f"{r.randrange(10**6)},{r.randrange(10**12)},{r.randrange(1000)}.{r.randrange(1000)},"
        f"{r.getrandbits(63)}\n"
    )


def _groups(r: random.Random) -> str:
    return "".join(f"{r.randrange(10000):04}{r.choice(' -')}" for _ in range(16))


def _jwt_no_dots(r: random.Random) -> str:
    return "eyJ" + "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(40))


CLASSES: dict[str, Callable[[int], bytes]] = {
    "prose": lambda n: _lines(n, _prose),
    "logs": lambda n: _lines(n, _log),
    "json": lambda n: _lines(n, _json),
    "json with escapes": lambda n: _lines(n, _json_escaped),
    "csv of numbers": lambda n: _lines(n, _csv),
    "random base64 (76-column lines)": lambda n: _alphabet(n, B64, 1, 76),
    "random base64 (one line)": lambda n: _alphabet(n, B64, 2),
    "random hex": lambda n: _alphabet(n, HEX, 3),
    "long digit run": lambda n: _alphabet(n, DIGITS, 4),
    "digit groups": lambda n: _lines(n, _groups),
    "single digits, spaced": lambda n: _repeat(b"1 2 3 4 5 6 7 8 9 0 ", n),
    "dotted numbers": lambda n: _repeat(b"1.2.3.4.", n),
    "key prefixes without a body": lambda n: _repeat(
        b"AKIA ghp_ sk-ant-api03- xoxb- glpat- AIza sk_live_ github_pat_ eyJ ", n
    ),
    "key prefixes glued": lambda n: _repeat(b"sk-proj-sk-ghp_AKIAAIza", n),
    "assignments to code": lambda n: _repeat(b"password = next_token(); token: ", n),
    "emails without a domain": lambda n: _repeat(b"alice@ bob.smith@ x@y ", n),
    "emails glued": lambda n: _repeat(b"a@a.", n),
    "JWT-like segments without dots": lambda n: _lines(n, _jwt_no_dots),
    "PEM headers without an end": lambda n: _repeat(
        b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n", n
    ),
    "URLs without credentials": lambda n: _repeat(b"https://user:pass https://a:b/ ftp://x:", n),
    "phone-like numbers": lambda n: _repeat(b"+1 234 +44 20 79 ", n),
    "IBAN-like groups": lambda n: _repeat(b"DE89 3704 0044 0532 0130 00XX GB12 ", n),
    "bearer without a token": lambda n: _repeat(b"Bearer abc Authorization: Basic ", n),
}


def _mbps(fn: Callable[[], object], size: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return size / 1e6 / best


def _cpu_mbps(fn: Callable[[], object], size: int, repeat: int) -> float:
    """Like `_mbps` by this thread's CPU time (user + system, so page
    faults count): on a shared machine a 16 MiB call is preempted far more
    often than a 1 MiB one, which wall time charges to the masker."""
    best = float("inf")
    for _ in range(repeat):
        t = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t)
    return size / 1e6 / max(best, 1e-9)


def stream(masker: Masker, data: bytes, chunk: int) -> bytes:
    """Masks `data` through a stream fed `chunk` bytes at a time."""
    s = masker.stream()
    view = memoryview(data)
    parts = [s.feed(view[i : i + chunk]) for i in range(0, len(data), chunk)]
    parts.append(s.finish())
    return b"".join(parts)


def class_tables(short: bool, alternation: Any, hs_db: Any) -> list[dict[str, Any]]:
    """One row per content class (limen one-shot, streaming, with user and
    column rules; Python `re` and Hyperscan on the same patterns), and the
    growth check (one-shot MB/s at 1, 4 and 16 MiB)."""
    size = (1 if short else 4) << 20
    repeat = 1 if short else 3
    re_size = 256 << 10  # re is slow on some classes: time a slice
    plain = Masker()
    ruled = Masker(
        rules=[
            {"name": "ticket", "regex": r"TICKET-[0-9]{4,12}"},
            {"name": "codewords", "words": ["bluebird", "x-ray"], "case_insensitive": True},
        ],
        columns=["users.ssn", "payments.card"],
    )
    rows: list[list[Any]] = []
    slowest = ("", float("inf"))
    lowest_vs_re = float("inf")
    for name, make in CLASSES.items():
        data = make(size)
        cold = _mbps(lambda d=data: Masker().mask(d), size, 1)  # a new masker: DFA states built
        one = plain.mask(data)
        assert stream(plain, data, 64 << 10) == one, f"{name}: stream differs from one-shot"
        ruled.mask(data)  # warmed like `plain` above; the cold figure is its own column
        row: list[Any] = [name]
        for value in (
            _mbps(lambda d=data: plain.mask(d), size, repeat),
            _mbps(lambda d=data: stream(plain, d, 64 << 10), size, repeat),
            _mbps(lambda d=data: ruled.mask(d), size, repeat),
        ):
            row.append(value)
            if value < slowest[1]:
                slowest = (name, value)
        sample = data[:re_size]
        re_mbps = _mbps(lambda s=sample: alternation.sub(b"[MASKED]", s), re_size, 1)
        row.append(re_mbps)
        row.append(row[1] / re_mbps)
        lowest_vs_re = min(lowest_vs_re, row[1] / re_mbps)
        row.append(_mbps(lambda d=data: hs_db.scan(d), size, repeat) if hs_db else "-")
        row.append(cold)
        rows.append(row)
    growth: list[list[Any]] = []
    fell: list[str] = []
    for name, make in CLASSES.items():
        figures = []
        cpu = []
        for mib in (1, 4, 16):
            data = make(mib << 20)
            # The first call at a new size pays the allocator's first touch of
            # fresh pages for the output (page faults, not masking work): warm.
            plain.mask(data)
            figures.append(_mbps(lambda d=data: plain.mask(d), len(data), 3))
            cpu.append(_cpu_mbps(lambda d=data: plain.mask(d), len(data), 3))
        ratio = figures[2] / figures[0]
        cpu_ratio = cpu[2] / cpu[0]
        if max(ratio, cpu_ratio) < 0.7:
            fell.append(f"{name} ({ratio:.2f} wall, {cpu_ratio:.2f} CPU)")
        growth.append([name, *figures, ratio, cpu_ratio])
    return [
        {
            "title": f"masking by content class, {size >> 20} MiB each (MB/s, higher is better)",
            "columns": [
                "class",
                "limen one-shot",
                "limen stream 64 KiB",
                "limen + rules",
                "python re",
                "one-shot / re",
                "hyperscan",
                "limen first pass, new masker",
            ],
            "rows": rows,
            "ratios": {
                f"slowest limen figure ({slowest[0]}) MB/s": slowest[1],
                "lowest limen one-shot / python re": lowest_vs_re,
            },
            "notes": [
                f"python re timed on the first {re_size >> 10} KiB of each class",
                "limen + rules: two user rules (regex, words) and two column rules",
                "limen columns are warm (the masker has seen the class once); the last column "
                "is a new masker built and run once (construction, then lazy DFA states built)",
            ],
        },
        {
            "title": "growth check: limen one-shot MB/s by input size (must not fall)",
            "columns": ["class", "1 MiB", "4 MiB", "16 MiB", "16 / 1", "16 / 1 by CPU time"],
            "rows": growth,
            "ratios": {
                "lowest 16 MiB / 1 MiB": min(r[4] for r in growth),
                "lowest 16 MiB / 1 MiB by CPU time": min(r[5] for r in growth),
            },
            "notes": [
                f"fell with size: {', '.join(fell)}" if fell else "none fell with size",
                "MB/s columns are wall time; the last column divides MB/s by the masking "
                "thread's CPU time (user + system, page faults included), which a loaded "
                "machine's preemption does not skew; a class fell if both ratios are under 0.7",
            ],
        },
    ]
