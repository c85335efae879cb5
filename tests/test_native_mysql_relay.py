"""`MySqlServerRelay`: real MariaDB responses relayed to real clients.

The live tests put a tiny proxy (tests/mysql_relay_proxy.py: login passed
through, each command's response through the relay) between the local
MariaDB and PyMySQL or the raw client of test_native_mysql_live (binary
protocol, CLIENT_DEPRECATE_EOF); the clients decode what the relay sent.
The first tests drive the wrapper with hand-framed packets (no server)."""

from __future__ import annotations

import datetime
import decimal
import os
import pathlib
import socket
from collections.abc import Iterator

import pymysql
import pytest
from hypothesis import given
from hypothesis import strategies as st

from limen import _native as n
from mysql_relay_proxy import Proxy
from test_native_mysql_live import DEPRECATE_EOF, Client

SECRET = "AKIAIOSFODNN7EXAMPLE"
MASKED = b"[MASKED:aws-access-key-id]"
MASKER = n.Masker(["builtin"])
CAPS = (1 << 9) | (1 << 13) | (1 << 15)  # PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION
# One database per xdist worker (see test_mysql_columns.py).
DB = "limen_relay_test_" + os.environ.get("PYTEST_XDIST_WORKER", "main")


def _query_response(values: list[bytes | None], caps: int = CAPS) -> bytes:
    """A one-column text result set (EOF mode), sequence ids from 1."""
    col = (
        b"".join(bytes([len(s)]) + s for s in (b"def", b"db", b"t", b"t", b"c", b"c"))
        + b"\x0c\x21\x00\xff\x00\x00\x00\xfd\x00\x00\x00\x00\x00"
    )
    payloads = [b"\x01", col, b"\xfe\x00\x00\x02\x00"]
    for v in values:
        payloads.append(b"\xfb" if v is None else bytes([len(v)]) + v)
    payloads.append(b"\xfe\x00\x00\x02\x00")
    out = b""
    for seq, p in enumerate(payloads, start=1):
        out += n.mysql_packet(seq, p).data
    return out


def test_events_status_and_state_errors() -> None:
    relay = n.MySqlServerRelay(MASKER, CAPS)
    assert relay.done
    with pytest.raises(n.MySqlProtocolError):
        n.MySqlServerRelay(None, CAPS).feed(b"\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00")
    relay.expect(n.MySqlExpect.OK, 0)
    with pytest.raises(RuntimeError):
        relay.expect(n.MySqlExpect.QUERY, 0)
    with pytest.raises(RuntimeError):
        relay.refuse_infile(1148, "42000", b"no")
    ok = n.mysql_encode_ok(CAPS, affected_rows=3, last_insert_id=9, status=2, warnings=1)
    out = relay.feed(n.mysql_packet(1, ok).data)
    assert out.done
    assert relay.done
    assert relay.status == 2
    (event,) = out.events
    assert isinstance(event, n.MySqlOkSeen)
    assert (event.affected_rows, event.last_insert_id, event.warnings) == (3, 9, 1)
    assert out.data == n.mysql_packet(1, ok).data
    # A FETCH needs the columns of an EXECUTE that opened a cursor.
    with pytest.raises(ValueError):
        relay.expect(n.MySqlExpect.FETCH, 0, statement_id=5)
    relay.expect(n.MySqlExpect.NONE, 0)
    assert relay.done


def test_infile_request_refused_with_the_clients_sequence() -> None:
    relay = n.MySqlServerRelay(None, CAPS)
    relay.expect(n.MySqlExpect.QUERY, 0)
    out = relay.feed(n.mysql_packet(1, b"\xfb/etc/passwd").data)
    assert out.data == b""
    assert not out.done
    (event,) = out.events
    assert isinstance(event, n.MySqlInfileRequest)
    assert event.filename == b"/etc/passwd"
    with pytest.raises(ValueError):
        relay.refuse_infile(1148, "4200", b"bad state")
    assert relay.refuse_infile(1148, "42000", b"refused") == n.mysql_packet(2, b"").data
    out = relay.feed(n.mysql_packet(3, n.mysql_encode_ok(CAPS)).data)
    assert out.done
    assert out.data == n.mysql_packet(1, n.mysql_encode_err(1148, "42000", b"refused")).data


