"""The output-column derivation (limen.policy.columns / colplan) without a
database: a catalog snapshot by hand, the taint of each output column of
many statement forms, refusals, session state (cursors, prepared
statements, created views), and a property: any expression composed
around a masked column is masked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from limen.policy.colplan import ColumnPlanner, Snapshot
from limen.policy.taint import Refusal, Relation

RELATIONS = {
    ("public", "users"): Relation("public", "users", "r", ("id", "name", "secret", "pin")),
    ("public", "t"): Relation("public", "t", "r", ("id", "x")),
    ("public", "v"): Relation(
        "public", "v", "v", ("id", "s"), "SELECT users.id, upper(users.secret) AS s FROM users"
    ),
    ("pg_catalog", "pg_stats"): Relation(
        "pg_catalog", "pg_stats", "v", ("attname", "most_common_vals")
    ),
    ("pg_catalog", "pg_class"): Relation("pg_catalog", "pg_class", "r", ("oid", "relname")),
}
RULES = frozenset({"users.secret", "users.pin"})


def planner(deny: frozenset[str] = frozenset()) -> ColumnPlanner:
    return ColumnPlanner(Snapshot(dict(RELATIONS), ["public"], RULES), deny)


def masked(sql: str, p: ColumnPlanner | None = None) -> list[list[tuple[object, list[str]]]]:
    """Per statement: (position, derived from) of each masked column."""
    plan = (p or planner()).plan(sql)
    return [
        [(pos, taint) for pos, _label, taint in (o.columns() if o is not None else [])]
        for o in plan.outputs
    ]


SECRET = ["users.secret"]


@pytest.mark.parametrize(
    ("sql", "expect"),
    [
        ("SELECT secret || '' FROM users", [(1, SECRET)]),
        ("SELECT id, upper(secret) FROM users u", [(2, SECRET)]),
        ("SELECT string_agg(secret, ',') FROM users", [(1, SECRET)]),
        ("SELECT (SELECT secret FROM users LIMIT 1)", [(1, SECRET)]),
        ("SELECT u::text FROM users u", [(1, ["users.pin", "users.secret"])]),
        ("SELECT (u).secret, (u).id FROM users u", [(1, SECRET)]),
        ("SELECT id FROM users UNION SELECT pin FROM users", [(1, ["users.pin"])]),
        ("SELECT * FROM users, t", [(3, SECRET), (4, ["users.pin"])]),
        ("SELECT * FROM users JOIN t USING (id)", [(3, SECRET), (4, ["users.pin"])]),
        ("SELECT t.*, u.* FROM users u JOIN t USING (id)", [(5, SECRET), (6, ["users.pin"])]),
        ("TABLE users", [(3, SECRET), (4, ["users.pin"])]),
        ("SELECT s FROM v", [(1, SECRET)]),
        ("WITH c AS (SELECT secret s FROM users) SELECT 1, s FROM c", [(2, SECRET)]),
        ("SELECT l.s FROM users, LATERAL (SELECT secret s) l", [(1, SECRET)]),
        ("SELECT my_fn(1)", [(1, ["?function my_fn"])]),
        ("SELECT most_common_vals FROM pg_stats", [(1, ["?statistics pg_stats"])]),
        ("SELECT * FROM nowhere", [("*", ["?relation nowhere"])]),
        ("SELECT relname FROM pg_class", []),
        ("SELECT count(*), u.id FROM users u GROUP BY u.id", []),
        ("UPDATE users SET name = 'x' WHERE id = 1 RETURNING secret", [(1, SECRET)]),
        (
            "WITH RECURSIVE r(a, b) AS (SELECT 1, secret FROM users UNION ALL "
            "SELECT 2, a::text FROM r) SELECT b FROM r",
            [(1, SECRET)],
        ),
    ],
)
def test_output_columns(sql: str, expect: list[tuple[object, list[str]]]) -> None:
    assert masked(sql) == [expect]


def test_two_uncounted_runs_mask_every_column() -> None:
    plan = planner().plan("SELECT * FROM nowhere a JOIN elsewhere b ON a.x = b.y, users")
    out = plan.outputs[0]
    assert out is not None
    relay = out.relay()
    assert relay[4] == b"[MASKED:column:users.pin]"  # every column
    assert relay[6]  # and its messages scrubbed


def test_cursors_prepared_statements_and_created_views() -> None:
    p = planner()
    assert masked("DECLARE c CURSOR FOR SELECT id, secret FROM users", p) == [[]]
    assert masked("FETCH 2 FROM c", p) == [[(2, SECRET)]]
    assert masked("FETCH 1 FROM other", p) == [[("*", ["?cursor other"])]]
    masked("PREPARE q AS SELECT pin FROM users", p)
    assert masked("EXECUTE q", p) == [[(1, ["users.pin"])]]
    masked("CREATE VIEW w AS SELECT lower(secret) AS l, id FROM users", p)
    assert masked("SELECT * FROM w", p) == [[(1, SECRET)]]
    masked("CREATE TABLE fresh (a int, b text)", p)
    assert masked("SELECT * FROM fresh", p) == [[]]
    assert not p.plan("FETCH 2 FROM c").cacheable
    assert not p.plan("SELECT * FROM v").cacheable  # views can change
    assert p.plan("SELECT id FROM users").cacheable


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t SELECT id, secret FROM users",
        "UPDATE t SET x = (SELECT secret FROM users LIMIT 1) WHERE id = 1",
        "CREATE TABLE z AS SELECT secret FROM users",
        "SELECT secret INTO z2 FROM users",
        "COPY users TO STDOUT (FORMAT binary)",
        "SELECT pg_notify('c', secret) FROM users",
        "ALTER TABLE users RENAME TO u2",
        "ALTER TABLE users RENAME COLUMN secret TO open",
    ],
)
def test_refused(sql: str) -> None:
    with pytest.raises(Refusal):
        planner().plan(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE users SET secret = upper(secret) WHERE id = 1",
        "INSERT INTO users (id, secret) SELECT id + 10, secret FROM users",
        "COPY (SELECT id FROM users) TO STDOUT (FORMAT binary)",
        "COPY users TO STDOUT (FORMAT csv, HEADER)",
    ],
)
def test_allowed(sql: str) -> None:
    planner().plan(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM users WHERE secret = 'a'",
        "SELECT id FROM users ORDER BY pin",
        "SELECT count(*) FROM users GROUP BY secret",
        "SELECT a.id FROM users a JOIN users b ON a.secret = b.secret",
        "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM users WHERE pin > 5)",
        "SELECT row_number() OVER (ORDER BY secret) FROM users",
    ],
)
def test_mask_predicates_deny(sql: str) -> None:
    with pytest.raises(Refusal, match="filters, joins, orders or groups"):
        planner(RULES).plan(sql)
    planner().plan(sql)  # allowed without the option


WRAPS = [
    "upper({})",
    "({}) || 'x'",
    "({})::text",
    "coalesce({}, 'a')",
    "substr({}, 1, 2)",
    "(SELECT {})",
    "CASE WHEN true THEN {} END",
    "ARRAY[{}]",
    "jsonb_build_object('a', {})",
    "row({}, 1)",
    "format('%s', {})",
    "max({})",
]
LEAVES = ["secret", "u.secret", "(u).secret", "u", "u.*::text", "pin"]
SHAPES = [
    "SELECT 1, {} FROM users u",
    "SELECT q.x FROM (SELECT {} AS x FROM users u) q",
    "WITH w AS (SELECT {} AS x FROM users u) SELECT * FROM w",
    "SELECT 'c' UNION ALL SELECT {} FROM users u",
    "SELECT * FROM (SELECT {} FROM users u) q(x)",
]


@given(
    st.sampled_from(LEAVES),
    st.lists(st.sampled_from(WRAPS), max_size=5),
    st.sampled_from(SHAPES),
)
def test_composed_expressions_are_masked(leaf: str, wraps: list[str], shape: str) -> None:
    expr = leaf
    for w in wraps:
        expr = w.format(expr)
    sql = shape.format(expr)
    plan = planner().plan(sql)
    out = plan.outputs[0]
    assert out is not None
    derived = [taint for _, _, taint in out.columns()]
    assert derived, sql
    assert any(set(t) & RULES for t in derived), sql
