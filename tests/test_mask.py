"""The masker from Python: detector cases shared with the Rust tests,
streaming equal to one-shot for any split (hypothesis), bad input, rules,
the batch and column APIs, and a clean corpus with no false positives."""

from __future__ import annotations

import base64
import hashlib
import random
import re
import sysconfig
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen.mask import BUILTIN_DETECTORS, Finding, Masker, MaskRuleError, Rule

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "native" / "limen-mask" / "tests" / "cases"


def _cases(name: str) -> list[list[str]]:
    rows = []
    for line in (CASES / name).read_text().splitlines():
        if line and not line.startswith("#"):
            rows.append([f.replace("\\n", "\n") for f in line.split("\t")])
    return rows


POSITIVE = _cases("positive.txt")
NEGATIVE = _cases("negative.txt")
MASKER = Masker()


def test_every_builtin_detector_is_selected_by_default() -> None:
    assert MASKER.detectors == list(BUILTIN_DETECTORS)
    assert len(set(BUILTIN_DETECTORS)) == len(BUILTIN_DETECTORS) >= 21


@pytest.mark.parametrize(("detector", "text", "expected"), POSITIVE)
def test_positive_case(detector: str, text: str, expected: str) -> None:
    assert MASKER.mask(text) == expected
    assert detector in {f.detector for f in MASKER.findings(text)}
    # the detector on its own finds it too
    assert Masker(detectors=[detector]).findings(text)


@pytest.mark.parametrize("text", [c[1] for c in NEGATIVE])
def test_negative_case_passes_through(text: str) -> None:
    assert MASKER.mask(text) == text


def test_findings_locate_the_secret_without_carrying_it() -> None:
    text = b"user alice@example.com key AKIAIOSFODNN7EXAMPLE end"
    found = MASKER.findings(text)
    assert found == [
        Finding("email", 5, len("alice@example.com")),
        Finding("aws-access-key-id", 27, 20),
    ]
    for f in found:
        assert text[f.offset : f.offset + f.length] in (
            b"alice@example.com",
            b"AKIAIOSFODNN7EXAMPLE",
        )


# Secrets planted in random text at random positions, then split at random
# points that include points inside every secret.
SECRETS = [c[1] for c in POSITIVE]
filler = st.text(alphabet=st.sampled_from("ab 0123456789-+.@:=\n\"'/_é\x00"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.tuples(filler, st.sampled_from(SECRETS)), min_size=1, max_size=6),
    tail=filler,
    cuts=st.lists(st.floats(min_value=0, max_value=1), max_size=10),
    inside=st.floats(min_value=0, max_value=1),
)
def test_stream_equals_one_shot_with_secrets_at_the_splits(
    parts: list[tuple[str, str]], tail: str, cuts: list[float], inside: float
) -> None:
    data = b""
    points = []
    for pre, secret in parts:
        data += pre.encode()
        start = len(data)
        data += secret.encode()
        points.append(start + int(inside * len(secret.encode())))  # inside the secret
    data += tail.encode()
    points += [int(c * len(data)) for c in cuts]
    points = sorted(set(points))
    stream = MASKER.stream()
    out = b""
    last = 0
    for p in [*points, len(data)]:
        out += stream.feed(data[last:p])
        assert stream.pending <= MASKER.max_holdback
        last = p
    out += stream.finish()
    assert out == MASKER.mask(data)
    assert stream.take_findings() == MASKER.findings(data)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2000), chunk=st.integers(min_value=1, max_value=300))
