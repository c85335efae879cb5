"""Masking JSON text with backslash escapes (native/limen-mask/src/escape.rs):
a secret right after an escape (`\\n`, `\\t`, `\\u001f`, ...) is masked, and
valid JSON in gives valid JSON out with the same structure, one-shot and
streamed in any chunks. Documents are `json.dumps` of random objects."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from limen.mask import Masker

MASKER = Masker()

#: (secret, the part of it that must not survive)
SECRETS = [
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c6912E7710c838347Ae178B4a"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    ("alice.smith@example.co.uk", "alice.smith@example"),
    ("4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("123-45-6789", "123-45-6789"),
    ("DE89 3704 0044 0532 0130 00", "3704 0044 0532"),
    ("+1 415 555 2671", "415 555 2671"),
    ("password=hunter22", "hunter22"),
    ("postgresql://app:s3cretpw@db:5432/app", "s3cretpw"),
    ("Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA7",
    ),
]
#: Characters json.dumps writes as escapes (and `/`, `é` with ensure_ascii).
BEFORE = ["\n", "\r", "\t", "\b", "\f", '"', "\\", "\x1f", "\u00e9", "\U0001f600", "/", " "]


def shape(v: Any) -> Any:
    if isinstance(v, str):
        return "s"
    if isinstance(v, list):
        return [shape(x) for x in v]
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    return v


text = st.builds(
    lambda pre, s, post: (pre + s[0] + post, s[1]),
    st.sampled_from(BEFORE),
    st.sampled_from(SECRETS),
    st.sampled_from(["", " ", "\n", "\t", "\\", '"', "\u00e9"]),
)
leaf = st.one_of(
    text,
    st.text(alphabet='ab \n\t"\\\u00e9', max_size=6).map(lambda s: (s, None)),
    st.integers(-1000, 1000).map(lambda n: (n, None)),
    st.sampled_from([True, False, None]).map(lambda v: (v, None)),
)


def _collect(v: Any, needles: list[str]) -> Any:
    if isinstance(v, tuple):
        if v[1] is not None:
            needles.append(v[1])
        return v[0]
    if isinstance(v, list):
        return [_collect(x, needles) for x in v]
    return {k: _collect(x, needles) for k, x in v.items()}


docs = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["a", "b", "key", "note"]), inner, max_size=4),
    ),
    max_leaves=12,
)


def _stream(data: bytes, size: int) -> bytes:
    s = MASKER.stream()
    out = b"".join(s.feed(data[i : i + size]) for i in range(0, len(data), size))
    return out + s.finish()


@settings(max_examples=400, deadline=None)
@given(doc=docs, ensure_ascii=st.booleans(), size=st.integers(1, 40))
def test_json_stays_json_and_secrets_after_escapes_go(
    doc: Any, ensure_ascii: bool, size: int
) -> None:
    needles: list[str] = []
    obj = _collect(doc, needles)
    data = json.dumps(obj, ensure_ascii=ensure_ascii).encode()
    out = MASKER.mask(data)
    assert _stream(data, size) == out
    masked = json.loads(out)
    assert shape(masked) == shape(obj)
    text_out = out.decode()
    for needle in needles:
        assert json.dumps(needle)[1:-1] not in text_out, (data, out)


def test_the_reported_leak_and_broken_json() -> None:
    leak = rb'{"a":"x\nAKIAIOSFODNN7EXAMPLE"}'
    assert MASKER.mask(leak) == rb'{"a":"x\n[MASKED:aws-access-key-id]"}'
    broken = rb'{"a":"\u001fjohn@example.com"}'
    assert json.loads(MASKER.mask(broken)) == {"a": "[MASKED:email]"}
