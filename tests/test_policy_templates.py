"""The template cache: a statement seen before with other literals is not
walked again, and a classification that depended on a literal's value is
never reused for other literals."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen.policy import classify, classify_uncached
from limen.policy import classify as classify_module

CASES: list[dict[str, Any]] = tomllib.loads(
    (Path(__file__).parent / "policy_cases.toml").read_text(encoding="utf-8")
)["cases"]


def _clear() -> None:
    mod = classify_module.__module__
    import sys

    m = sys.modules[mod]
    m._classify_cached.cache_clear()  # type: ignore[attr-defined]
    m._TEMPLATES.clear()  # type: ignore[attr-defined]


def test_other_literals_reuse_the_walk() -> None:
    _clear()
    first = classify("SELECT abalance FROM pgbench_accounts WHERE aid = 12345")
    again = classify("SELECT abalance FROM pgbench_accounts WHERE aid = 678")
    assert again is first  # the same object: found by template, not walked
    # a literal of another type is another template
    other = classify("SELECT abalance FROM pgbench_accounts WHERE aid = 'x''y'")
    assert other is not first
    assert other.classes == first.classes
    different = classify("SELECT abalance FROM pgbench_tellers WHERE tid = 1")
    assert different is not first
    assert different.tables == frozenset({"pgbench_tellers"})


# Pairs that differ only in literal values and must classify differently.
PAIRS = [
    ("DELETE FROM t WHERE true", "DELETE FROM t WHERE false"),
    ("DELETE FROM t WHERE 1 = 1", "DELETE FROM t WHERE 1 = 2"),
    ("UPDATE t SET a = 1 WHERE 'a' = 'a'", "UPDATE t SET a = 1 WHERE 'a' = 'b'"),
    ("DELETE FROM t WHERE NOT false", "DELETE FROM t WHERE NOT true"),
    ("DELETE FROM t WHERE a + 1 = a + 1", "DELETE FROM t WHERE a + 1 = a + 2"),
    ("SET client_encoding = 'UTF8'", "SET client_encoding = 'LATIN1'"),
    ("SET standard_conforming_strings = on", "SET standard_conforming_strings = off"),
    ("DELETE FROM t WHERE 't'::bool", "DELETE FROM t WHERE 'f'::bool"),
]


@pytest.mark.parametrize(("a", "b"), PAIRS)
@pytest.mark.parametrize("order", ["ab", "ba"])
def test_literal_dependent_classifications_are_not_shared(a: str, b: str, order: str) -> None:
    assert classify_uncached(a).classes != classify_uncached(b).classes, "a meaningful pair"
    _clear()
    first, second = (a, b) if order == "ab" else (b, a)
    classify(first)
    assert classify(second).classes == classify_uncached(second).classes


def _vary(sql: str) -> str:
    """The same statement with other digits in it (other literals, mostly)."""
    return re.sub(r"[0-9]", lambda m: str((int(m.group()) + 1) % 10), sql)


def test_every_case_agrees_after_its_variant_was_classified_first() -> None:
    _clear()
    for case in CASES:
        classify(_vary(case["sql"]))
    mismatches = []
    for case in CASES:
        got, want = classify(case["sql"]), classify_uncached(case["sql"])
        if (got.classes, got.tables) != (want.classes, want.tables):
            mismatches.append((case["sql"], sorted(got.classes), sorted(want.classes)))
    assert mismatches == []


_TEMPLATE_EXTRA = [
    "SELECT 'it''s', E'a\\\\b\\'c', $$dollar \"A_Const\":{\"ival\":1}$$, U&'\\0041', B'101', X'ff'",
    'SELECT \'"location":12\', "quoted ""ident""" FROM t WHERE x = -5 AND y = 1.5e10',
    "SELECT true, false, NULL, 'multi\nline', '{\"json\": [1, 2]}'::jsonb",
    "INSERT INTO t VALUES (1, 'é', '\\', '\"', '}', '{', ',')",
    "SELECT 1; SELECT 2; UPDATE t SET a = 'x' WHERE b IN (1, 2, 3)",
]


@pytest.mark.parametrize("source", ["cases", "extra"])
def test_native_template_equals_the_regular_expressions(source: str) -> None:
    from pglast.parser import parse_sql_json

    sqls = [c["sql"] for c in CASES] if source == "cases" else _TEMPLATE_EXTRA
    m = __import__(classify_module.__module__, fromlist=["_template"])
    checked = 0
    for sql in sqls:
        try:
            tree = parse_sql_json(sql)
        except Exception:  # unparseable cases have no tree
            continue
        assert m._template(tree) == m.template_reference(tree), sql
        checked += 1
    assert checked >= len(sqls) // 2


