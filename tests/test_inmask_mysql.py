"""MySQL statement texts as limen records them (limen.inmask_mysql): a
constant in a secret position is masked whatever its value and however it
is quoted or escaped; other constants stay readable; text the lexer cannot
split has every quoted part masked."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen.inmask_mysql import MySqlInputMasker, secret_spans

M = MySqlInputMasker()


@pytest.mark.parametrize(
    ("sql", "secret"),
    [
        ("SELECT HEX(AES_ENCRYPT(body, 'aes-key-1')) FROM notes", "aes-key-1"),
        ("SELECT AES_DECRYPT(UNHEX(c), \"aes-key-2\", 'iv-value-2') FROM t", "aes-key-2"),
        ("SELECT AES_DECRYPT(UNHEX(c), \"aes-key-2\", 'iv-value-2') FROM t", "iv-value-2"),
        ("select des_encrypt(x, _utf8mb4'des-key-3')", "des-key-3"),
        ("SELECT ENCODE(col, CONCAT('enc', 'part-4')) FROM t", "part-4"),
        ("SELECT PASSWORD('pw-func-5')", "pw-func-5"),
        ("SELECT OLD_PASSWORD ( 'pw-old-6' )", "pw-old-6"),
        ("CREATE USER 'bob'@'%' IDENTIFIED BY 'create-pw-7'", "create-pw-7"),
        ('ALTER USER bob IDENTIFIED WITH mysql_native_password BY "alter-pw-8"', "alter-pw-8"),
        ("CREATE USER a IDENTIFIED VIA ed25519 USING PASSWORD('via-pw-9')", "via-pw-9"),
        ("GRANT SELECT ON *.* TO bob IDENTIFIED BY 'grant-pw-10'", "grant-pw-10"),
        ("SET PASSWORD FOR 'bob'@'localhost' = 'setpw-11'", "setpw-11"),
        ("SET PASSWORD = PASSWORD('setpw-12')", "setpw-12"),
        ("CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD = 'repl-pw-13'", "repl-pw-13"),
        ("CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD='repl-pw-14'", "repl-pw-14"),
        (
            "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD 'srv-pw-15')",
            "srv-pw-15",
        ),
        ("CREATE TABLE f (a INT) ENGINE=FEDERATED CONNECTION='mysql://u:fed-pw-16@h/d/t'", "fed"),
        ("SET @api_token := 'var-tok-17'", "var-tok-17"),
        ("SET SESSION my_secret_setting = 'sess-18'", "sess-18"),
        ("SELECT * FROM users WHERE api_key = 'ak-where-19'", "ak-where-19"),
        ("/*!50000 SELECT AES_ENCRYPT(x, 'in-comment-20') */", "in-comment-20"),
        ("/*M! SELECT PASSWORD('mariadb-only-21') */", "mariadb-only-21"),
        ("SELECT 1; SET PASSWORD = 'second-22'", "second-22"),
        ("SELECT PASSWORD('it\\'s-23')", "s-23"),
        ("SELECT PASSWORD('it''s-24')", "s-24"),
        ("SELECT PASSWORD('unterminated-25", "unterminated-25"),
        ("PREPARE p FROM 'SELECT AES_ENCRYPT(a, ''in-prepare-26'')'", "in-prepare-26"),
        ("SET @q = 'CREATE USER u IDENTIFIED BY \\'in-var-27\\''", "in-var-27"),
    ],
)
def test_secrets_are_masked(sql: str, secret: str) -> None:
    masked = M.mask(sql.encode())
    assert secret.encode() not in masked.text
    assert masked.structural
    assert set(masked.detectors) & {"sql-secret", "sql-unparsed"}


def test_the_rest_stays_readable() -> None:
    m = M.mask(b"SELECT name, HEX(AES_ENCRYPT(note, 'k')) FROM users WHERE author = 'bob'")
    assert m.text == (
        b"SELECT name, HEX(AES_ENCRYPT(note, '[MASKED:sql-secret]')) FROM users"
        b" WHERE author = 'bob'"
    )
    assert m.detectors == {"sql-secret": 1}


@pytest.mark.parametrize(
    "sql",
    [
        b"SELECT id, name FROM users WHERE name = 'alice'",
        b'INSERT INTO notes (body) VALUES ("a \\"quoted\\" note")',
        b"SELECT `password` FROM t",  # a name, not a value
        b"SELECT COUNT(*) FROM orders WHERE author = 'keyser'",
        b"UPDATE t SET monkey_business = 1",
    ],
)
def test_plain_statements_are_unchanged(sql: bytes) -> None:
    m = M.mask(sql)
    assert m.text == sql
    assert not m.detectors


def test_code_in_a_string_is_masked_and_quoted_again() -> None:
    m = M.mask(b"PREPARE p FROM 'SELECT AES_ENCRYPT(a, ''k'') FROM t WHERE b = ''x'''")
    assert m.text == (
        b"PREPARE p FROM 'SELECT AES_ENCRYPT(a, ''[MASKED:sql-secret]'') FROM t WHERE b = ''x'''"
    )
    assert m.structural


def test_prepare_from_a_variable_is_a_secret_position() -> None:
    m = M.mask(b"PREPARE p FROM @query")
    assert m.text == b"PREPARE p FROM @query"
    assert m.structural
    assert not m.detectors


def test_content_detectors_run_after_the_structure() -> None:
    m = M.mask(b"SELECT 'AKIAABCDEFGHIJKLMNOP', PASSWORD('pw')")
    assert b"AKIAABCDEFGHIJKLMNOP" not in m.text
    assert b"'pw'" not in m.text
    assert m.detectors == {"sql-secret": 1, "aws-access-key-id": 1}


_TEMPLATES = [
    "SELECT AES_ENCRYPT(x, {v}) FROM t",
    "CREATE USER u IDENTIFIED BY {v}",
    "SET PASSWORD FOR u = {v}",
    "CHANGE MASTER TO MASTER_PASSWORD = {v}",
    "SET @db_token := {v}",
    "/*!50000 SELECT PASSWORD({v}) */",
    "SELECT 1 FROM t WHERE a = 'x'; ALTER USER u IDENTIFIED WITH p AS {v}",
]


def _literal(value: str, quote: str, backslashes: bool) -> str:
    if backslashes:
        body = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    else:
        body = value.replace(quote, quote + quote)
    return quote + body + quote


@settings(max_examples=300, deadline=None)
@given(
    template=st.sampled_from(_TEMPLATES),
    tail=st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=20),
    quote=st.sampled_from(["'", '"']),
    backslashes=st.booleans(),
)
def test_a_planted_value_in_a_secret_position_never_survives(
    template: str, tail: str, quote: str, backslashes: bool
) -> None:
    value = "PLANTED9x7" + tail
    sql = template.format(v=_literal(value, quote, backslashes))
    masked = M.mask(sql.encode("utf-8", "surrogatepass"))
    assert b"PLANTED9x7" not in masked.text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_masked_without_raising_and_spans_are_in_order(text: str) -> None:
    spans, _name = secret_spans(text)
    ends = [-1]
    for start, end in spans:
        assert ends[-1] < start < end <= len(text)
        ends.append(end)
    M.mask(text.encode("utf-8", "surrogatepass"))
