"""Statement texts as limen records them: limen.inmask and limen.sqllex."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast.parser import parse_sql_json

from limen import _native
from limen.inmask import InputMasker, masking_record
from limen.sqllex import string_constants

M = InputMasker()

AWS = "AKIAIOSFODNN7EXAMPLE"


def _mask(sql: str) -> str:
    return M.mask(sql.encode()).text.decode()


@pytest.mark.parametrize(
    ("sql", "secret"),
    [
        ("ALTER ROLE bot PASSWORD 'hunter2-plain'", "hunter2-plain"),
        ("alter user bot with encrypted password 'Tr0ub4dor&3'", "Tr0ub4dor&3"),
        ("CREATE ROLE x LOGIN PASSWORD 'pa''ss word' VALID UNTIL 'infinity'", "pa'ss word"),
        ("CREATE USER x WITH PASSWORD E'sec\\'ret\\x41'", "sec'retA"),
        ("CREATE USER x WITH PASSWORD $q$dollar-secret$q$", "dollar-secret"),
        ("CREATE USER x PASSWORD 'split'\n'-across-lines'", "split"),
        (
            "CREATE USER MAPPING FOR bot SERVER s OPTIONS (user 'u', password 'fdw-pass-1')",
            "fdw-pass-1",
        ),
        ("ALTER USER MAPPING FOR bot SERVER s OPTIONS (SET password 'fdw-pass-2')", "fdw-pass-2"),
        (
            "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h', passfile 'p9x')",
            "p9x",
        ),
        ("SET app.api_token = 'tok-plain-123'", "tok-plain-123"),
        ("ALTER SYSTEM SET primary_conninfo = 'host=h user=r pw=xyzzy'", "xyzzy"),
        ("ALTER ROLE bot SET my.secret TO 'role-setting-secret'", "role-setting-secret"),
        ("ALTER DATABASE d SET app.key = 'db-setting-secret'", "db-setting-secret"),
        ("SELECT set_config('app.whatever', 'cfg-value-secret', false)", "cfg-value-secret"),
        ("SELECT pg_catalog.set_config('a.b', 'cfg-value-2', true)", "cfg-value-2"),
        (
            "SELECT * FROM dblink('host=h dbname=d user=u pw=conn-secret', 'select 1') AS t(a int)",
            "conn-secret",
        ),
        ("SELECT dblink_connect('c1', 'dbname=x pw=connect-secret')", "connect-secret"),
        (
            "CREATE SUBSCRIPTION s CONNECTION 'host=h pw=sub-secret' PUBLICATION p",
            "sub-secret",
        ),
        ("ALTER SUBSCRIPTION s CONNECTION 'host=h pw=sub-secret-2'", "sub-secret-2"),
        ("SELECT crypt('user-pass-99', gen_salt('bf'))", "user-pass-99"),
        ("SELECT pgp_sym_encrypt('data', 'sym-key-77')", "sym-key-77"),
        # content detectors everywhere else
        (f"SELECT '{AWS}' AS k", AWS),
        ("INSERT INTO t VALUES ('ghp_0123456789abcdefghijABCDEFGHIJklmnop12')", "ghp_0123456789"),
        ("SELECT 'password=hunter2xyz' AS p", "hunter2xyz"),
        # a text that does not parse: every string constant
        ("ALTER ROLE bot PASSWORD 'in-broken-sql' garbage (", "in-broken-sql"),
    ],
)
def test_secrets_are_masked(sql: str, secret: str) -> None:
    masked = M.mask(sql.encode())
    assert secret.encode() not in masked.text
    assert masked.masked
    assert masked.detectors
    assert b"[MASKED:" in masked.text


def test_structure_keeps_the_rest_readable() -> None:
    out = _mask("ALTER ROLE bot WITH LOGIN PASSWORD 'hunter2' VALID UNTIL '2030-01-01'")
    assert (
        out == "ALTER ROLE bot WITH LOGIN PASSWORD '[MASKED:sql-secret]' VALID UNTIL '2030-01-01'"
    )
    # the masked text is still SQL
    parse_sql_json(out)
    m = M.mask(b"SELECT dblink_exec('host=h', 'UPDATE t SET a = 1')")
    assert m.text == b"SELECT dblink_exec('[MASKED:sql-secret]', 'UPDATE t SET a = 1')"
    assert m.detectors == {"sql-secret": 1}


def test_plain_statements_are_unchanged_and_not_structural() -> None:
    for sql in (
        b"SELECT abalance FROM pgbench_accounts WHERE aid = 42",
        b"INSERT INTO t VALUES ('hello', 2)",
        b"SELECT key FROM t WHERE name = 'x'",  # 'key' passes the prefilter, no position
        b"SET search_path = 'public'",
        b"COPY t FROM STDIN WITH (FORMAT csv)",
    ):
        m = M.mask(sql)
        assert m.text == sql
        assert not m.masked
        assert not m.structural


def test_a_secret_position_without_a_string_is_still_structural() -> None:
    m = M.mask(b"ALTER ROLE bot PASSWORD NULL")
    assert m.structural
    assert not m.masked


def test_masking_record_names_detectors_only() -> None:
    m = M.mask(f"ALTER ROLE a PASSWORD 'zz-top-secret'; SELECT '{AWS}'".encode())
    rec = msgspec.json.decode(masking_record(m))
    assert rec == {"record": "c2u", "masked": {"aws-access-key-id": 1, "sql-secret": 1}}
    assert b"zz-top-secret" not in masking_record(m)


def test_user_rules_apply() -> None:
    content = _native.Masker(["builtin", "internal"], [], [("internal", ["project-x"], True)], [])
    m = InputMasker(content).mask(b"SELECT 'Project-X plans'")
    assert b"Project-X" not in m.text
    assert m.detectors == {"internal": 1}


# --- properties --------------------------------------------------------------------------

_VALUE_CHARS = st.text(alphabet="ab '\\\n$é\"x1-;/*", max_size=12)


@given(_VALUE_CHARS, st.sampled_from(["plain", "escape", "dollar"]))
@settings(max_examples=500, deadline=None)
def test_the_lexer_decodes_constants_as_the_parser_does(value: str, style: str) -> None:
    """Differential: the lexer's value of a constant equals pglast's."""
    if style == "plain":
        lit = "'" + value.replace("'", "''") + "'"
    elif style == "escape":
        lit = "E'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    else:
        if "$q$" in value or value.endswith("$"):
            return
        lit = "$q$" + value + "$q$"
    sql = f"SELECT 1, {lit} AS c -- '{value!r}\n"
    tokens = string_constants(sql.encode())
    assert len(tokens) == 1
    tree = msgspec.json.decode(parse_sql_json(sql))
    parsed = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][1]["ResTarget"]["val"]
    assert tokens[0].value == parsed["A_Const"]["sval"]["sval"].encode()
    assert sql.encode()[tokens[0].start : tokens[0].end] == lit.encode()


_SECRET_STATEMENTS = [
    "ALTER ROLE bot PASSWORD {}",
    "CREATE USER MAPPING FOR bot SERVER s OPTIONS (user {}, password {})",
    "SET app.token = {}",
    "SELECT set_config({}, {}, false)",
    "SELECT * FROM dblink({}, {}) AS t(a int)",
    "CREATE SUBSCRIPTION s CONNECTION {} PUBLICATION p",
]


@given(
    st.sampled_from(_SECRET_STATEMENTS),
    st.lists(st.text(alphabet="abcxyz019 '-=", min_size=1, max_size=16), min_size=2, max_size=2),
)
@settings(max_examples=400, deadline=None)
def test_a_planted_value_in_a_secret_position_never_survives(
    template: str, values: list[str]
) -> None:
    literals = ["'" + v.replace("'", "''") + "'" for v in values]
    sql = template.format(*literals[: template.count("{}")])
    m = M.mask(sql.encode())
    assert m.structural
    secret_pos = {
        "ALTER ROLE": [0],
        "CREATE USER MAPPING": [1],
        "SET app": [0],
        "SELECT set_config": [1],
        "SELECT * FROM dblink": [0],
        "CREATE SUBSCRIPTION": [0],
    }
    for prefix, idx in secret_pos.items():
        if sql.startswith(prefix):
            constants = {t.value for t in string_constants(m.text)}
            for i in idx:
                assert values[i].encode() not in constants


@given(st.lists(st.sampled_from(["'a'", "'b''c'", "x", " ", "1", "$$d$$", "E'\\''"]), max_size=8))
@settings(max_examples=300, deadline=None)
def test_the_lexer_never_raises_and_spans_are_in_order(parts: list[str]) -> None:
    sql = "".join(parts).encode()
    last = 0
    for t in string_constants(sql):
        assert last <= t.start < t.end <= len(sql)
        last = t.end


_SHAPE_HEADS = [
    "ALTER ROLE bot PASSWORD ",
    "SET app.token = ",
    "SELECT set_config(",
    "SELECT dblink_exec(",
    "SELECT ",
    "INSERT INTO t VALUES (",
    "SELECT * FROM t WHERE key = ",
]


@given(
    st.sampled_from(_SHAPE_HEADS),
    st.lists(st.text(alphabet="ab1 -=x", max_size=8), min_size=4, max_size=4),
    st.sampled_from(["", ")", ", false)", ", 'z')"]),
)
@settings(max_examples=500, deadline=None)
def test_statements_of_one_shape_share_their_secret_positions(
    head: str, values: list[str], tail: str
) -> None:
    """What the pump relies on: a shape cached because its statement had
    no secret position has none in any statement of that shape."""
    lits = ["'" + v.replace("'", "''") + "'" for v in values]
    a = (head + lits[0] + (", " + lits[1] if "(" in head else "") + tail).encode()
    b = (head + lits[2] + (", " + lits[3] if "(" in head else "") + tail).encode()
    ka, kb = _native.pg_shape_key(a), _native.pg_shape_key(b)
    if ka is None or ka != kb:
        return
    assert M.mask(a).structural == M.mask(b).structural


@pytest.mark.parametrize(
    ("sql", "values"),
    [
        (b"SELECT 'a' -- 'not a constant'\n, 'b'", [b"a", b"b"]),
        (b"SELECT /* 'x' /* nested 'y' */ 'z' */ 'c'", [b"c"]),
        (b'SELECT "it\'s ""quoted""" FROM t WHERE a = \'d\'', [b"d"]),
        (b"SELECT $1, $$ dollar 'q' $$, $tag$t$tag$", [b" dollar 'q' ", b"t"]),
        (b"SELECT B'0101', X'1F', N'nat', e'\\n'", [b"nat", b"\n"]),
        (b"SELECT U&'d\\0061t\\+000061'", [None]),
        (b"SELECT 'unterminated", [None]),
        (b"SELECT col1'x'", [b"x"]),  # not a prefix: a plain constant after a name
    ],
)
def test_the_lexer_on_edge_cases(sql: bytes, values: list[bytes | None]) -> None:
    assert [t.value for t in string_constants(sql)] == values


