"""MySQL text shapes (limen.policy.mysql.shape, limen_pump::mysql::shape):
the differential of the shape cache against the Python judge.

- The shape lexer and limen's MySQL lexer agree: every text with a shape
  has its constants exactly where the MySQL lexer finds NUMBER and STRING
  tokens (both backslash modes).
- A decision the judge marks for its shape (``cache_shape``, what the pump
  caches under the shape key) is, for every twin of the statement (other
  constants of the same kinds), the decision and the very event a fresh
  judge gives that twin on its own.
- A shape's classification is the text's own: judged by shape or as
  itself, the same classes and tables (the seal sends every text whose
  constants the classifier reads back to its own text).
- Adversarial MySQL syntax has no shape, or is not reusable by shape.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limen import _native
from limen.policy.classes import DANGERS
from limen.policy.mysql import DANGERS as CLASSIFIER_DANGERS
from limen.policy.mysql import classify_mysql
from limen.policy.mysql.lexer import NUMBER, STRING, tokenize
from limen.policy.mysql.session import MySqlSessionPolicy
from limen.policy.mysql.shape import canonical
from mysql_judge_support import MARIADB, config, query, relay_types, rule, session

pytestmark = pytest.mark.usefixtures("relay_types")
__all__ = ["relay_types"]

RULES = {
    "read": rule(name="read", allow=["read"]),
    "write": rule(name="write", allow=["read", "write"]),
    "everything": rule(
        name="everything",
        allow=["read", "write", "unbounded-write", "ddl", "admin", "unknown", *DANGERS],
    ),
}

#: Statements with constants (their twins are made below), adversarial first.
CORPUS = [
    "SELECT c FROM sbtest1 WHERE id=5023",
    "SELECT c FROM sbtest1 WHERE id BETWEEN 4985 AND 5084",
    "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 100",
    "SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
    "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
    "SELECT name FROM users WHERE id = 1",
    "SELECT name FROM `users` WHERE `id` = 1 AND note = 'x'",
    "SELECT name FROM users WHERE id = 1 LIMIT 10",
    "SELECT 'a', 1, -2, _utf8 'x'",
    "SELECT 1 = 1",
    "UPDATE users SET name = 'x' WHERE id = 1",
    "UPDATE users SET name = 'x' WHERE 1 = 1",
    "UPDATE users SET name = 'x' WHERE id + 1 = id + 1",
    "UPDATE users SET name = 'x' WHERE id + 1 = id + 2",
    "DELETE FROM users WHERE 'a' = 'a'",
    "DELETE FROM users WHERE 'a' = 'b'",
    "DELETE FROM users WHERE id = 5",
    "DELETE FROM users WHERE 5 = 5 OR id = 2",
    "INSERT INTO users (id, name) VALUES (1, 'x')",
    "REPLACE INTO users (id, name) VALUES (1, 'x')",
    "SET sql_mode = 'NO_BACKSLASH_ESCAPES'",
    "SET sql_mode = 'ANSI_QUOTES'",
    "SET GLOBAL max_connections = 10",
    "SET SESSION wait_timeout = 100",
    "SET STATEMENT max_statement_time = 1 FOR SELECT 1",
    "PREPARE p FROM 'DROP TABLE users'",
    "PREPARE p FROM 'SELECT 1'",
    "EXECUTE IMMEDIATE 'SELECT 1'",
    "EXECUTE IMMEDIATE 'DROP TABLE users'",
    "SELECT 'sleep'(5)",
    "SELECT id FROM users INTO OUTFILE '/tmp/x'",
    "LOAD DATA INFILE '/etc/passwd' INTO TABLE users",
    "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE users",
    "SELECT name FROM users WHERE id = 1 FOR UPDATE",
    "EXPLAIN SELECT name FROM users WHERE id = 1",
    "ANALYZE SELECT name FROM users WHERE id = 1",
    "DO 1",
    "SELECT SLEEP(1)",
    "SELECT BENCHMARK(1000000, MD5('x'))",
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT INTERVAL '1' DAY + NOW()",
    "SELECT DATE '2020-01-01'",
    "SELECT CAST('1' AS SIGNED)",
    "SELECT * FROM users ORDER BY 1",
    "SELECT * FROM users GROUP BY 1 HAVING COUNT(*) > 1",
    "KILL 5",
    "CREATE TABLE t (a INT DEFAULT 5)",
    "DROP TABLE users",
    "GRANT SELECT ON shop.* TO 'x'",
    "USE shop",
    "SELECT 'limen_c0', 1000000000",
    # no shape at all
    "SELECT 1 /*! , (SELECT 1 FROM users) */",
    "SELECT 1 /*!50000 ; DROP TABLE users */",
    "SELECT 1 /*M! ; DROP TABLE users */",
    "SELECT 1 # ; DROP TABLE users",
    "SELECT 1 -- ; DROP TABLE users",
    "SELECT 'a\\' ; DROP TABLE users; -- '",
    "SELECT 0x41",
    "SELECT b'101'",
    "SELECT _utf8'x'",
    "SELECT N'x'",
    "SELECT X'41'",
    'SELECT "a"',
    "SELECT 1; DROP TABLE users",
    "SELECT @a := 1",
    "SELECT 1e5, 1.5",
    "SELECT `a``b` FROM users",
]


def _twins(sql: str) -> list[str]:
    """``sql`` with its constants replaced (every int by one value, every
    string by one value), when it has a shape."""
    spans = _native.mysql_shape_constants(sql.encode())
    if spans is None:
        return []
    ints = ["0", "1", "2", "99999999999999999999", "1000000000"]
    strings = ["''", "'x'", "'a'", "'it''s'", "'SELECT 1; DROP TABLE users'", "'limen_c0'"]
    strings += ["'NO_BACKSLASH_ESCAPES'", "'/*! DROP */'", "'-- x'", "'sleep'"]
    out = []
    for n in range(max(len(ints), len(strings))):
        parts, last = [], 0
        for i, (a, b, is_string) in enumerate(spans):
            parts.append(sql[last:a])
            pool = strings if is_string else ints
            parts.append(pool[(n + i) % len(pool)])
            last = b
        parts.append(sql[last:])
        out.append("".join(parts))
    return out


def _lexer_spans(sql: str, backslash: bool) -> list[tuple[int, int]]:
    return [
        (t.start, t.end)
        for s in tokenize(sql, server=MARIADB, backslash_escapes=backslash)
        for t in s
        if t.kind in (NUMBER, STRING)
    ]


def _check_lexers(sql: str) -> None:
    spans = _native.mysql_shape_constants(sql.encode("utf-8", "surrogateescape"))
    if spans is None:
        return
    for backslash in (True, False):
        assert _lexer_spans(sql, backslash) == [(a, b) for a, b, _ in spans], sql


def test_the_lexers_agree_on_the_corpus_and_its_twins() -> None:
    for sql in CORPUS:
        for text in [sql, *_twins(sql)]:
            _check_lexers(text)
            found = canonical(text)
            if found is not None:
                _check_lexers(found[0])


def test_adversarial_syntax_has_no_shape() -> None:
    start = CORPUS.index("SELECT 1 /*! , (SELECT 1 FROM users) */")
    for sql in CORPUS[start:]:
        assert _native.mysql_shape_constants(sql.encode()) is None, sql


def _decision(sql: str, rules: str, tmp_path: Path) -> tuple[object, ...]:
    """A fresh judge's verdict on ``sql`` alone: its decision event."""
    s = session(config(rules, tmp_path))
    v = s.judge.command(0, query(sql))
    events = [p for k, p in s.recorder.records if k == "event"]
    return (v.reply is None, events[-1] if events else b"")


