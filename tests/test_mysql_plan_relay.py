"""Differential: the column plans' rule as limen.gateway.mysql.columns reads
it (PlanSpec.masks, which tests/test_mysql_columns.py checks against the
real MariaDB) and the native relay (MySqlServerRelay) that applies it,
on the same result sets: a text result with chosen ColumnDefinitions
(schema, org_table, org_name) goes through the relay with a plan, and each
value must come out replaced exactly when the spec says it is masked."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen import _native
from limen.gateway.mysql.columns import DERIVED, MySqlColumns, PlanSpec
from mysql_judge_support import query, relay_types
from test_mysql_columns import ADVERSARIAL, cols, connect, database, judged, sql_id

pytestmark = pytest.mark.skipif(
    not hasattr(_native, "MySqlServerRelay"), reason="the native MySQL relay is not built yet"
)

__all__ = ["cols", "database", "relay_types"]

CAPS = 0x000FA68D  # CLIENT_PROTOCOL_41 without DEPRECATE_EOF: EOF packets frame the rows
CLIENT_DEPRECATE_EOF = 0x01000000
REPLACEMENT = b"[MASKED:column:users.email]"


def lenenc(data: bytes) -> bytes:
    assert len(data) < 251
    return bytes([len(data)]) + data


def column(schema: str, org_table: str, org_name: str) -> bytes:
    return (
        lenenc(b"def")
        + lenenc(schema.encode())
        + lenenc(org_table.encode())
        + lenenc(org_table.encode())
        + lenenc(org_name.encode() or b"expr")
        + lenenc(org_name.encode())
        + b"\x0c"
        + struct.pack("<HIBHB", 45, 400, 0xFD, 0, 0)  # utf8mb4, VAR_STRING
        + b"\x00\x00"
    )


def result(columns: list[tuple[str, str, str]], values: list[bytes]) -> bytes:
    eof = b"\xfe\x00\x00\x02\x00"
    payloads = [bytes([len(columns)])]
    payloads += [column(*c) for c in columns]
    payloads += [eof, b"".join(lenenc(v) for v in values), eof]
    return b"".join(_native.mysql_packet(i + 1, p).data for i, p in enumerate(payloads))


def values_out(out: bytes, n: int) -> list[bytes]:
    """The one row's values of a relayed text result (re-framed)."""
    decoder = _native.MySqlPacketDecoder()
    decoder.ignore_sequence()
    packets = decoder.feed(out)
    row = packets[n + 2].payload
    return [v or b"" for v in _native.mysql_parse_text_row(row, n)]


NAMES = st.tuples(
    st.sampled_from(["shop", "other", ""]),
    st.sampled_from(["users", "USERS", "orders", "v_users", "d", ""]),
    st.sampled_from(["email", "Email", "id", "name", ""]),
)


@settings(max_examples=200, deadline=None)
@given(
    columns=st.lists(NAMES, min_size=1, max_size=5),
    direct_schema=st.sampled_from([None, "shop", "other"]),
    derived=st.booleans(),
    base_tables=st.sampled_from([None, [], [("shop", "users"), ("shop", "orders")]]),
)
def test_the_relay_masks_what_the_spec_says(
    columns: list[tuple[str, str, str]],
    direct_schema: str | None,
    derived: bool,
    base_tables: list[tuple[str, str]] | None,
) -> None:
    direct = [(direct_schema, "users", "email", REPLACEMENT)]
    spec = PlanSpec(direct, DERIVED if derived else None, base_tables)
    plan = _native.MySqlColumnPlan(direct, spec.derived, base_tables)
    relay = _native.MySqlServerRelay(None, CAPS)
    relay.expect(_native.MySqlExpect.QUERY, 0, plan)
    values = [f"value-{i}".encode() for i in range(len(columns))]
    out = relay.feed(result(columns, values))
    assert out.done
    got = values_out(out.data, len(columns))
    for (schema, table, name), sent, came in zip(columns, values, got, strict=True):
        if spec.masks(schema, table, name):
            assert came in (REPLACEMENT, DERIVED), (schema, table, name, came)
        else:
            assert came == sent, (schema, table, name)


# --- end to end: the judge's plans through the relay, on MariaDB's own bytes ------


