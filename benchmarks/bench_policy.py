"""Statement policy: limen's classifier and decisions against PostgreSQL's
parser alone.

Baselines: ``pglast.parse_sql`` (libpg_query plus pglast's Python AST — what
a classifier built on pglast's AST would start from) and
``pglast.parser.parse_sql_json`` (libpg_query's parse to JSON text, which
limen decodes with msgspec and walks). Rows: statements per second over a
mixed corpus — uncached classification (parse + walk every time), cached
classification (the LRU by statement text), and whole decisions with
``Policy.decide`` and ``SessionPolicy.decide`` on cached text (rule
evaluation included), with the rules of ``examples/limen.toml``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pglast
from pglast.parser import parse_sql_json

from limen.config import load_config
from limen.identity import Identity
from limen.policy import Policy, SessionPolicy, classify, classify_uncached

CORPUS = [
    "SELECT 1",
    "SELECT id, email, name FROM users WHERE id = $1",
    "SELECT u.id, u.email, lower(u.name) FROM users u JOIN orders o ON o.user_id = u.id "
    "WHERE o.total > 100 AND o.created_at > now() - interval '7 days' "
    "ORDER BY o.created_at DESC LIMIT 50",
    "INSERT INTO events (kind, payload, at) VALUES ($1, $2, now()) RETURNING id",
    "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
    "DELETE FROM sessions WHERE expires_at < now()",
    "WITH recent AS (SELECT user_id, count(*) AS n FROM orders "
    "WHERE created_at > now() - interval '1 day' GROUP BY user_id) "
    "SELECT u.email, r.n FROM users u JOIN recent r ON r.user_id = u.id WHERE r.n > 3",
    "BEGIN",
    "COMMIT",
    "SELECT pg_catalog.pg_read_file('/etc/passwd')",
    "CREATE TABLE tmp_report AS SELECT * FROM orders WHERE total > 1000",
    "COPY (SELECT * FROM users) TO STDOUT WITH (FORMAT csv, HEADER)",
]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "limen.toml"


def _rate(fn: Callable[[str], object], rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for sql in CORPUS:
            fn(sql)
    return rounds * len(CORPUS) / (time.perf_counter() - start)


def run(short: bool) -> dict[str, Any]:
    rounds = 200 if short else 2000
    config = load_config(EXAMPLE)
    identity = Identity(
        subject="bench",
        groups=("ci",),
        issuer="bench",
        expires_at=None,
        token_id=None,
        method="dev",
    )
    policy = Policy(config)
    session = SessionPolicy(policy, identity, "staging")
    for sql in CORPUS:  # warm the cache
        classify(sql)

    parse_ast = _rate(pglast.parse_sql, rounds)
    parse_json = _rate(parse_sql_json, rounds)
    uncached = _rate(classify_uncached, rounds)
    cached = _rate(classify, rounds * 10)
    decide = _rate(lambda sql: policy.decide(identity, "staging", sql), rounds * 5)
    session_decide = _rate(session.decide, rounds * 5)
    rows = [
        ["pglast.parse_sql (baseline)", parse_ast, 1e6 / parse_ast],
        ["pglast parse_sql_json", parse_json, 1e6 / parse_json],
        ["classify, uncached", uncached, 1e6 / uncached],
        ["classify, cached", cached, 1e6 / cached],
        ["Policy.decide, cached text", decide, 1e6 / decide],
        ["SessionPolicy.decide, cached text", session_decide, 1e6 / session_decide],
    ]
    return {
        "title": "Statement policy (statements/s): limen classifier vs pglast parsing alone",
        "columns": ["what", "statements/s", "µs/statement"],
        "rows": rows,
        "ratios": {
            "classify_uncached_vs_parse_sql": uncached / parse_ast,
            "classify_uncached_vs_parse_json": uncached / parse_json,
            "classify_cached_vs_uncached": cached / uncached,
            "decide_cached_vs_parse_sql": decide / parse_ast,
        },
        "notes": [
            f"{len(CORPUS)} statements (reads, writes, DDL, admin, transaction control), "
            f"{rounds} rounds uncached",
        ],
    }