@pytest.mark.parametrize("rules", sorted(RULES))
def test_a_decision_cached_by_shape_is_each_twin_s_own(rules: str, tmp_path: Path) -> None:
    warm = session(config(RULES[rules], tmp_path))
    shaped = 0
    for sql in CORPUS:
        for text in [sql, *_twins(sql)]:
            v = warm.judge.command(0, query(text))
            if not v.cache_shape:
                continue
            shaped += 1
            assert v.cache_event is not None
            for twin in _twins(sql):
                forwarded, event = _decision(twin, RULES[rules], tmp_path)
                assert forwarded, (text, twin)
            assert event == v.cache_event, (text, twin)
    assert shaped >= 10


def _own(sql: str) -> tuple[frozenset[str], frozenset[str]]:
    found = classify_mysql(sql, server=MARIADB)
    return found.classification.classes - CLASSIFIER_DANGERS, found.classification.tables


def _by_shape(sql: str, tmp_path: Path) -> tuple[frozenset[str], frozenset[str]]:
    s = session(config(RULES["read"], tmp_path))
    policy = s.judge.policy
    assert isinstance(policy, MySqlSessionPolicy)
    c = policy.classify_text(sql)
    return c.classes - CLASSIFIER_DANGERS, c.tables


def test_judged_by_shape_or_as_itself_alike(tmp_path: Path) -> None:
    for sql in CORPUS:
        for text in [sql, *_twins(sql)]:
            assert _by_shape(text, tmp_path) == _own(text), text