def _raw_query(conn: Any, sql: str, plan: Any, caps: int) -> list[list[bytes | None]]:
    """Sends ``sql`` as a COM_QUERY on PyMySQL's logged-in socket, relays the
    server's bytes through MySqlServerRelay with ``plan`` and returns the rows
    the client would read."""
    sock = conn._sock  # the logged-in socket: the server's raw bytes
    sock.sendall(_native.mysql_packet(0, b"\x03" + sql.encode()).data)
    relay = _native.MySqlServerRelay(None, caps)
    relay.expect(_native.MySqlExpect.QUERY, 0, plan)
    out = bytearray()
    while not relay.done:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        out += relay.feed(chunk).data
    decoder = _native.MySqlPacketDecoder()
    decoder.ignore_sequence()
    packets = [p.payload for p in decoder.feed(bytes(out))]
    if packets[0][:1] in (b"\x00", b"\xff"):
        return []
    n = _native.mysql_parse_column_count(packets[0], caps)
    rows = []
    for payload in packets[n + 2 :]:
        if payload[:1] == b"\xfe" and len(payload) < 9:
            break
        rows.append(_native.mysql_parse_text_row(payload, n))
    return rows


@pytest.mark.mysql
@pytest.mark.usefixtures("relay_types")
@pytest.mark.parametrize("sql", ADVERSARIAL, ids=sql_id)
def test_end_to_end_no_secret_leaves_the_relay(
    sql: str, cols: MySqlColumns, tmp_path: Path
) -> None:
    s = judged(cols, tmp_path)
    v = s.judge.command(0, query(sql))
    if v.reply is not None:
        return
    conn = connect()
    try:
        caps = conn.client_flag & conn.server_capabilities & ~CLIENT_DEPRECATE_EOF
        rows = _raw_query(conn, sql, v.plan, caps)
    finally:
        conn.close()
    assert rows, sql  # every adversarial statement returns the secret's row
    for row in rows:
        for value in row:
            assert value is None or b"secret-mail" not in value.lower(), (sql, row)


@pytest.mark.mysql
@pytest.mark.usefixtures("relay_types", "database")
def test_end_to_end_without_a_plan_the_secret_shows() -> None:
    """The check above can fail: the same bytes without a plan carry it."""
    conn = connect()
    try:
        caps = conn.client_flag & conn.server_capabilities & ~CLIENT_DEPRECATE_EOF
        rows = _raw_query(conn, "SELECT CONCAT(email) FROM users", None, caps)
    finally:
        conn.close()
    assert any(v is not None and b"secret-mail" in v for row in rows for v in row)


def _relay(sock: Any, relay: Any) -> tuple[bytes, list[Any]]:
    out = bytearray()
    events: list[Any] = []
    while not relay.done:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        step = relay.feed(chunk)
        out += step.data
        events += step.events
    return bytes(out), events


@pytest.mark.mysql
@pytest.mark.usefixtures("relay_types")
@pytest.mark.parametrize("sql", [q for q in ADVERSARIAL if not q.startswith("EXECUTE")], ids=sql_id)
def test_end_to_end_binary_protocol(sql: str, cols: MySqlColumns, tmp_path: Path) -> None:
    """COM_STMT_PREPARE then COM_STMT_EXECUTE: the binary rows the relay
    sends on carry no secret (the plan of the prepare, kept by statement id)."""
    s = judged(cols, tmp_path)
    v = s.judge.command(0, b"\x16" + sql.encode())
    if v.reply is not None:
        return
    conn = connect()
    try:
        caps = conn.client_flag & conn.server_capabilities & ~CLIENT_DEPRECATE_EOF
        sock = conn._sock  # the logged-in socket: the server's raw bytes
        sock.sendall(v.forward or b"")
        relay = _native.MySqlServerRelay(None, caps)
        relay.expect(v.expect, v.seq, v.plan)
        _, events = _relay(sock, relay)
        s.judge.response(events, relay.status)
        (sid,) = [e.statement_id for e in events if isinstance(e, _native.MySqlPrepareOk)]
        run = s.judge.command(0, b"\x17" + struct.pack("<IBI", sid, 0, 1))
        assert run.forward is not None
        sock.sendall(run.forward)
        relay.expect(run.expect, run.seq, run.plan)
        out, _ = _relay(sock, relay)
    finally:
        conn.close()
    assert len(out) > 40  # column definitions and a row came back
    assert b"secret-mail" not in out.lower(), sql