@given(
    values=st.lists(
        st.one_of(st.none(), st.sampled_from([SECRET.encode(), b"plain", b""])), max_size=6
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_any_split_gives_the_same_client_bytes(values: list[bytes | None], cuts: list[int]) -> None:
    wire = _query_response(values)
    outs = []
    for points in ([], sorted(c % (len(wire) + 1) for c in cuts)):
        relay = n.MySqlServerRelay(MASKER, CAPS)
        relay.expect(n.MySqlExpect.QUERY, 0)
        data = b""
        for a, b in zip([0, *points], [*points, len(wire)], strict=True):
            data += relay.feed(wire[a:b]).data
        assert relay.done
        outs.append(data)
    assert outs[0] == outs[1]
    expected = [None if v is None else MASKER.mask(v) for v in values]
    assert outs[0] == _query_response(expected)
    # No masker, no plan: byte-identical passthrough.
    plain = n.MySqlServerRelay(None, CAPS)
    plain.expect(n.MySqlExpect.QUERY, 0)
    assert plain.feed(wire).data == wire


# --- live: the local MariaDB ---------------------------------------------------


def _plan(command: bytes) -> n.MySqlColumnPlan | None:
    """The plan a policy would make: here for queries naming `email`, and
    every COM_STMT_EXECUTE (the tests prepare one statement)."""
    if command[0] != 0x17 and b"email" not in command:
        return None
    return n.MySqlColumnPlan(
        [(DB, "people", "email", b"[EMAIL]")],
        derived=b"[MASKED:derived]",
        base_tables=[(DB, "people")],
    )


@pytest.fixture(scope="module")
def proxy() -> Iterator[tuple[Proxy, int]]:
    root = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
        cur.execute(
            f"CREATE OR REPLACE TABLE {DB}.people (id INT PRIMARY KEY, email VARCHAR(100),"
            " note TEXT, amount DECIMAL(10,2), born DATETIME NULL)"
        )
        cur.execute(
            f"INSERT INTO {DB}.people VALUES (1, 'a@b.c', %s, 12.50, '2001-02-03 04:05:06'),"
            " (2, NULL, 'nothing', 0, NULL)",
            (f"key {SECRET} here",),
        )
    p = Proxy(MASKER, _plan)
    port = p.start()
    yield p, port
    p.close()
    with root.cursor() as cur:
        cur.execute(f"DROP DATABASE {DB}")
    root.close()


def _connect(port: int, **kw: object) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user="root", password="", **kw)


@pytest.mark.mysql
def test_pymysql_text_rows_masked_by_content_and_plan(proxy: tuple[Proxy, int]) -> None:
    p, port = proxy
    with _connect(port, database=DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, email, note, amount, born, CONCAT('x', note) AS c FROM people")
        rows = cur.fetchall()
    assert rows == (
        (1, "[EMAIL]", f"key {MASKED.decode()} here", decimal.Decimal("12.50"),
         datetime.datetime(2001, 2, 3, 4, 5, 6), "[MASKED:derived]"),
        (2, None, "nothing", decimal.Decimal("0.00"), None, "[MASKED:derived]"),
    )  # fmt: skip
    assert p.masked_values
    assert p.masked_values[-1] == 3  # two derived values, one email (NULL stays NULL)
    assert not p.errors


@pytest.mark.mysql
def test_pymysql_multi_statements_errors_and_infile(proxy: tuple[Proxy, int]) -> None:
    p, port = proxy
    flags = pymysql.constants.CLIENT.MULTI_STATEMENTS
    conn = _connect(port, database=DB, client_flag=flags, local_infile=True)
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT note FROM people WHERE id = 1; DO 1; SELECT '{SECRET}'")
        assert cur.fetchall() == ((f"key {MASKED.decode()} here",),)
        assert cur.nextset()
        assert cur.nextset()
        assert cur.fetchall() == ((MASKED.decode(),),)
        assert not cur.nextset()
        # The server's error names the table: masked before the client.
        with pytest.raises(pymysql.err.ProgrammingError) as err:
            cur.execute(f"SELECT * FROM `{SECRET}`")
        assert SECRET not in str(err.value)
        assert MASKED.decode() in str(err.value)
        with pytest.raises(pymysql.err.MySQLError) as refused:
            cur.execute("LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE people")
        assert refused.value.args[0] == 1148
        cur.execute("SELECT COUNT(*) FROM people")
        assert cur.fetchall() == ((2,),)
    assert any(isinstance(e, n.MySqlInfileRequest) for e in p.events)
    errs = [e for e in p.events if isinstance(e, n.MySqlErrSeen)]
    assert errs
    assert all(SECRET not in e.message for e in errs)
    assert not p.errors


@pytest.mark.mysql
def test_rows_past_16_mib_are_resplit(proxy: tuple[Proxy, int]) -> None:
    p, port = proxy
    # 0xffffff - 4 (length prefix) - len(SECRET): the server's row is exactly
    # one full physical packet plus an empty one; masking grows it by 6.
    fill = 0xFFFFFF - 4 - len(SECRET)
    with _connect(port) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT CONCAT(REPEAT('x', {fill - 1}), ' {SECRET}')")
        ((value,),) = cur.fetchall()
        assert len(value) == fill + len(MASKED)
        assert value.endswith(MASKED.decode())
        assert value.startswith("xxx")
        cur.execute("SELECT 2")
        assert cur.fetchall() == ((2,),)
    assert not p.errors


def _binary_row(payload: bytes, types: list[int]) -> list[bytes | None]:
    """A minimal binary-row decoder for the types these tests use."""
    nulls = payload[1 : 1 + (len(types) + 9) // 8]
    at = 1 + len(nulls)
    out: list[bytes | None] = []
    for i, t in enumerate(types):
        if nulls[(i + 2) // 8] & (1 << ((i + 2) % 8)):
            out.append(None)
            continue
        if t == 3:  # LONG
            size, skip = 4, 0
        elif t in (0x07, 0x0C):  # TIMESTAMP, DATETIME: 1-byte length
            size, skip = payload[at], 1
        else:  # strings and decimals: a length-encoded string (< 251 here)
            size, skip = payload[at], 1
        out.append(payload[at + skip : at + skip + size])
        at += skip + size
    assert at == len(payload)
    return out


@pytest.mark.mysql
@pytest.mark.parametrize("extra", [0, DEPRECATE_EOF])
def test_binary_rows_and_eof_modes(proxy: tuple[Proxy, int], extra: int) -> None:
    p, port = proxy
    client = Client(socket.create_connection(("127.0.0.1", port), timeout=30))
    client.login(b"root", "", extra=extra)
    assert bool(client.caps & DEPRECATE_EOF) == bool(extra)
    rows = client.query(f"SELECT id, note FROM {DB}.people ORDER BY id".encode())
    assert rows == [[b"1", b"key " + MASKED + b" here"], [b"2", b"nothing"]]
    eof = not client.caps & DEPRECATE_EOF
    client.seq = 0
    client.dec.set_sequence(0)
    client.send(b"\x16" + f"SELECT id, email, note, amount, born FROM {DB}.people".encode())
    prepare_ok = client.read().payload
    statement, columns = prepare_ok[1:5], int.from_bytes(prepare_ok[5:7], "little")
    for _ in range(columns + eof):
        client.read()
    client.seq = 0
    client.dec.set_sequence(0)
    client.send(b"\x17" + statement + b"\x00" + (1).to_bytes(4, "little"))
    count = client.read().payload[0]
    types = [n.mysql_parse_column_definition(client.read().payload, client.caps).column_type
             for _ in range(count)]  # fmt: skip
    if eof:
        client.read()
    got = []
    while (payload := client.read().payload)[:1] != b"\xfe":
        got.append(_binary_row(payload, types))
    # id kept, email replaced (a string type), note masked by content, the
    # decimal and datetime kept (not listed, real columns of a base table).
    assert got[0][:3] == [(1).to_bytes(4, "little"), b"[EMAIL]", b"key " + MASKED + b" here"]
    assert got[0][3] == b"12.50"
    assert got[0][4] is not None
    assert got[1][:3] == [(2).to_bytes(4, "little"), None, b"nothing"]
    assert [e for e in p.events if isinstance(e, n.MySqlPrepareOk)]
    client.sock.close()
    assert not p.errors


@pytest.mark.mysql
def test_allowed_local_infile_reaches_the_server(
    proxy: tuple[Proxy, int], tmp_path: pathlib.Path
) -> None:
    allowing = Proxy(MASKER, allow_infile=True)
    port = allowing.start()
    data = tmp_path / "people.csv"
    data.write_text("".join(f"{i},e{i}@x,note {i},1.00,\\N\n" for i in range(10, 2010)))
    try:
        conn = _connect(port, database=DB, local_infile=True, autocommit=True)
        with conn, conn.cursor() as cur:
            cur.execute(
                f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE people FIELDS TERMINATED BY ','"
            )
            assert cur.rowcount == 2000
            cur.execute("SELECT COUNT(*), MAX(id) FROM people WHERE id >= 10")
            assert cur.fetchall() == ((2000, 2009),)
            cur.execute("DELETE FROM people WHERE id >= 10")
    finally:
        allowing.close()
    assert any(isinstance(e, n.MySqlInfileRequest) for e in allowing.events)
    assert not allowing.errors
