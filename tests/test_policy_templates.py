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

from limen.policy import classifier, classify, classify_uncached, nodes
from twins import INT_VALUES, STRING_VALUES, corpus

CASES: list[dict[str, Any]] = tomllib.loads(
    (Path(__file__).parent / "policy_cases.toml").read_text(encoding="utf-8")
)["cases"]


def _clear() -> None:
    classifier._classify_cached.cache_clear()
    classifier._TEMPLATES.clear()


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
    checked = 0
    for sql in sqls:
        try:
            tree = parse_sql_json(sql)
        except Exception:  # unparseable cases have no tree
            continue
        assert classifier._template(tree) == classifier.template_reference(tree), sql
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
    text = "".join(parts)
    assert classifier._template(text) == classifier.template_reference(text)


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
    # constants outside expressions: options, bodies, counts, type modifiers
    "EXPLAIN (ANALYZE ",
    ") DELETE FROM t",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS ",
    " LANGUAGE ",
    "DO ",
    "FETCH ",
    " FROM c",
    "SET client_encoding = ",
    "SET standard_conforming_strings = ",
    "COPY t TO ",
    "::float(",
    "varchar(",
    "NOTIFY c, ",
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

    try:
        return str(classifier._template(parse_sql_json(sql)))
    except Exception:
        return None


@given(_shape_pair())
@settings(max_examples=3000, deadline=None)
def test_a_shared_shape_key_means_a_shared_parse_tree_template(pair: tuple[str, str]) -> None:
    """The soundness of the pump's shape cache: when every constant of a
    text is proven to be an ``A_Const`` of its tree, every text with the
    same shape key parses to the same template, and classified from scratch
    has the same classification."""
    from pglast.parser import parse_sql_json

    from limen import _native

    a, b = pair
    key_a, key_b = _native.pg_shape_key(a.encode()), _native.pg_shape_key(b.encode())
    if key_a is None or key_a != key_b:
        return
    try:
        tree = parse_sql_json(a)
    except Exception:
        return
    if not _native.pg_shape_proven(a.encode(), tree):
        return
    assert _tree_template(a) == _tree_template(b), (a, b)
    fresh_a, fresh_b = classify_uncached(a), classify_uncached(b)
    if classify(a).shape_reusable:
        assert (fresh_a.classes, fresh_a.tables) == (fresh_b.classes, fresh_b.tables), (a, b)


@st.composite
def _corpus_twins(draw: st.DrawFn) -> tuple[str, str]:
    """A statement of the corpus (tests/twins.py) with its constants
    replaced twice: by values of the same kinds, adversarial or random."""
    sql = draw(st.sampled_from(_TWIN_CORPUS))
    spans = _native_spans(sql)
    out = []
    for _ in range(2):
        text = sql
        for start, end in reversed(spans):
            if sql[start] == "'":
                value = draw(
                    st.sampled_from(STRING_VALUES)
                    | st.text(alphabet=_STRING_CHARS.replace("\\", ""), max_size=8).map(
                        lambda t: "'" + t.replace("'", "''") + "'"
                    )
                )
            else:
                value = draw(st.sampled_from(INT_VALUES) | st.integers(0, 10**12).map(str))
            text = text[:start] + value + text[end:]
        out.append(text)
    return out[0], out[1]


def _native_spans(sql: str) -> list[tuple[int, int]]:
    from limen import _native

    found = _native.pg_shape_constants(sql.encode())
    return [] if found is None else list(found)


_TWIN_CORPUS = [s for s in corpus() if s.isascii() and _native_spans(s)]


