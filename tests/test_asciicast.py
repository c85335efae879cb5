"""The asciicast conversion (:mod:`limen.recording.asciicast`) on made-up
records: any records (arbitrary payloads, broken event JSON) give valid
asciicast lines, header first, times in order; output text is the UTF-8
of every ``u2c`` byte however the bytes are split; the player writes the
output events with capped pauses (a fake sleep, no real time)."""

from __future__ import annotations

import io
import itertools
import json

import hypothesis.strategies as st
import msgspec
from hypothesis import given, settings

from limen.recording import Header, Kind, Record
from limen.recording.asciicast import cast_lines, play

HEADER = Header(
    version=3,
    session_id="s1",
    identity="bot",
    resource="box",
    protocol="ssh",
    start_unix_us=1_700_000_000_000_000,
    encrypted=False,
    max_record=65536,
    signing_public_key=b"\0" * 32,
    signing_key_id="00",
    recipient_public_key=None,
    recipient_key_id=None,
)


def _ev(obj: object) -> bytes:
    return msgspec.json.encode(obj)


def _records(parts: list[tuple[Kind, bytes]]) -> list[Record]:
    return [Record(seq=i, t_us=i * 1000, kind=k, payload=p) for i, (k, p) in enumerate(parts)]


def _parse(lines: list[str]) -> tuple[dict[str, object], list[list[object]]]:
    header = json.loads(lines[0])
    events = [json.loads(x) for x in lines[1:]]
    return header, events


record_st = st.one_of(
    st.tuples(st.sampled_from([Kind.U2C, Kind.C2U, Kind.MASKING]), st.binary(max_size=64)),
    st.tuples(
        st.just(Kind.EVENT),
        st.one_of(
            st.binary(max_size=32),
            st.builds(
                _ev,
                st.fixed_dictionaries(
                    {
                        "event": st.sampled_from(["pty", "resize", "decision", "exit", "x"]),
                        "width": st.one_of(st.integers(-5, 20000), st.text(max_size=3)),
                        "height": st.integers(-5, 20000),
                        "action": st.sampled_from(["allow", "deny", "hold"]),
                        "request": st.sampled_from(["exec", "shell"]),
                        "term": st.one_of(st.text(max_size=80), st.integers()),
                    }
                ),
            ),
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(record_st, max_size=30))
def test_any_records_give_valid_asciicast(parts: list[tuple[Kind, bytes]]) -> None:
    header, events = _parse(list(cast_lines(HEADER, _records(parts))))
    assert header["version"] == 2
    assert isinstance(header["width"], int)
    assert 0 < header["width"] <= 10000
    assert isinstance(header["height"], int)
    assert 0 < header["height"] <= 10000
    times = [e[0] for e in events]
    assert times == sorted(times)
    for _, code, data in events:
        assert code in ("o", "i", "r")
        assert isinstance(data, str)
        if code == "r":
            w, h = str(data).split("x")
            assert 0 < int(w) <= 10000
            assert 0 < int(h) <= 10000


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.lists(st.integers(0, 400), max_size=8), st.booleans())
def test_output_is_the_same_however_split(text: str, cuts: list[int], pty: bool) -> None:
    data = text.encode("utf-8")
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    parts: list[tuple[Kind, bytes]] = []
    if pty:
        parts.append(
            (Kind.EVENT, _ev({"event": "pty", "width": 90, "height": 20, "term": "xterm"}))
        )
    parts += [(Kind.U2C, data[a:b]) for a, b in itertools.pairwise(points)]
    header, events = _parse(list(cast_lines(HEADER, _records(parts))))
    shown = "".join(str(e[2]) for e in events if e[1] == "o")
    expected = text if pty else text.replace("\r\n", "\n").replace("\n", "\r\n")
    assert shown == expected
    assert (header["width"], header["height"]) == ((90, 20) if pty else (80, 24))


def test_exec_request_is_shown_and_refusal_said() -> None:
    parts = [
        (Kind.C2U, b"rm -rf /"),
        (Kind.EVENT, _ev({"event": "decision", "action": "deny", "rule": "r1", "request": "exec"})),
        (Kind.C2U, b"ls"),
        (Kind.EVENT, _ev({"event": "decision", "action": "allow", "request": "exec"})),
        (Kind.U2C, b"a\nb\n"),
        (Kind.C2U, b"typed"),
        (Kind.EVENT, _ev({"event": "resize", "width": 100, "height": 40})),
    ]
    _, events = _parse(list(cast_lines(HEADER, _records(parts))))
    assert [(c, d) for _, c, d in events] == [
        ("o", "$ rm -rf /\r\n"),
        ("o", "limen: deny (rule r1)\r\n"),
        ("o", "$ ls\r\n"),
        ("o", "a\r\nb\r\n"),
        ("i", "typed"),
        ("r", "100x40"),
    ]


def test_play_writes_output_with_capped_pauses() -> None:
    lines = [
        json.dumps({"version": 2, "width": 80, "height": 24}),
        json.dumps([0.5, "o", "one "]),
        json.dumps([0.6, "i", "ignored"]),
        json.dumps([10.5, "o", "two"]),
        "not json",
    ]
    slept: list[float] = []
    out = io.StringIO()
    assert play(lines, out, speed=2.0, idle_limit=1.0, sleep=slept.append) == 2
    assert out.getvalue() == "one two"
    assert slept == [0.25, 0.5]