def test_what_reads_a_constant_is_not_reusable_by_shape(tmp_path: Path) -> None:
    s = session(config(RULES["everything"], tmp_path))
    policy = s.judge.policy
    for sql in [
        "SET sql_mode = 'ANSI_QUOTES'",
        "PREPARE p FROM 'SELECT 1'",
        "EXECUTE IMMEDIATE 'SELECT 1'",
        "SELECT 'sleep'(5)",
        "UPDATE users SET name = 'x' WHERE id + 1 = id + 2",
        "DELETE FROM users WHERE 'a' = 'b'",
    ]:
        assert not policy.classify_text(sql).shape_reusable, sql
    for sql in ["SELECT c FROM sbtest1 WHERE id=5023", "DELETE FROM users WHERE id = 5"]:
        assert policy.classify_text(sql).shape_reusable, sql


# --- generated statements ---------------------------------------------------------

_INT = st.integers(min_value=0, max_value=10**22).map(str)
_STR = st.text(alphabet=st.sampled_from("ab '\\;#-*/!xDROP"), max_size=8).map(
    lambda t: "'" + t.replace("\\", "").replace("'", "''") + "'"
)
_CONST = st.one_of(_INT, _STR)
_COL = st.sampled_from(["id", "name", "`note`", "k", "id + 1", "LOWER(name)"])
_OP = st.sampled_from(["=", "<>", "<", ">=", "LIKE"])


@st.composite
def _statement(draw: st.DrawFn) -> str:
    left = draw(st.one_of(_COL, _CONST))
    right = draw(st.one_of(_COL, _CONST))
    cond = f"{left} {draw(_OP)} {right}"
    if draw(st.booleans()):
        cond += f" AND {draw(_COL)} {draw(_OP)} {draw(_CONST)}"
    kind = draw(st.sampled_from(["select", "update", "delete", "insert", "set"]))
    if kind == "select":
        return f"SELECT {draw(_COL)}, {draw(_CONST)} FROM users WHERE {cond} LIMIT {draw(_INT)}"
    if kind == "update":
        return f"UPDATE users SET name = {draw(_CONST)} WHERE {cond}"
    if kind == "delete":
        return f"DELETE FROM users WHERE {cond}"
    if kind == "insert":
        return f"INSERT INTO users (id, name) VALUES ({draw(_INT)}, {draw(_STR)})"
    return f"SET {draw(st.sampled_from(['sql_mode', 'wait_timeout', '@@x']))} = {draw(_CONST)}"


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=_statement(), seed=st.integers(min_value=0, max_value=50))
def test_generated_twins_get_their_own_decision(first: str, seed: int, tmp_path: Path) -> None:
    _check_lexers(first)
    warm = session(config(RULES["write"], tmp_path))
    v = warm.judge.command(0, query(first))
    twins = _twins(first)
    if not twins:
        return
    twin = twins[seed % len(twins)]
    _check_lexers(twin)
    forwarded, event = _decision(twin, RULES["write"], tmp_path)
    if v.cache_shape:
        assert forwarded, (first, twin)
        assert event == v.cache_event, (first, twin)
    # and judged by shape or as itself, alike
    assert _by_shape(twin, tmp_path)[1] == _own(twin)[1]


def test_no_placeholder_leaks_into_a_decision(tmp_path: Path) -> None:
    s = session(config(RULES["read"], tmp_path))
    for sql in CORPUS:
        s.judge.command(0, query(sql))
    events = [p for k, p in s.recorder.records if k == "event"]
    for payload in events:
        assert not re.search(rb"limen_c[1-9]|100000000[1-9]", payload), payload