@given(_corpus_twins())
@settings(max_examples=1500, deadline=None)
def test_a_reused_classification_equals_a_fresh_one(pair: tuple[str, str]) -> None:
    """Generated statements (the corpus with other constants): after the
    first was classified (filling the text and template caches), the second
    one's classification equals its fresh one; and when the first was
    marked reusable by shape and the two share a shape key, the fresh ones
    are equal too (what the pump's shape cache relies on)."""
    from limen import _native

    a, b = pair
    first = classify(a)
    got, want = classify(b), classify_uncached(b)
    assert (got.classes, got.tables, got.commands) == (want.classes, want.tables, want.commands)
    same_shape = _native.pg_shape_key(a.encode()) == _native.pg_shape_key(b.encode())
    if first.shape_reusable and same_shape:
        fresh = classify_uncached(a)
        assert (fresh.classes, fresh.tables) == (want.classes, want.tables), (a, b)


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


# --- the walk sees the template and nothing more ---------------------------------------


def _ordinals(node: object, out: list[int]) -> None:
    if isinstance(node, dict):
        if len(node) == 1 and type(node.get("A_Const")) is int:
            out.append(node["A_Const"])
            return
        for v in node.values():
            _ordinals(v, out)
    elif isinstance(node, list):
        for v in node:
            _ordinals(v, out)


_STRINGS_OR_COMMAS = re.compile(r'("(?:[^"\\]|\\.)*")|,+')


def _valid_json(template: str) -> str:
    """The template with the commas its removed keys left fixed (outside
    strings): runs of commas become one, and none is left next to a
    bracket."""
    out = _STRINGS_OR_COMMAS.sub(lambda m: m.group(1) or ",", template)
    return _STRINGS_OR_COMMAS.sub(
        lambda m: m.group(1) or ("" if _next_to_bracket(out, m) else ","), out
    )


def _next_to_bracket(text: str, m: re.Match[str]) -> bool:
    before = text[m.start() - 1] if m.start() else ""
    after = text[m.end()] if m.end() < len(text) else ""
    return before in "{[" or after in "}]"


def test_the_walked_tree_is_the_template() -> None:
    """What the classifier's walk is given (``sealed``) is the template the
    cache is keyed by, with even the constants' kinds replaced by their
    ordinals (0, 1, 2 … in order): a walk that read no constant computed a
    function of the template alone. The constants are the tree's
    ``A_Const`` objects, in that order."""
    import json

    from pglast.parser import parse_sql_json

    from limen.policy.sealed import sealed

    # (kinds blanked on both sides: ``strip_consts`` writes each constant
    # as "A_Const")
    checked = 0
    for sql in corpus() + _TEMPLATE_EXTRA:
        try:
            tree_json = parse_sql_json(sql)
        except Exception:
            continue
        tree, consts = sealed(tree_json)
        template = json.loads(_valid_json(classifier._template(tree_json)))
        assert nodes.strip_consts(tree) == nodes.strip_consts(template), sql
        found: list[int] = []
        _ordinals(tree, found)
        assert found == list(range(len(found))), sql
        assert json.dumps(tree).count('"A_Const"') == len(found)
        assert tree_json.count('"A_Const":{') == len(found)
        assert not consts.read
        checked += 1
    assert checked > 300


def test_every_look_at_a_constant_is_recorded() -> None:
    from pglast.parser import parse_sql_json

    from limen.policy.sealed import Constants, sealed

    tree, consts = sealed(parse_sql_json("SELECT 1, 1, 'x', a"))
    targets = [t["ResTarget"]["val"] for t in tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"]]
    assert [Constants.ordinal(t) for t in targets] == [0, 1, 2, None]
    assert not consts.read  # an ordinal is not a look
    assert consts.value(targets[3]) is None
    assert not consts.read
    assert consts.value(targets[0]) == {"ival": {"ival": 1}, "location": 7}
    assert consts.read
    _, consts = sealed(parse_sql_json("SELECT 1, 1, 'x', a"))
    assert consts.equal(targets[0], targets[1])
    assert consts.read
    _, consts = sealed(parse_sql_json("SELECT 1, 1, 'x', a"))
    assert not consts.equal(targets[0], targets[2])
    assert consts.read
