"""The classifier against statements that try to slip past it
(tests/policy_cases.toml), plus properties that hold for any text."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pglast.parser import parse_sql_json

from limen.config import load_config_data
from limen.identity import Identity
from limen.policy import (
    HARMLESS,
    SEVERITY,
    UNKNOWN,
    Policy,
    classify,
    classify_uncached,
    most_dangerous,
)
from limen.policy.classifier import CACHE_MAX_TEXT

CASES: list[dict[str, Any]] = tomllib.loads(
    (Path(__file__).parent / "policy_cases.toml").read_text(encoding="utf-8")
)["cases"]


def _id(case: dict[str, Any]) -> str:
    return case["sql"][:60] or "<empty>"


def test_the_suite_is_large_and_well_formed() -> None:
    assert len(CASES) >= 120
    for case in CASES:
        assert case["class"] in SEVERITY, case
        assert set(case) <= {"sql", "class", "classes", "tables"}, case
        if "classes" in case:
            assert most_dangerous(case["classes"]) == case["class"], case
    # every class is exercised
    assert {case["class"] for case in CASES} == set(SEVERITY)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_case(case: dict[str, Any]) -> None:
    result = classify_uncached(case["sql"])
    detail = f"{sorted(result.classes)} {result.commands} why={result.why!r}"
    assert result.klass == case["class"], detail
    if "classes" in case:
        assert result.classes == frozenset(case["classes"]), detail
    if "tables" in case:
        assert result.tables == frozenset(case["tables"]), sorted(result.tables)
    assert result.statements, "every classification describes at least one statement"
    for stmt in result.statements:
        assert stmt.classes, stmt
        assert stmt.why, stmt
    if result.klass == UNKNOWN:
        assert result.error


def test_cached_and_uncached_agree() -> None:
    for case in CASES:
        assert classify(case["sql"]) == classify_uncached(case["sql"])
    # a repeated text is served from the cache: the very same object
    assert classify("SELECT 42") is classify("SELECT 42")
    long = "SELECT 1" + " " * CACHE_MAX_TEXT
    assert classify(long) is not classify(long)  # too long to cache
    assert classify(long).klass == "read"


def test_multi_statement_takes_the_most_dangerous() -> None:
    result = classify("SELECT 1; UPDATE t SET a = 1 WHERE id = 1; GRANT ALL ON t TO x; SELECT 2")
    assert result.klass == "admin"
    assert [s.command for s in result.statements] == ["SELECT", "UPDATE", "GRANT", "SELECT"]
    assert [s.klass for s in result.statements] == ["read", "write", "admin", "read"]


def test_parse_errors_never_quote_the_statement() -> None:
    for sql in (
        "SELECT 'hunter2' 'sw0rdfish'",
        "CREATE ROLE x WITH hunter2",
        "SELEC hunter2 FROM t",
        "SELECT 'unterminated hunter2",
        'SELECT "hunter2',
    ):
        result = classify(sql)
        assert result.klass == UNKNOWN
        assert result.error is not None
        assert "hunter2" not in result.error
        assert "sw0rdfish" not in result.error
        assert "character" in result.error  # says where


def test_nul_and_surrogates_are_unknown() -> None:
    assert classify("SELECT 1\x00; DROP TABLE x").klass == UNKNOWN
    assert classify("SELECT '\ud800'").klass == UNKNOWN


def test_prepare_and_execute_are_described() -> None:
    result = classify("PREPARE p AS DELETE FROM t WHERE id = $1; EXECUTE p(1)")
    prepare, execute = result.statements
    assert prepare.prepares == "p"
    assert prepare.classes == {"write"}
    assert execute.executes == ("p",)
    assert execute.classes == {UNKNOWN}
    assert execute.resolve({"p": frozenset({"write"})}) == {"write"}
    assert execute.resolve({}) == {UNKNOWN}


def test_functions_not_known_harmless_are_listed() -> None:
    result = classify("SELECT lower(a), app.f(b), nextval('s') FROM t")
    assert result.statements[0].functions == {"app.f", "nextval"}


def test_deeply_nested_input_is_classified_or_unknown() -> None:
    for depth in (100, 1000, 10_000):
        sql = "SELECT " + "(" * depth + "1" + ")" * depth
        assert classify(sql).klass in ("read", UNKNOWN)
        sql = "SELECT " + "-" * depth + "1"
        assert classify(sql).klass in ("read", UNKNOWN)
        sql = "SELECT " + "ARRAY[" * depth + "pg_read_file('x')" + "]" * depth
        assert classify(sql).klass in ("admin", UNKNOWN)


SQLISH = st.lists(
    st.sampled_from(
        [
            "SELECT",
            "DELETE",
            "FROM",
            "WHERE",
            "t",
            "1",
            "'",
            '"',
            "$$",
            "$a$",
            ";",
            "(",
            ")",
            "/*",
            "*/",
            "--",
            "\n",
            "pg_read_file",
            "U&",
            "\\",
            "E'",
            ",",
            "INTO",
            "COPY",
            "PROGRAM",
            "EXPLAIN",
            "ANALYZE",
            "WITH",
            "AS",
            "=",
            "true",
        ]
    ),
    max_size=30,
).map(" ".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), SQLISH))
def test_random_text_never_raises(sql: str) -> None:
    result = classify_uncached(sql)
    assert result.classes
    assert result.klass in SEVERITY
    assert (result.error is not None) == (UNKNOWN in result.classes)
    for stmt in result.statements:
        assert stmt.classes <= set(SEVERITY)
    if result.klass == HARMLESS:
        assert all(s.klass == HARMLESS for s in result.statements)


EVERYTHING_BUT_UNKNOWN = Policy(
    load_config_data(
        {
            "resources": [{"name": "db", "protocol": "postgres", "upstream": "127.0.0.1:5432"}],
            "rules": [
                {
                    "name": "all-named",
                    "groups": ["ci"],
                    "resources": ["db"],
                    "allow": ["read", "write", "unbounded-write", "ddl", "admin"],
                }
            ],
        }
    )
)
BOT = Identity(
    subject="bot", groups=("ci",), issuer="test", expires_at=None, token_id=None, method="dev"
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), SQLISH))
def test_whatever_the_parser_rejects_is_unknown_and_denied(sql: str) -> None:
    try:
        parse_sql_json(sql)
        parsed = "\x00" not in sql
    except Exception:
        parsed = False
    decision = EVERYTHING_BUT_UNKNOWN.decide(BOT, "db", sql)
    if not parsed:
        assert classify(sql).klass == UNKNOWN
        assert decision.action == "deny"
        assert decision.klass == UNKNOWN
    else:
        assert decision.action == ("deny" if UNKNOWN in decision.classes else "allow")