def test_binary_input_never_raises_and_streams_identically(data: bytes, chunk: int) -> None:
    stream = MASKER.stream()
    out = b"".join(stream.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    out += stream.finish()
    assert out == MASKER.mask(data)


@settings(max_examples=15, deadline=None)
@given(
    parts=st.lists(st.tuples(filler, st.sampled_from(SECRETS)), min_size=1, max_size=6),
    copies=st.integers(min_value=1, max_value=40),
)
def test_large_one_shot_equals_stream(parts: list[tuple[str, str]], copies: int) -> None:
    # From 64 KiB the binding finds first and writes into a result sized
    # exactly (replacements both longer and shorter than what they replace).
    unit = "".join(pre + secret for pre, secret in parts).encode() + b" a@b.co\n"
    data = unit * (max(1, (64 << 10) // len(unit)) + copies)
    assert len(data) >= 64 << 10
    stream = MASKER.stream()
    out = b"".join(stream.feed(data[i : i + 8192]) for i in range(0, len(data), 8192))
    out += stream.finish()
    masked = MASKER.mask(data)
    assert masked == out
    assert MASKER.mask(bytearray(data)) == MASKER.mask(memoryview(data)) == masked
    assert b"a@b.co" not in masked
    assert stream.take_findings() == MASKER.findings(data)


def test_invalid_utf8_and_nul_pass_through_or_mask() -> None:
    data = b"\xff\xfe\x00 alice@example.com \x80\x00\xc3"
    assert MASKER.mask(data) == b"\xff\xfe\x00 [MASKED:email] \x80\x00\xc3"
    assert MASKER.mask(bytearray(data)) == MASKER.mask(memoryview(data)) == MASKER.mask(data)


def test_str_in_str_out() -> None:
    assert MASKER.mask("mail é alice@example.com") == "mail é [MASKED:email]"


def test_str_is_refused_by_the_native_layer() -> None:
    from limen import _native

    with pytest.raises(TypeError, match="not str"):
        _native.Masker().mask("text")  # type: ignore[arg-type]


def test_user_rules_regex_and_words() -> None:
    m = Masker(
        rules=[
            Rule(name="ticket", regex=r"TICKET-[0-9]{4,}"),
            Rule(name="codename", words=["bluebird", "Nightjar"], case_insensitive=True),
            Rule(name="employee-id", regex=r"emp=([0-9]+)"),
        ]
    )
    out = m.mask("see TICKET-12345 re BLUEBIRD (nightjars stay) emp=991")
    assert (
        out == "see [MASKED:ticket] re [MASKED:codename] (nightjars stay) emp=[MASKED:employee-id]"
    )
    assert {"ticket", "codename", "employee-id"} <= set(m.detectors)


def test_unbounded_user_rule_is_capped_and_stream_still_agrees() -> None:
    m = Masker(detectors=["long"], rules=[Rule(name="long", regex=r"Z+")])
    data = b"a" + b"Z" * 5000 + b"b"
    assert m.mask(data).count(b"[MASKED:long]") == 5  # 1024 per match, 5 matches
    s = m.stream()
    out = b"".join(s.feed(data[i : i + 333]) for i in range(0, len(data), 333)) + s.finish()
    assert out == m.mask(data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rules": [Rule(name="bad", regex="a(b")]}, "bad"),
        ({"rules": [Rule(name="empty", regex="a*")]}, "empty string"),
        ({"rules": [Rule(name="nowords", words=[])]}, "word list"),
        ({"rules": [Rule(name="Bad Name", regex="x")]}, "rule name"),
        ({"rules": [Rule(name="email", regex="x")]}, "defined twice"),
        ({"rules": [Rule(name="both", regex="x", words=["y"])]}, "exactly one"),
        ({"rules": [{"name": "typo", "regexp": "x"}]}, "regexp"),
        ({"detectors": ["no-such-detector"]}, "no-such-detector"),
    ],
)
def test_bad_rules_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(MaskRuleError, match=re.escape(message)):
        Masker(**kwargs)  # type: ignore[arg-type]


def test_detector_selection() -> None:
    m = Masker(detectors=["email"])
    assert m.detectors == ["email"]
    assert m.mask("alice@example.com AKIAIOSFODNN7EXAMPLE") == "[MASKED:email] AKIAIOSFODNN7EXAMPLE"
    assert Masker(detectors=["builtin"]).detectors == list(BUILTIN_DETECTORS)


def test_mask_many_keeps_nulls_and_applies_column_rules() -> None:
    m = Masker(columns=["users.email", "ssn"])
    values: list[bytes | None] = [b"1", b"alice@example.com", None, b"nothing here"]
    whole = [
        None,
        m.column_replacement("users", "EMAIL"),
        None,
        m.column_replacement(None, "notes"),
    ]
    assert m.mask_many(values, whole) == [
        b"1",
        b"[MASKED:column:users.email]",
        None,
        b"nothing here",
    ]
    assert m.mask_many([b"x bob@example.org"]) == [b"x [MASKED:email]"]
    assert m.column_replacement("orders", "ssn") == b"[MASKED:column:ssn]"
    assert m.column_replacement("users", "name") is None


def test_holdback_is_bounded_and_documented_per_detector() -> None:
    infos = MASKER.detector_info()
    assert [i.name for i in infos] == MASKER.detectors
    assert MASKER.max_holdback >= max(i.max_head_len for i in infos)
    assert MASKER.max_holdback < 4096
    s = MASKER.stream()
    for _ in range(100):
        s.feed(b"x" * 10_000)
        assert s.pending <= MASKER.max_holdback


def _clean_corpus() -> bytes:
    rng = random.Random(7)
    parts: list[str] = []
    for _ in range(300):
        raw = rng.randbytes(48)
        parts += [
            str(uuid.UUID(bytes=raw[:16])),
            hashlib.sha1(raw).hexdigest(),
            hashlib.sha256(raw).hexdigest(),
            hashlib.md5(raw).hexdigest(),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
            f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}Z",
            str(rng.randint(1_600_000_000, 1_900_000_000)),
            f"{rng.random() * 1000:.6f}",
            f"v{rng.randint(0, 9)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}",
        ]
    text = "\n".join(parts)
    prose = (
        "The gateway holds a statement until a human approves it. Agents run tests "
        "against staging; the recording keeps what happened, in order, for replay. "
    ) * 50
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    source = "".join(
        (stdlib / name).read_text() for name in ("textwrap.py", "json/decoder.py", "shlex.py")
    )
    # Author lines carry real email addresses: those are right to mask.
    source = re.sub(r"<[^<>@\s]+@[^<>\s]+>", "<author>", source)
    return (text + prose + source).encode()


def test_clean_corpus_has_no_false_positives() -> None:
    corpus = _clean_corpus()
    found = MASKER.findings(corpus)
    context = [corpus[max(0, f.offset - 20) : f.offset + f.length + 20] for f in found]
    assert found == [], context
