"""Column masks hold whatever the query does with the column: a corpus of
bypass forms (expressions, casts, functions, aggregates, subqueries,
whole-row references, set operations, CTEs, LATERAL, views, functions
limen cannot see through, COPY, cursors, prepared statements, portals with
a row limit, pipelines), each through psycopg's simple protocol
(ClientCursor), its extended protocol in text and binary, and asyncpg
(extended, binary), on both relays; no raw value of a masked column comes
back. Plus refusals (copying a masked value elsewhere, binary COPY,
``mask_predicates = "deny"``), the recording, and a hypothesis test that
composes expressions around masked columns."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import asyncpg
import psycopg
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors as pgerrors
from psycopg.types.string import TextLoader

import gateway_pg_support
from gateway_pg_support import Gateway, _direct, database, start_gateway
from limen import _native
from limen.config import load_config_text

pytestmark = pytest.mark.integration
__all__ = ["database"]

#: (id, label, secret, pin, doc): values no content detector recognises.
VAULT = [
    (1, "first", "zebra-quartz-17", 947113, {"k": "plum-orbit-88"}),
    (2, "second", "mango-violet-42", 815029, {"k": "cedar-flute-63"}),
]
RAW = ("zebra", "quartz", "mango", "violet", "947113", "815029", "plum", "cedar", "orbit")
MARK_SECRET = "[MASKED:column:vault.secret]"


def _setup(dbname: str) -> None:
    with _direct(dbname) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS vault (id int PRIMARY KEY, label text, secret text,"
            " pin int, doc jsonb)"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS sink (id int, v text)")
        with conn.cursor() as cur:
            for vid, label, secret, pin, doc in VAULT:
                cur.execute(
                    "INSERT INTO vault VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (vid, label, secret, pin, json.dumps(doc)),
                )
        conn.execute(
            "CREATE OR REPLACE VIEW vault_v AS SELECT id, label, upper(secret) AS s,"
            " pin + 0 AS p FROM vault"
        )
        conn.execute("CREATE OR REPLACE VIEW vault_vv AS SELECT lower(s) AS t FROM vault_v")
        conn.execute(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS vault_mv AS SELECT id, secret || '' AS s"
            " FROM vault"
        )
        conn.execute(
            "CREATE OR REPLACE FUNCTION vault_secret(int) RETURNS text LANGUAGE sql"
            " AS 'SELECT secret FROM vault WHERE id = $1'"
        )


def _config(dbname: str, tmp_path: Path) -> str:
    base = gateway_pg_support.config_text(dbname)
    return (
        base
        + """
[[rules]]
name = "vault-read"
groups = ["vault"]
resources = ["app"]
allow = ["read", "write"]
mask = ["column:vault.secret", "column:vault.pin", "column:vault.doc", "column:vault_p.secret",
        "column:vault_base.secret"]