def test_a_secret_in_a_constant_the_lexer_cannot_decode_masks_every_constant() -> None:
    m = M.mask(b"ALTER ROLE bot PASSWORD U&'p\\0061ss' VALID UNTIL 'infinity'")
    assert m.text == (
        b"ALTER ROLE bot PASSWORD '[MASKED:sql-secret]' VALID UNTIL '[MASKED:sql-secret]'"
    )


def test_a_sessions_masker_has_its_rules_detectors_and_raw_needs_a_recipient(
    tmp_path: Path,
) -> None:
    from gateway_pg_support import config_text
    from limen.config import load_config_text
    from limen.gateway.inrecord import InputMaskers
    from limen.identity import Identity
    from limen.policy import Policy

    rules = """
[[mask_rules]]
name = "internal"
words = ["project-x"]
case_insensitive = true

[[rules]]
name = "named-app"
groups = ["named"]
resources = ["app"]
allow = ["read"]
mask = ["internal"]

[[rules]]
name = "raw-app"
groups = ["raw"]
resources = ["app"]
allow = ["read"]
record_raw_input = true
"""
    pub = "A" * 43 + "="
    config = load_config_text(
        config_text("db", f'recording_recipient = "{pub}"') + rules, base_dir=tmp_path
    )
    maskers = InputMaskers(config, Policy(config))

    def who(group: str) -> Identity:
        return Identity(
            subject="bot",
            groups=(group,),
            issuer="test",
            expires_at=None,
            token_id=None,
            method="dev",
        )

    named = maskers.for_session(who("named"), "app")
    assert named is not None
    assert named.mask(b"SELECT 'Project-X'").detectors == {"internal": 1}
    ci = maskers.for_session(who("ci"), "app")
    assert ci is maskers.builtin
    assert ci.mask(b"SELECT 'Project-X'").text == b"SELECT 'Project-X'"
    assert maskers.for_session(who("raw"), "app") is None


