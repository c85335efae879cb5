"""json: masks inside Server-Sent Events without servers: data values masked
per event (across data lines, CRLF/LF/CR line ends kept), other fields and
comments untouched, a non-JSON event withheld while the stream goes on, an
oversized event refused; and the property that any chunking gives the same
output as the whole stream (hypothesis)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from limen.jsonmask import JsonMasker, JsonMaskError
from limen.ssemask import WITHHELD, SseMaskStream, is_event_stream

MASKER = JsonMasker(["json:$..token", "json:$.password"])
TOKEN = b'"[MASKED:json:$..token]"'


def run(data: bytes, cuts: list[int] | None = None) -> tuple[bytes, SseMaskStream]:
    s = SseMaskStream(MASKER)
    points = sorted(set(cuts or []))
    out = bytearray()
    prev = 0
    for p in [*points, len(data)]:
        out += s.feed(data[prev:p])
        prev = p
    out += s.finish()
    return bytes(out), s


def test_data_values_are_masked_and_the_rest_kept() -> None:
    out, s = run(b'event: x\nid: 7\ndata: {"token": "t-1", "n": 1}\n\n')
    assert out == b'event: x\nid: 7\ndata: {"token": ' + TOKEN + b', "n": 1}\n\n'
    assert s.take_findings() == 1


def test_a_value_across_data_lines_and_crlf() -> None:
    out, _ = run(b'data: {"password":\r\ndata: {"a": "pw-1"}, "k": 2}\r\n\r\n')
    assert b"pw-1" not in out
    assert out.count(b"\r\n") == 3
    lines = out.split(b"\r\n")
    joined = b"\n".join(line[6:] for line in lines if line.startswith(b"data: "))
    assert json.loads(joined) == {"password": "[MASKED:json:$.password]", "k": 2}


def test_cr_line_ends_and_no_space_after_the_colon() -> None:
    out, _ = run(b'data:{"token": 5}\r\r')
    assert out == b'data:{"token": ' + TOKEN + b"}\r\r"


@pytest.mark.parametrize(
    "event", [b"data: [DONE]\n\n", b"data: hello\n\n", b'data: {"token": "cut\n\n', b"data: {\n\n"]
)
def test_a_non_json_event_is_withheld_and_the_stream_goes_on(event: bytes) -> None:
    out, s = run(event + b'data: {"token": "t-2"}\n\n')
    assert out == WITHHELD + b'data: {"token": ' + TOKEN + b"}\n\n"
    assert s.take_findings() == 2


def test_comments_and_events_without_data_pass() -> None:
    data = b": keep-alive\n\nevent: ping\n\nretry: 100\n\n"
    assert run(data)[0] == data


def test_an_unfinished_event_is_not_sent() -> None:
    out, _ = run(b'data: {"n": 1}\n\ndata: {"token": "t-3"}\n')
    assert out == b'data: {"n": 1}\n\n'


def test_an_event_over_the_limit_is_refused() -> None:
    s = SseMaskStream(MASKER, max_event=100)
    with pytest.raises(JsonMaskError, match="over 100 bytes"):
        s.feed(b"data: " + b"1" * 200)


def test_the_content_type() -> None:
    assert is_event_stream(b"text/event-stream; charset=utf-8")
    assert not is_event_stream(b"application/json")


STREAM = (
    b'event: tick\nid: 1\ndata: {"n": 1, "token": "tok-1"}\n\n'
    b': c\r\ndata: {"n": 2,\r\ndata: "password": "pw"}\r\n\r\n'
    b"data: [DONE]\n\n"
    b'data: {"deep": [{"token": {"x": [1, 2]}}]}\r\r'
    b"data: 42\n\n"
)


@given(st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_output(cuts: list[int]) -> None:
    whole, _ = run(STREAM)
    assert run(STREAM, cuts)[0] == whole
    assert b"tok-1" not in whole
    assert b'"pw"' not in whole
    assert whole.count(WITHHELD) == 1


def test_events_come_out_whole_and_at_once_through_the_detectors() -> None:
    from limen.mask import native_masker
    from limen.ssemask import SseMasking

    events = SseMasking(native_masker(["builtin"], [], []), MASKER)
    first = events.feed(b'data: {"mail": "alice@example.com", "token": "t"}\n\ndata: {"n"')
    # the whole first event at once (the detectors hold nothing back across events)
    assert first == b'data: {"mail": "[MASKED:email]", "token": ' + TOKEN + b"}\n\n"
    assert events.feed(b": 2}\n\n") == b'data: {"n": 2}\n\n'
    assert events.finish() == b""
    assert events.take_findings() == 2


def test_without_json_masks_events_are_only_framed() -> None:
    s = SseMaskStream(None)
    assert s.feed(b"data: [DONE]\n\ndata: x") == b"data: [DONE]\n\n"
