"""JSON body conditions of HTTP routes without servers: the grammar, strict
equality, absent paths, the fail-closed body parser (examples, and
hypothesis: any JSON value round-trips, any bytes give a document or a
BodyError and nothing else), routes that need the body, the config key."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from limen.config import ConfigError, load_config_text
from limen.policy.http import (
    NO_BODY,
    BodyError,
    ConditionError,
    classify,
    compile_route,
    needs_body,
    parse_body,
)
from limen.policy.http.body import MAX_DEPTH, parse_condition
from limen.policy.http.routes import RouteError


@pytest.mark.parametrize(
    ("cond", "doc", "holds"),
    [
        ('$.action == "delete"', {"action": "delete"}, True),
        ('$.action == "delete"', {"action": "Delete"}, False),
        ('$.action == "delete"', {}, False),
        ('$.action != "read"', {}, True),
        ('$.action != "read"', {"action": "read"}, False),
        ("$.force == true", {"force": 1}, False),
        ("$.n == 1", {"n": True}, False),
        ("$.n == 1", {"n": 1.0}, True),
        ('$.n == "1"', {"n": 1}, False),
        ("$.spec.replicas == 0", {"spec": {"replicas": 0}}, True),
        ("$.spec.replicas == 0", {"spec": [0]}, False),
        ("$.items[1].id == 7", {"items": [{"id": 1}, {"id": 7}]}, True),
        ("$.items[2].id == 7", {"items": [{"id": 1}, {"id": 7}]}, False),
        ('$["odd key"] == null', {"odd key": None}, True),
        ('$.a in ["x", "y"]', {"a": "y"}, True),
        ('$.a in ["x", "y"]', {"a": ["x"]}, False),
        ("$.force", {"force": None}, True),
        ("$.force", {"forced": True}, False),
        ('$.o == {"a": [1, true]}', {"o": {"a": [1, True]}}, True),
        ('$.o == {"a": [1, true]}', {"o": {"a": [1, 1]}}, False),
        ('$.a == "x"', ["not", "an", "object"], False),
    ],
)
def test_conditions(cond: str, doc: Any, holds: bool) -> None:
    assert parse_condition(cond).holds(doc) is holds


@pytest.mark.parametrize(
    "bad",
    ["action == 1", "$", "$.a ==", "$.a = 1", "$.a in []", '$.a in "x"', "$.a == NaN", "$..a == 1"],
)
def test_bad_conditions(bad: str) -> None:
    with pytest.raises(ConditionError):
        parse_condition(bad)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"\xff{}", "UTF-8"),
        (b'{"a": 1} x', "not JSON"),
        (b'{"a": 1, "a": 2}', "twice"),
        (b'{"o": {"a": 1, "a": 1}}', "twice"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": 1e999}', "out of range"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "deeper"),
        (b"1" * 5000, "cannot read"),
    ],
)
def test_bodies_that_cannot_be_judged(body: bytes, why: str) -> None:
    with pytest.raises(BodyError, match=why):
        parse_body(body)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    doc = {"s": "[" * (MAX_DEPTH * 2)}
    assert parse_body(json.dumps(doc).encode()) == doc


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_any_json_value_round_trips(value: object) -> None:
    assert parse_body(json.dumps(value).encode()) == value


@given(st.binary(max_size=300))
def test_any_bytes_give_a_document_or_a_body_error(data: bytes) -> None:
    with contextlib.suppress(BodyError):
        parse_body(data)


@given(st.text(max_size=12), json_values)
def test_equality_condition_holds_for_its_own_value(key: str, value: object) -> None:
    cond = parse_condition(f"$[{json.dumps(key)}] == {json.dumps(value)}")
    assert cond.holds({key: value})
    assert not parse_condition(f"$[{json.dumps(key)}] != {json.dumps(value)}").holds({key: value})


ROUTES = [
    compile_route(["POST"], "/jobs", "admin", ['$.action == "delete"']),
    compile_route(["POST"], "/jobs/{id}", "read"),
    compile_route(["POST"], "/jobs/**", "admin", ["$.force == true"]),
]


def test_routes_that_need_the_body() -> None:
    assert needs_body("POST", ["jobs"], ROUTES)
    assert not needs_body("GET", ["jobs"], ROUTES)
    assert not needs_body("POST", ["jobs", "7"], ROUTES)  # a route without body comes first
    assert needs_body("POST", ["jobs", "7", "run"], ROUTES)
    assert not needs_body("POST", ["other"], ROUTES)


def test_classify_with_a_body() -> None:
    assert classify("POST", ["jobs"], ROUTES, {"action": "delete"}).klass == "admin"
    assert classify("POST", ["jobs"], ROUTES, {"action": "list"}).klass == "write"
    got = classify("POST", ["jobs"], ROUTES, {"action": "delete"})
    assert got.classification.statements[0].command == 'POST /jobs [$.action == "delete"]'
    with pytest.raises(ValueError, match="judged with its body"):
        classify("POST", ["jobs"], ROUTES, NO_BODY)


def test_a_bad_body_condition_is_a_route_and_config_error() -> None:
    with pytest.raises(RouteError):
        compile_route(["POST"], "/x", "admin", ["$.a = 1"])
    text = """
[listeners]
http = "127.0.0.1:0"
[[resources]]
name = "api"
protocol = "http"
upstream = "http://127.0.0.1:1/"
[[resources.http_routes]]
path = "/x"
class = "admin"
body = ["action == 1"]
"""
    with pytest.raises(ConfigError, match="starts with a path"):
        load_config_text(text)
