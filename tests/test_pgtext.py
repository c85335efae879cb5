"""Readable PostgreSQL results in session replays."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from limen import _native
from limen.pgtext import render_backend


def _msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def _row_description(*names: str) -> bytes:
    body = struct.pack("!h", len(names))
    for n in names:
        body += n.encode() + b"\x00" + struct.pack("!ihihih", 0, 0, 25, -1, -1, 0)
    return _msg(b"T", body)


def _data_row(*values: bytes | None) -> bytes:
    body = struct.pack("!h", len(values))
    for v in values:
        body += struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v
    return _msg(b"D", body)


def test_a_result_set_reads_as_a_table() -> None:
    data = (
        _row_description("id", "email")
        + _data_row(b"1", b"[MASKED:email]")
        + _data_row(b"2", None)
        + _msg(b"C", b"SELECT 2\x00")
        + _native.pg_ready_for_query("I")
    )
    assert render_backend(data) == ["id | email", "1 | [MASKED:email]", "2 | NULL", "(SELECT 2)"]


def test_errors_show_sqlstate_message_and_hint() -> None:
    data = _native.pg_error("ERROR", "42501", "denied by rule r", None, "ask")
    assert render_backend(data) == ["ERROR 42501: denied by rule r", "  hint: ask"]


def test_partial_or_foreign_bytes_are_not_rendered() -> None:
    assert render_backend(_data_row(b"1")[:-1]) is None
    assert render_backend(b"\x00\x01") is None
    assert render_backend(_msg(b"D", b"\x00\x01\x00\x00\x00\x09ab")) is None


@given(st.binary(max_size=300))
def test_any_bytes_never_raise(data: bytes) -> None:
    out = render_backend(data)
    assert out is None or isinstance(out, list)