@pytest.mark.parametrize(
    ("sql", "secret"),
    [
        # PL/pgSQL does not parse as SQL: every string constant of the body
        ("DO $$ BEGIN EXECUTE 'ALTER ROLE r PASSWORD ''do-secret-1'''; END $$", "do-secret-1"),
        (
            "DO LANGUAGE plpgsql 'BEGIN PERFORM set_config(''a.b'', ''do-secret-2'', false); END'",
            "do-secret-2",
        ),
        # a DO that runs a DO
        (
            "DO $o$ BEGIN EXECUTE $i$ DO $x$ BEGIN EXECUTE 'ALTER ROLE r PASSWORD "
            "''do-secret-3'''; END $x$ $i$; END $o$",
            "do-secret-3",
        ),
        # a SQL body, by its structure
        (
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $b$ ALTER ROLE r PASSWORD "
            "'fn-secret-4' $b$",
            "fn-secret-4",
        ),
        (
            "CREATE OR REPLACE PROCEDURE p() LANGUAGE plpgsql AS 'BEGIN "
            "PERFORM dblink_connect(''host=h password=fn-secret-5''); END'",
            "fn-secret-5",
        ),
    ],
)
def test_code_bodies_are_masked_by_the_same_rules(sql: str, secret: str) -> None:
    masked = M.mask(sql.encode())
    assert secret not in masked.text.decode()
    assert masked.structural
    assert masked.masked
    # what is left still says what ran
    assert masked.text.split(maxsplit=1)[0] == sql.encode().split(maxsplit=1)[0]


def test_code_bodies_without_a_secret_are_unchanged() -> None:
    for sql in (
        "DO $$ BEGIN RAISE NOTICE 'hello'; END $$",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE FUNCTION g(t text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN t; END $$",
    ):
        assert _mask(sql) == sql
