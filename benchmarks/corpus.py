"""A deterministic corpus for the masking benchmarks: psql-style query
results, JSON API responses and application logs, with secrets and personal
data injected at a known rate (one in ``secret_every`` records)."""

from __future__ import annotations

import json
import random
import string
import uuid

SECRETS = [
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
    "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "postgresql://app:s3cr3t-pw@db.internal:5432/app",
    "4111 1111 1111 1111",
    "123-45-6789",
    "DE89 3704 0044 0532 0130 00",
    "+44 20 7946 0958",
    'password="hunter2-prod"',
    "Authorization: Bearer 9f8e7d6c5b4a39281706abcdef",
]
WORDS = [
    "the",
    "gateway",
    "session",
    "query",
    "result",
    "row",
    "column",
    "table",
    "index",
    "value",
    "status",
    "ok",
    "request",
    "response",
    "handler",
    "worker",
    "retry",
    "timeout",
    "deploy",
    "build",
    "test",
    "commit",
    "staging",
    "production",
    "cache",
    "miss",
    "hit",
    "user",
    "order",
    "invoice",
    "payment",
    "shipped",
]


def _word(rng: random.Random) -> str:
    return rng.choice(WORDS)


def _ident(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=n))


def generate(size: int, *, seed: int = 1, secret_every: int = 20) -> tuple[bytes, int]:
    """Returns (corpus, number of injected secrets)."""
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    injected = 0
    record = 0
    while total < size:
        record += 1
        secret = None
        if record % secret_every == 0:
            secret = rng.choice(SECRETS)
            injected += 1
        kind = record % 3
        if kind == 0:  # a psql result row
            cells = [
                str(rng.randint(1, 10**6)),
                f"{_word(rng)} {_word(rng)}",
                f"{rng.random() * 1000:.2f}",
                f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
                f"10:{rng.randint(0, 59):02d}:00",
                secret or f"{_ident(rng, 32)}",
            ]
            line = " " + " | ".join(cells) + "\n"
        elif kind == 1:  # a JSON API response
            doc = {
                "id": rng.randint(1, 10**9),
                "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                "status": _word(rng),
                "items": [{"sku": _ident(rng, 6), "qty": rng.randint(1, 9)} for _ in range(3)],
                "note": secret or " ".join(_word(rng) for _ in range(6)),
            }
            line = json.dumps(doc) + "\n"
        else:  # a log line
            msg = " ".join(_word(rng) for _ in range(rng.randint(4, 12)))
            line = (
                f"2026-11-26T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}Z INFO "
                f"req={_ident(rng, 16)} {msg}"
                + (f" {secret}" if secret else f" sha={rng.getrandbits(160):040x}")
                + "\n"
            )
        out.append(line)
        total += len(line)
    return "".join(out).encode(), injected