_PIECES = [
    '"A_Const":{"',
    "ival",
    "sval",
    "boolval",
    '":{',
    '"sval":',
    '"location":',
    '"stmt_len":',
    '"arg_location":',
    '"rexpr_list_start":',
    '"list_end":',
    "location",
    "-",
    "12",
    "}",
    "{",
    '"',
    "\\",
    ",",
    "x",
    "é",
    "\n",
]


# Keys are ASCII in real parse trees; beyond ASCII, Python's \w and the
# native scanner may differ on exotic characters, so the text stays near ASCII.
_ANY = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=3)


@given(st.lists(st.sampled_from(_PIECES) | _ANY, max_size=40))
@settings(max_examples=500, deadline=None)
def test_native_template_equals_the_regular_expressions_on_any_text(parts: list[str]) -> None:
    m = __import__(classify_module.__module__, fromlist=["_template"])
    text = "".join(parts)
    assert m._template(text) == m.template_reference(text)


# --- the pump's shape key ------------------------------------------------------------

_SHAPE_PIECES = [
    "SELECT ",
    " FROM t",
    " WHERE ",
    "a",
    "b1",
    "=",
    " ",
    "'",
    "''",
    "--",
    "/*",
    "*/",
    "\n",
    "(",
    ")",
    ",",
    ";",
    "::int",
    "E",
    "U&",
    "-",
    ".",
    "$1",
    " AND ",
    " IN ",
    '"',
    " LIMIT ",
    "\\",
    "é",
    "_",
    "e",
    "x",
]
_STRING_CHARS = "ab '-;/*\n\\é$\"x1."


@st.composite
def _shape_pair(draw: st.DrawFn) -> tuple[str, str]:
    """Two texts that differ only in the values of constants put in the same
    places (whatever the surrounding pieces make of them)."""
    a: list[str] = []
    b: list[str] = []
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["piece", "piece", "int", "big", "str"]))
        if kind == "piece":
            p = draw(st.sampled_from(_SHAPE_PIECES))
            a.append(p)
            b.append(p)
        elif kind == "int":
            a.append(str(draw(st.integers(0, 2**31 - 1))))
            b.append(str(draw(st.integers(0, 2**31 - 1))))
        elif kind == "big":
            a.append(str(draw(st.integers(2**31, 10**15))))
            b.append(str(draw(st.integers(2**31, 10**15))))
        else:
            for side in (a, b):
                text = draw(st.text(alphabet=_STRING_CHARS, max_size=6))
                side.append("'" + text.replace("'", "''") + "'")
    return "".join(a), "".join(b)


def _tree_template(sql: str) -> str | None:
    from pglast.parser import parse_sql_json

    m = __import__(classify_module.__module__, fromlist=["_template"])
    try:
        return str(m._template(parse_sql_json(sql)))
    except Exception:
        return None


@given(_shape_pair())
@settings(max_examples=3000, deadline=None)
def test_a_shared_shape_key_means_a_shared_parse_tree_template(pair: tuple[str, str]) -> None:
    """The soundness of the pump's shape cache: texts with the same shape
    key parse to the same template (or both fail to parse)."""
    from limen import _native

    a, b = pair
    key_a, key_b = _native.pg_shape_key(a.encode()), _native.pg_shape_key(b.encode())
    if key_a is None or key_a != key_b:
        return
    assert _tree_template(a) == _tree_template(b), (a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "SELECT abalance FROM pgbench_accounts WHERE aid = 1;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = 2147483647;",
        ),
        (
            "UPDATE t SET s = 'x', n = 0 WHERE id IN (1, 2)",
            "UPDATE t SET s = 'it''s', n = 7 WHERE id IN (3, 4)",
        ),
        ("SELECT 'a'\n'b'", "SELECT 'c'\n'd'"),
        ("SELECT -5, 9999999999", "SELECT -6, 1234567890123"),
    ],
)
def test_shape_examples(a: str, b: str) -> None:
    from limen import _native

    assert _native.pg_shape_key(a.encode()) is not None
    assert _native.pg_shape_key(a.encode()) == _native.pg_shape_key(b.encode())
    assert _tree_template(a) == _tree_template(b)