[[rules]]
name = "vault-strict"
groups = ["strict"]
resources = ["app"]
allow = ["read"]
mask = ["column:vault.secret", "column:vault.pin"]
mask_predicates = "deny"
"""
    )


@pytest.fixture
async def vgw(nursery: trio.Nursery, tmp_path: Path, database: str) -> Gateway:
    _setup(database)
    config = load_config_text(_config(database, tmp_path), base_dir=tmp_path)
    return await start_gateway(nursery, config)


def run(fn: Callable[[], object]) -> object:
    return trio.to_thread.run_sync(fn)


def connect(gw: Gateway, token: str, **kw: object) -> psycopg.Connection[tuple[object, ...]]:
    """A psycopg connection that reads text-format numbers as text: a
    masked value in text format is the marker, which no int parser takes."""
    conn = psycopg.connect(gw.dsn(token), **kw)  # type: ignore[arg-type]
    for name in ("int2", "int4", "int8", "numeric", "float8", "bool"):
        conn.adapters.register_loader(name, TextLoader)
    for oid in (1009, 1007, 1016, 3807, 199):  # text[], int4[], int8[], jsonb[], json[]
        conn.adapters.register_loader(oid, TextLoader)
    return conn


def flat(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def assert_clean(rows: object, what: str) -> None:
    text = flat([[flat(v) for v in row] for row in rows])  # type: ignore[attr-defined]
    leaked = [r for r in RAW if r in text]
    assert not leaked, f"{what}: raw {leaked} in {text}"


#: Bypass forms: every one returns a value derived from a masked column.
FORMS = [
    "SELECT secret || '' FROM vault",
    "SELECT upper(secret), id FROM vault",
    "SELECT string_agg(secret, ',') FROM vault",
    "SELECT (SELECT secret FROM vault ORDER BY id LIMIT 1)",
    "SELECT v::text FROM vault v",
    "SELECT row_to_json(v) FROM vault v",
    "SELECT to_jsonb(v) FROM vault v",
    "SELECT (v).secret, (v).pin FROM vault v",
    "SELECT label FROM vault UNION ALL SELECT secret FROM vault",
    "SELECT id, pin FROM vault INTERSECT SELECT id, pin FROM vault",
    "SELECT * FROM vault",
    "TABLE vault",
    "SELECT x.* FROM (SELECT secret, pin * 1 AS p FROM vault) x",
    "WITH c AS (SELECT secret AS s FROM vault) SELECT s, 1 FROM c",
    "SELECT l.s FROM vault, LATERAL (SELECT vault.secret AS s) l",
    "SELECT * FROM (VALUES (1)) t(a), vault",
    "SELECT pin::text, pin + 1, pin FROM vault",
    "SELECT doc, doc->>'k', doc::text FROM vault",
    "SELECT CASE WHEN id > 0 THEN secret END FROM vault",
    "SELECT array_agg(secret) FROM vault",
    "SELECT max(pin), min(secret) FROM vault",
    "SELECT lag(secret) OVER (ORDER BY id), secret FROM vault",
    "SELECT * FROM vault_v",
    "SELECT s, p FROM vault_v",
    "SELECT vault_secret(1)",
    "SELECT * FROM vault_vv",
    "SELECT * FROM vault_mv",
    "SELECT * FROM vault LEFT JOIN sink USING (id)",
    "SELECT format('%s', secret), concat(pin, 'x'), reverse(secret) FROM vault",
]


async def test_bypass_forms_psycopg_simple_extended_binary(vgw: Gateway) -> None:
    token = vgw.token(groups=("vault",))

    def client() -> None:
        with connect(vgw, token, autocommit=True) as conn:
            simple = psycopg.ClientCursor(conn)
            for sql in FORMS:
                simple.execute(sql)
                rows = simple.fetchall()
                assert rows, sql
                assert_clean(rows, f"simple: {sql}")
                for binary in (False, True):
                    with conn.cursor(binary=binary) as cur:
                        cur.execute(sql)
                        assert_clean(cur.fetchall(), f"extended binary={binary}: {sql}")
            simple.execute("SELECT secret, upper(secret) FROM vault ORDER BY id")
            assert simple.fetchall()[0] == (MARK_SECRET, MARK_SECRET)
            # views are read from the catalog: masked by the column, not as unknown
            for view in ("vault_v", "vault_vv", "vault_mv"):
                simple.execute(f"SELECT * FROM {view}")
                assert MARK_SECRET in flat(simple.fetchall()), view
            # several statements in one query: each masked by its own plan
            simple.execute("SELECT 1; SELECT id, secret || '!' FROM vault ORDER BY id")
            assert simple.fetchall() == [("1",)]
            assert simple.nextset()
            assert simple.fetchall() == [("1", MARK_SECRET), ("2", MARK_SECRET)]

    await run(client)


async def test_bypass_forms_asyncpg(vgw: Gateway) -> None:
    token = vgw.token(groups=("vault",))

    def in_thread() -> None:
        async def main() -> None:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=vgw.port, user="bot", password=token, database="app"
            )
            try:
                for sql in FORMS:
                    rows = await conn.fetch(sql)
                    assert rows, sql
                    assert_clean([tuple(r) for r in rows], f"asyncpg: {sql}")
                stmt = await conn.prepare("SELECT id, secret || $1, pin FROM vault WHERE id = $2")
                for i in (1, 2):  # Parse once, many Executes
                    row = await stmt.fetchrow("!", i)
                    assert row is not None
                    assert row[1] == MARK_SECRET
                    assert row[2] is None  # a binary int cannot say masked: NULL
                async with conn.transaction():  # a portal with a row limit
                    cur = await conn.cursor("SELECT upper(secret) FROM vault ORDER BY id")
                    got = await cur.fetch(1) + await cur.fetch(1)
                assert [r[0] for r in got] == [MARK_SECRET, MARK_SECRET]
            finally:
                await conn.close()

        asyncio.run(main())

    await trio.to_thread.run_sync(in_thread)


async def test_cursors_prepared_and_pipelines(vgw: Gateway) -> None:
    token = vgw.token(groups=("vault",))

    def client() -> None:
        with connect(vgw, token) as conn:
            cur = psycopg.ClientCursor(conn)
            cur.execute("DECLARE c CURSOR FOR SELECT id, lower(secret) FROM vault ORDER BY id")
            cur.execute("FETCH 1 FROM c")
            assert cur.fetchall() == [("1", MARK_SECRET)]
            cur.execute("FETCH ALL FROM c")
            assert cur.fetchall() == [("2", MARK_SECRET)]
            cur.execute("PREPARE p AS SELECT secret || 'x' FROM vault WHERE id = $1")
            cur.execute("EXECUTE p(1)")
            assert cur.fetchall() == [(MARK_SECRET,)]
            # the protocol's Bind/Execute of the SQL-prepared statement
            res = conn.pgconn.exec_prepared(b"p", [b"2"])
            assert res.get_value(0, 0) == MARK_SECRET.encode()
            conn.rollback()
            with conn.cursor(name="srv") as named:  # DECLARE/FETCH, extended protocol
                named.execute("SELECT pin * 2, secret FROM vault ORDER BY id")
                rows = named.fetchmany(1) + named.fetchall()
            assert_clean(rows, "server-side cursor")
            assert len(rows) == 2
            for _ in range(6):  # psycopg prepares it after a few runs
                conn.execute("SELECT upper(secret) FROM vault WHERE id = %s", (1,))
            assert conn.execute(
                "SELECT upper(secret) FROM vault WHERE id = %s", (1,), prepare=True
            ).fetchall() == [(MARK_SECRET,)]
            conn.commit()
            with conn.pipeline():
                a = conn.execute("SELECT id FROM vault WHERE id = %s", (1,))
                b = conn.execute("SELECT secret || %s FROM vault ORDER BY id", ("",))
                c = conn.execute("SELECT label FROM vault ORDER BY id")
            assert a.fetchall() == [("1",)]
            assert b.fetchall() == [(MARK_SECRET,), (MARK_SECRET,)]
            assert c.fetchall() == [("first",), ("second",)]

    await run(client)


async def test_copy_out_is_masked_and_binary_copy_refused(vgw: Gateway) -> None:
    token = vgw.token(groups=("vault",))

    def client() -> None:
        with connect(vgw, token, autocommit=True) as conn:
            cur = conn.cursor()
            for sql in (
                "COPY vault TO STDOUT",
                "COPY vault (id, secret) TO STDOUT WITH (FORMAT csv, HEADER)",
                "COPY (SELECT upper(secret), label FROM vault) TO STDOUT (FORMAT csv)",
                "COPY vault TO STDOUT (FORMAT csv, DELIMITER ':')",
            ):
                with cur.copy(sql) as copy:
                    data = b"".join(bytes(b) for b in copy)
                assert_clean([[data]], sql)
                assert b"[MASKED:column:vault" in data
                assert b"first" in data or b"id" in data
            with cur.copy("COPY vault (id, label) TO STDOUT (FORMAT csv, HEADER)") as copy:
                plain = b"".join(bytes(b) for b in copy)
            assert plain == b"id,label\n1,first\n2,second\n"
            with (
                pytest.raises(pgerrors.InsufficientPrivilege) as info,
                cur.copy("COPY vault TO STDOUT (FORMAT binary)") as copy,
            ):
                b"".join(bytes(b) for b in copy)
            assert "vault." in str(info.value)
            assert conn.execute("SELECT 1").fetchone() == ("1",)

    await run(client)


async def test_copying_a_masked_value_elsewhere_is_refused(vgw: Gateway, database: str) -> None:
    token = vgw.token(groups=("vault",))

    def client() -> list[str]:
        out = []
        with connect(vgw, token, autocommit=True) as conn:
            for sql in (
                "INSERT INTO sink SELECT id, secret FROM vault",
                "UPDATE sink SET v = (SELECT secret FROM vault LIMIT 1) WHERE id = 1",
                "SELECT pg_notify('c', secret) FROM vault",
            ):
                with pytest.raises(pgerrors.InsufficientPrivilege) as info:
                    conn.execute(sql)
                out.append(str(info.value))
            # writing a masked column from itself stays masked: allowed
            conn.execute("UPDATE vault SET secret = secret WHERE id = 1")
        return out

    messages = await run(client)
    for m in messages:
        assert "vault.secret" in m, m
    assert direct_count(database, "sink") == 0


def direct_count(dbname: str, table: str) -> int:
    with _direct(dbname) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


async def test_mask_predicates_deny(vgw: Gateway) -> None:
    strict = vgw.token(groups=("strict",))
    relaxed = vgw.token(groups=("vault",))

    def client() -> tuple[list[str], object]:
        refused = []
        with connect(vgw, strict, autocommit=True) as conn:
            for sql in (
                "SELECT id FROM vault WHERE secret LIKE 'z%'",
                "SELECT id FROM vault ORDER BY pin",
                "SELECT count(*) FROM vault GROUP BY secret",
                "SELECT a.id FROM vault a JOIN vault b ON a.secret = b.secret",
                "SELECT id FROM vault WHERE EXISTS (SELECT 1 FROM vault v WHERE v.pin > 5)",
            ):
                with pytest.raises(pgerrors.InsufficientPrivilege) as info:
                    conn.execute(sql)
                refused.append(str(info.value))
            ok = conn.execute("SELECT id, secret FROM vault WHERE id = 1").fetchall()
        with connect(vgw, relaxed, autocommit=True) as conn:
            got = conn.execute("SELECT id FROM vault WHERE secret LIKE 'z%'").fetchall()
            assert got == [("1",)]
        return refused, ok

    refused, ok = await run(client)
    assert all("filters, joins, orders or groups" in m for m in refused), refused
    assert ok == [("1", MARK_SECRET)]


async def test_recording_names_the_masked_columns(vgw: Gateway) -> None:
    token = vgw.token(groups=("vault",))

    def client() -> None:
        with connect(vgw, token, autocommit=True) as conn:
            conn.execute("SELECT id, upper(secret) AS s FROM vault").fetchall()

    await run(client)
    rec = vgw.recorders[-1]
    events = [json.loads(p) for p in rec.of("event") if b'"decision"' in p]
    masked = [e for e in events if e.get("masked_columns")]
    assert masked, events
    col = masked[-1]["masked_columns"][0]
    assert col["column"] == 2
    assert col["name"] == "s"
    assert col["from"] == ["vault.secret"]
    sent = b"".join(rec.of("u2c"))
    assert not [r for r in RAW if r.encode() in sent]


#: Expressions that keep (some of) a value: each wraps the one inside.
WRAPS = [
    "upper({})",
    "({}) || 'x'",
    "({})::text",
    "coalesce({}, 'a')",
    "substr({}, 1, 4)",
    "reverse({})",
    "concat({}, 1)",
    "format('%s', {})",
    "(SELECT {})",
    "CASE WHEN true THEN {} ELSE 'n' END",
    "ARRAY[{}]::text",
    "jsonb_build_object('a', {})::text",
    "(row({}, 1))::text",
    "nullif({}, 'zz')",
]
LEAVES = ["secret", "pin::text", "v.secret", "(v).secret", "doc->>'k'", "v::text"]
SHAPES = [
    "SELECT {} FROM vault v",
    "SELECT x FROM (SELECT {} AS x FROM vault v) s",
    "WITH w AS (SELECT {} AS x FROM vault v) SELECT * FROM w",
    "SELECT 'c' UNION ALL SELECT {} FROM vault v",
    "SELECT string_agg({}, ',') FROM vault v",
]


@st.composite
def expressions(draw: st.DrawFn) -> str:
    expr = draw(st.sampled_from(LEAVES))
    for wrap in draw(st.lists(st.sampled_from(WRAPS), max_size=4)):
        expr = wrap.format(expr)
    return draw(st.sampled_from(SHAPES)).format(expr)


async def test_composed_expressions_never_leak(vgw: Gateway) -> None:
    token = vgw.token(groups=("vault",))

    def client() -> None:
        with connect(vgw, token, autocommit=True) as conn:
            simple = psycopg.ClientCursor(conn)

            @settings(
                max_examples=60,
                deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture],
            )
            @given(expressions(), st.booleans())
            def check(sql: str, extended: bool) -> None:
                cur = conn.cursor() if extended else simple
                cur.execute(sql)
                assert_clean(cur.fetchall(), sql)

            check()

    await run(client)


async def test_error_messages_do_not_quote_masked_values(vgw: Gateway) -> None:
    token = vgw.token(groups=("vault",))

    def client() -> list[str]:
        texts = []
        with connect(vgw, token, autocommit=True) as conn:
            for sql in (
                "SELECT secret::int FROM vault",
                "SELECT id FROM vault WHERE secret::int > 0",
                "SELECT (doc->>'k')::numeric FROM vault",
            ):
                for cur in (psycopg.ClientCursor(conn), conn.cursor()):
                    with pytest.raises(pgerrors.InvalidTextRepresentation) as info:
                        cur.execute(sql)
                    texts.append(f"{info.value} {info.value.diag.message_detail}")
            # a statement that reads no masked column keeps its message
            with pytest.raises(pgerrors.InvalidTextRepresentation) as plain:
                conn.execute("SELECT label::int FROM vault")
            texts.append(str(plain.value))
        return texts

    texts = await run(client)
    for text in texts[:-1]:
        assert "message withheld" in text
        assert not [r for r in RAW if r in text], text
    assert "first" in texts[-1] or "second" in texts[-1]


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql not installed")
async def test_psql_forms_and_copy(vgw: Gateway) -> None:
    args = ["psql", "-h", "127.0.0.1", "-p", str(vgw.port), "-U", "bot", "-d", "app", "-AtX"]
    env = {**os.environ, "PGPASSWORD": vgw.token(groups=("vault",)), "PGSSLMODE": "disable"}
    script = "\n".join([*(f"{sql};" for sql in FORMS), "\\copy vault to stdout", ""])
    done = await trio.run_process(
        [*args, "-v", "ON_ERROR_STOP=1", "-f", "-"],
        stdin=script.encode(),
        env=env,
        capture_stdout=True,
        capture_stderr=True,
    )
    out = done.stdout.decode()
    assert MARK_SECRET in out
    assert "[MASKED:column:vault.pin]" in out
    assert_clean([[out]], "psql")


async def test_both_relays_and_the_pump_cache_agree(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> None:
    """Differential: the same statements, each sent twice (the second time
    the native pump may answer from its decision cache, which only holds
    statements with no plan), give the same rows through both relays."""
    _setup(database)
    sequence = [
        *FORMS,
        "SELECT id, label FROM vault ORDER BY id",
        "SELECT id FROM vault WHERE id = 1",
        "SELECT id FROM vault WHERE id = 2",
        "BEGIN",
        "DECLARE c CURSOR FOR SELECT id FROM vault ORDER BY id",
        "FETCH 1 FROM c",
        "CLOSE c",
        "DECLARE c CURSOR FOR SELECT secret FROM vault ORDER BY id",
        "FETCH 1 FROM c",
        "COMMIT",
    ]
    seen: dict[str, list[object]] = {}
    before = gateway_pg_support.RELAY
    try:
        for relay in ("native", "trio"):
            gateway_pg_support.RELAY = relay
            config = load_config_text(_config(database, tmp_path), base_dir=tmp_path)
            gw = await start_gateway(nursery, config)
            token = gw.token(groups=("vault",))

            def client(gw: Gateway = gw, token: str = token) -> list[object]:
                out: list[object] = []
                with connect(gw, token, autocommit=True) as conn:
                    cur = psycopg.ClientCursor(conn)
                    for sql in sequence * 2:
                        cur.execute(sql)
                        rows = cur.fetchall() if cur.description else []
                        out.append(sorted(flat(r) for r in rows))
                return out

            seen[relay] = await trio.to_thread.run_sync(client)
    finally:
        gateway_pg_support.RELAY = before
    assert seen["native"] == seen["trio"]
    assert_clean([[flat(seen["native"])]], "both relays")


def _msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


async def test_protocol_execute_of_a_sql_cursor_is_masked(vgw: Gateway) -> None:
    """A SQL cursor is a portal: the protocol's Execute (sent by hand)
    reads it by its plan too."""
    from test_gateway_pg import _login

    token = vgw.token(groups=("vault",))

    def client() -> bytes:
        sock = _login(vgw.port, token)
        try:
            sock.sendall(
                _native.pg_query(
                    b"BEGIN; DECLARE k CURSOR FOR SELECT upper(secret) FROM vault ORDER BY id"
                )
            )
            buf = b""
            while not buf.endswith(b"Z\x00\x00\x00\x05T"):
                chunk = sock.recv(65536)
                assert chunk
                buf += chunk
            sock.sendall(_msg(b"E", b"k\x00" + struct.pack("!i", 0)) + _msg(b"S", b""))
            buf = b""
            while not buf.endswith(b"Z\x00\x00\x00\x05T"):
                chunk = sock.recv(65536)
                assert chunk
                buf += chunk
            return buf
        finally:
            sock.close()

    got = await run(client)
    assert MARK_SECRET.encode() in got
    assert not [r for r in RAW if r.upper().encode() in got]


async def test_a_view_created_between_sessions_is_seen(vgw: Gateway, database: str) -> None:
    """The catalog read for one session is reused by the next only while
    its fingerprint holds: a view created in between is read and masked by
    its column (not as an unknown relation)."""
    token = vgw.token(groups=("vault",))

    def query(sql: str) -> list[tuple[object, ...]]:
        with connect(vgw, token, autocommit=True) as conn:
            return conn.execute(sql).fetchall()

    with _direct(database) as conn:
        conn.execute("DROP VIEW IF EXISTS vault_late")
    assert await run(lambda: query("SELECT count(*) FROM vault")) == [("2",)]
    with _direct(database) as conn:
        conn.execute("CREATE VIEW vault_late AS SELECT id, secret || '?' AS z FROM vault")
    rows = await run(lambda: query("SELECT z FROM vault_late ORDER BY id"))
    assert rows == [(MARK_SECRET,), (MARK_SECRET,)]


async def test_partitions_and_inheritance_children_are_masked_as_their_parent(
    vgw: Gateway, database: str
) -> None:
    """A rule names the parent; reading a partition (at any depth) or an
    inheritance child directly gives the parent's masked column, by the
    plain reference and through expressions."""
    with _direct(database) as conn:
        conn.execute(
            "DROP TABLE IF EXISTS vault_p, vault_base CASCADE;"
            "CREATE TABLE vault_p (id int, secret text) PARTITION BY RANGE (id);"
            "CREATE TABLE vault_p1 PARTITION OF vault_p FOR VALUES FROM (0) TO (100)"
            " PARTITION BY RANGE (id);"
            "CREATE TABLE vault_p1a PARTITION OF vault_p1 FOR VALUES FROM (0) TO (50);"
            "INSERT INTO vault_p VALUES (1, 'zebra-part');"
            "CREATE TABLE vault_base (id int, secret text);"
            "CREATE TABLE vault_kid (extra int) INHERITS (vault_base);"
            "INSERT INTO vault_kid VALUES (2, 'mango-kid', 3)"
        )
    token = vgw.token(groups=("vault",))
    mark_p = "[MASKED:column:vault_p.secret]"
    mark_b = "[MASKED:column:vault_base.secret]"

    def client() -> None:
        with connect(vgw, token, autocommit=True) as conn:
            simple = psycopg.ClientCursor(conn)
            for table, mark in (
                ("vault_p", mark_p),
                ("vault_p1", mark_p),
                ("vault_p1a", mark_p),
                ("vault_base", mark_b),
                ("vault_kid", mark_b),
            ):
                for sql in (
                    f"SELECT secret FROM {table}",
                    f"SELECT secret || '' FROM {table}",
                    f"SELECT t::text FROM {table} t",
                ):
                    for cur in (simple, conn.cursor(), conn.cursor(binary=True)):
                        cur.execute(sql)
                        rows = cur.fetchall()
                        assert rows, sql
                        assert_clean(rows, sql)
                simple.execute(f"SELECT secret FROM {table}")
                assert simple.fetchall() == [(mark,)], table

    await run(client)
