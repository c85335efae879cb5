"""JSON field masks as a body streams (limen.jsonmask): examples, the path
grammar, and properties: any split of a body gives the same bytes; on
random JSON (random layout) the output parses to what a slow reference
(json.loads, walk the objects, replace matched values) gives; random bytes
either mask split-invariantly or raise JsonMaskError, nothing else; deep
nesting and long scalars are refused (fail closed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen.jsonmask import (
    MAX_DEPTH,
    MAX_SCALAR,
    JsonMasker,
    JsonMaskError,
    JsonPathError,
    is_json_type,
    parse_path,
)

PATHS = ["$.password", "$..token", "$.users[*].pin", "$.a.*.secret", "$..*.deep"]
MASKER = JsonMasker(PATHS)


def mask(body: bytes, masker: JsonMasker = MASKER, cuts: list[int] | None = None) -> bytes:
    stream = masker.stream()
    out = bytearray()
    at = 0
    for cut in [*sorted(cuts or []), len(body)]:
        out += stream.feed(body[at:cut])
        at = max(at, cut)
    out += stream.finish()
    return bytes(out)


def test_examples() -> None:
    body = (
        b'{"password": "hunter2", "a": {"x": {"secret": [1, {"k": 2}]}, "token": 5},'
        b' "users": [{"pin": 1234, "name": "ok"}, {"pin": null}], "pass\\u0077ord": true,'
        b' "keep": "password"}'
    )
    out = json.loads(mask(body))
    assert out["password"] == "[MASKED:json:$.password]"
    assert out["a"]["x"]["secret"] == "[MASKED:json:$.a.*.secret]"
    assert out["a"]["token"] == "[MASKED:json:$..token]"
    assert [u["pin"] for u in out["users"]] == ["[MASKED:json:$.users[*].pin]"] * 2
    assert out["users"][0]["name"] == "ok"
    assert out["keep"] == "password"  # a value equal to a key name is not a key
    # an escaped key is compared decoded: "pass\u0077ord" is password
    assert b'"pass\\u0077ord": "[MASKED:json:$.password]"' in mask(body)
    assert b"hunter2" not in mask(body)
    assert b"1234" not in mask(body)


def test_the_layout_outside_masked_values_is_kept_byte_for_byte() -> None:
    body = b'{ "a" :\t1 ,\n "password" : {"x": [1, 2]} }\n'
    assert mask(body) == b'{ "a" :\t1 ,\n "password" : "[MASKED:json:$.password]" }\n'


def test_ndjson_each_line_is_a_document() -> None:
    body = b'{"token": "a"}\n{"n": 1}\n{"b": {"token": ["x"]}}\n'
    lines = [json.loads(line) for line in mask(body).splitlines()]
    assert lines == [
        {"token": "[MASKED:json:$..token]"},
        {"n": 1},
        {"b": {"token": "[MASKED:json:$..token]"}},
    ]


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("$.password", 1),
        ("json:$..token", 1),
        ("$.users[*].pin", 3),
        ("$..*", 1),
        ("$.a.b-c_d.é", 3),
    ],
)
def test_paths_parse(text: str, steps: int) -> None:
    assert len(parse_path(text).steps) == steps


@pytest.mark.parametrize("text", ["password", "$", "$.", "$.a b", '$."x"', "$[0]", "$.a..", "$x"])
def test_bad_paths_are_refused(text: str) -> None:
    with pytest.raises(JsonPathError):
        parse_path(text)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a" 1}',
        b'{"a": 1,}',
        b"[1,]",
        b'{"a": tru}',
        b'{"a": 01}',
        b"{]",
        b'["a"}',
        b"}",
        b"<html>",
        b'{"a": 1} x',
        b"\xef\xbb\xbf{}",
    ],
)
def test_not_json_is_refused(body: bytes) -> None:
    with pytest.raises(JsonMaskError):
        mask(body)


def test_too_deep_and_too_long_are_refused() -> None:
    ok = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert mask(ok) == ok
    with pytest.raises(JsonMaskError, match="deeper"):
        mask(b"[" * (MAX_DEPTH + 1))
    with pytest.raises(JsonMaskError, match="longer"):
        mask(b"[" + b"1" * (MAX_SCALAR + 1) + b"]")


def test_a_long_key_matches_nothing_and_costs_no_memory() -> None:
    key = "p" * 100_000
    body = json.dumps({key: 1, "password": 2}).encode()
    stream = MASKER.stream()
    out = b"".join(stream.feed(body[i : i + 1000]) for i in range(0, len(body), 1000))
    assert len(stream.key) <= MASKER.key_cap
    assert json.loads(out) == {key: 1, "password": "[MASKED:json:$.password]"}


def test_content_types() -> None:
    for yes in (b"application/json", b"application/json; charset=utf-8", b"application/x-ndjson"):
        assert is_json_type(yes)
    assert is_json_type(b"application/problem+json")
    for no in (b"text/plain", b"text/event-stream", b"application/jsonx", b""):
        assert not is_json_type(no)


# -- properties ----------------------------------------------------------------------

KEYS = st.sampled_from(["password", "token", "users", "pin", "a", "secret", "deep", "n", "ü"])
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)


def reference(obj: Any, path: tuple[object, ...] = ()) -> Any:
    """The slow path: the whole document as objects, each value whose path
    a mask matches replaced."""
    from limen.jsonpath import INDEX as _INDEX

    if path:
        hit = MASKER.match(list(path))
        if hit is not None:
            return f"[MASKED:json:{hit.text}]"
    if isinstance(obj, dict):
        return {k: reference(v, (*path, k)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [reference(v, (*path, _INDEX)) for v in obj]
    return obj


def dumps(obj: Any, layout: int) -> bytes:
    if layout == 0:
        return json.dumps(obj).encode()
    if layout == 1:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps(obj, indent=layout - 1).encode()


@settings(max_examples=300, deadline=None)
@given(DOCS, st.integers(0, 4), st.lists(st.integers(0, 2000), max_size=12))
def test_random_json_masks_like_the_reference_whatever_the_split(
    doc: Any, layout: int, cuts: list[int]
) -> None:
    body = dumps(doc, layout)
    whole = mask(body)
    assert mask(body, cuts=[c % (len(body) + 1) for c in cuts]) == whole
    assert json.loads(whole) == reference(doc)


@settings(max_examples=200, deadline=None)
@given(st.lists(DOCS, min_size=1, max_size=4), st.lists(st.integers(0, 2000), max_size=8))
def test_ndjson_masks_like_the_reference_whatever_the_split(
    docs: list[Any], cuts: list[int]
) -> None:
    body = b"".join(json.dumps(d).encode() + b"\n" for d in docs)
    out = mask(body, cuts=[c % (len(body) + 1) for c in cuts])
    assert [json.loads(line) for line in out.splitlines()] == [reference(d) for d in docs]


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200)
    | st.text(alphabet='{}[]:," \\tnul0123456789.e-pasword', max_size=80).map(str.encode),
    st.lists(st.integers(0, 300), max_size=6),
)
def test_any_bytes_mask_split_invariantly_or_are_refused(body: bytes, cuts: list[int]) -> None:
    """The fuzz-like property: no other exception, and the same bytes (or
    the same refusal) however the body is split."""
    try:
        whole: bytes | None = mask(body)
    except JsonMaskError:
        whole = None
    try:
        split: bytes | None = mask(body, cuts=[c % (len(body) + 1) for c in cuts])
    except JsonMaskError:
        split = None
    if whole is None:
        # a split may meet the refusal later, but never gives other bytes
        assert split is None
    else:
        assert split == whole


@settings(max_examples=200, deadline=None)
@given(DOCS, st.lists(st.integers(0, 2000), max_size=6))
def test_a_secret_under_a_masked_key_never_comes_out(doc: Any, cuts: list[int]) -> None:
    body = json.dumps({"x": doc, "password": {"v": "SECRET-7f3a", "l": [doc]}}).encode()
    out = mask(body, cuts=[c % (len(body) + 1) for c in cuts])
    assert b"SECRET-7f3a" not in out


def test_a_long_key_in_one_chunk_is_not_kept_either() -> None:
    body = json.dumps({"k" * 50_000: {"password": 1}}).encode()
    stream = MASKER.stream()
    out = stream.feed(body) + stream.finish()
    assert len(stream.key) <= MASKER.key_cap
    assert json.loads(out) == {"k" * 50_000: {"password": 1}}  # $.password is top-level only
