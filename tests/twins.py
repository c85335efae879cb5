"""Twins: a statement with its integer and string constants replaced by
adversarial values, for the differential tests of decision reuse
(tests/test_gateway_pg_twins.py, tests/test_policy_templates.py).

The statements: the policy corpus (tests/policy_cases.toml), the
:data:`ADVERSARIAL` ones below (constants outside expressions: options,
function bodies, file names, settings, counts, type modifiers) and the SQL
examples in the classifier's docstrings.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

from limen import _native

__all__ = ["ADVERSARIAL", "INT_VALUES", "READER_RULE", "STRING_VALUES", "corpus", "twins"]

READER_RULE = """
[[rules]]
name = "reader"
groups = ["reader"]
resources = ["app"]
allow = ["read"]
"""
"""A rule for a read-only identity (group ``reader``), appended to
``gateway_pg_support.config_text``."""

ADVERSARIAL = [
    "EXPLAIN (ANALYZE 'off') DELETE FROM users_in",
    "EXPLAIN (ANALYZE 0) UPDATE users_in SET id = 1 WHERE id = 2",
    "EXPLAIN (ANALYZE false, VERBOSE 1) DELETE FROM users_in WHERE id = 1",
    "EXPLAIN (FORMAT 'json', ANALYZE 'no') INSERT INTO users_in VALUES (1, 'a')",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION f() RETURNS int LANGUAGE 'sql' AS 'SELECT 1'",
    "CREATE FUNCTION f() RETURNS void AS 'SELECT 1' LANGUAGE sql",
    "DO 'BEGIN NULL; END'",
    "DO LANGUAGE sql 'SELECT 1'",
    "COPY users_in TO STDOUT WITH (FORMAT 'csv', HEADER 'true')",
    "COPY users_in FROM STDIN WITH (FORMAT 'text')",
    "COPY users_in TO '/tmp/x'",
    "SET search_path = 'public'",
    "SET client_encoding = 'UTF8'",
    "SET client_encoding TO 'utf8'",
    "SET standard_conforming_strings = 'on'",
    "SET standard_conforming_strings = 1",
    "SET transaction_read_only = 'on'",
    "SET TIME ZONE 'UTC'",
    "SET application_name = 'x'",
    "SELECT set_config('application_name', 'x', false)",
    "SELECT current_setting('search_path')",
    "ALTER SYSTEM SET work_mem = '4MB'",
    "LOAD 'auto_explain'",
    "NOTIFY ch, 'payload'",
    "LISTEN ch",
    "PREPARE TRANSACTION 'gid'",
    "COMMENT ON TABLE users_in IS 'x'",
    "CREATE ROLE r PASSWORD 'secret'",
    "CREATE SEQUENCE s INCREMENT 5 START 1",
    "CREATE TABLE c (a varchar(10), b numeric(5, 2), d float(10))",
    "VACUUM (PARALLEL 2) users_in",
    "DECLARE c CURSOR FOR SELECT 1",
    "FETCH 5 FROM c",
    "SELECT * FROM users_in TABLESAMPLE system (10) REPEATABLE (1)",
    "SELECT 1 LIMIT 1 OFFSET 0",
    "SELECT interval '1' day, date '2020-01-01', 'x'::text, '1'::int",
    "DELETE FROM users_in WHERE 't'::bool",
    "DELETE FROM users_in WHERE 'f'::boolean",
    "DELETE FROM users_in WHERE 1 = 0",
    "DELETE FROM users_in WHERE 'a' = 'b' OR id = 1",
    "UPDATE users_in SET id = 1 WHERE NOT 'true'::bool",
    "UPDATE users_in SET id = 1 WHERE id + 1 = id + 2",
    "DELETE FROM users_in WHERE - 1 = 1",
    "SELECT * FROM users_in WHERE id = -1 AND email = 'x' FOR UPDATE",
    "SELECT 'a'\n'b'",
    "SELECT 1; SELECT 'x'",
    "MERGE INTO users_in u USING users s ON 1 = 1 WHEN MATCHED THEN DELETE",
    "MERGE INTO users_in u USING users s ON u.id = s.id WHEN MATCHED AND 1 = 0 THEN DELETE",
    "CREATE TABLE c AS SELECT 1 WITH NO DATA",
    "SELECT 2147483647, 2147483648, 99999999999999999999",
]
"""Statements whose constants sit where they may decide what runs."""

INT_VALUES = ["0", "1", "2", "2147483647", "2147483648", "99999999999999999999"]
STRING_VALUES = [
    "''",
    "'on'",
    "'off'",
    "'true'",
    "'false'",
    "'0'",
    "'1'",
    "'t'",
    "'plpgsql'",
    "'sql'",
    "'client_encoding'",
    "'LATIN1'",
    "'DELETE FROM users_in'",
    "'SELECT pg_terminate_backend(1)'",
    "'/tmp/y'",
]

_CONSTANT = re.compile(r"'(?:[^']|'')*'|(?<![\w.$])\d+(?![\w.])")
_DOC_SQL = re.compile(r"``([^`]+)``")


def _docstring_examples() -> list[str]:
    from pglast.parser import parse_sql_json

    from limen.policy import classifier

    texts = [classifier.__doc__ or "", classifier.classify.__doc__ or ""]
    out: list[str] = []
    for text in texts:
        for found in _DOC_SQL.findall(text):
            sql = " ".join(found.split())
            try:
                parse_sql_json(sql)
            except Exception:
                continue
            if sql not in out:
                out.append(sql)
    return out


def corpus() -> list[str]:
    """Every statement twins are made of (duplicates removed)."""
    path = Path(__file__).parent / "policy_cases.toml"
    cases = tomllib.loads(path.read_text(encoding="utf-8"))["cases"]
    out: list[str] = []
    for sql in [c["sql"] for c in cases] + ADVERSARIAL + _docstring_examples():
        if sql not in out:
            out.append(sql)
    return out


def _spans(sql: str) -> list[tuple[int, int]]:
    """Where the constants are: as the pump's shape lexer finds them, or
    (texts it gives up on) a rough scan."""
    data = sql.encode()
    found = _native.pg_shape_constants(data)
    if found is not None and data.isascii():
        return list(found)
    return [m.span() for m in _CONSTANT.finditer(sql)]


def twins(sql: str, limit: int) -> Iterator[str]:
    """Up to ``limit`` twins of ``sql``: one constant at a time replaced by
    each adversarial value (values of its own kind first: those share the
    statement's shape key), then every constant at once."""
    spans = _spans(sql)
    seen = {sql}
    made = 0
    rounds: list[list[tuple[int, str]]] = []
    for i, (a, _) in enumerate(spans):
        own = INT_VALUES if sql[a].isdigit() else STRING_VALUES
        other = STRING_VALUES if own is INT_VALUES else INT_VALUES
        rounds.append([(i, v) for v in own] + [(i, v) for v in other])
    for k in range(max((len(r) for r in rounds), default=0)):
        for r in rounds:
            if k >= len(r):
                continue
            i, value = r[k]
            a, b = spans[i]
            twin = sql[:a] + value + sql[b:]
            if twin not in seen:
                seen.add(twin)
                made += 1
                yield twin
            if made >= limit:
                return
    for value in ("0", "1", "'on'", "'off'"):
        twin = sql
        for a, b in reversed(spans):
            twin = twin[:a] + value + twin[b:]
        if twin not in seen and made < limit:
            seen.add(twin)
            made += 1
            yield twin
