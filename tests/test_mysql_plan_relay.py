"""Differential: the column plans' rule as limen.gateway.mysql.columns reads
it (PlanSpec.masks, which tests/test_mysql_columns.py checks against the
real MariaDB) and the native relay (MySqlServerRelay) that applies it,
on the same result sets: a text result with chosen ColumnDefinitions
(schema, org_table, org_name) goes through the relay with a plan, and each
value must come out replaced exactly when the spec says it is masked."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen import _native
from limen.gateway.mysql.columns import DERIVED, PlanSpec

pytestmark = pytest.mark.skipif(
    not hasattr(_native, "MySqlServerRelay"), reason="the native MySQL relay is not built yet"
)

CAPS = 0x000FA68D  # CLIENT_PROTOCOL_41 without DEPRECATE_EOF: EOF packets frame the rows
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
