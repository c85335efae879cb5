"""MySQL column plans (limen.gateway.mysql.columns) against the real
MariaDB: the catalog is read through a query, each statement is judged by
the MySQL judge, run on the server, and every result column the server
describes (ColumnDefinition schema/org_table/org_name, as PyMySQL reads
them) is checked against the plan by contract A's rule
(:meth:`PlanSpec.masks`): no column whose values show a masked secret may
stay unmasked. Also what MariaDB reports for views, aliases, derived
tables, CTEs and UNION (the module docs rely on it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limen.gateway.mysql.columns import MySqlColumns, load
from limen.mask import native_masker
from mysql_judge_support import Session, config, query, relay_types, rule, session

pytestmark = [pytest.mark.mysql, pytest.mark.usefixtures("relay_types")]
__all__ = ["relay_types"]

# One database per xdist worker: a module's tests run on several workers,
# and each sets the database up afresh.
DB = "limen_cols_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
SECRET = "secret-mail@example.org"
SETUP = [
    f"DROP DATABASE IF EXISTS {DB}",
    f"CREATE DATABASE {DB}",
    f"USE {DB}",
    "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100), name VARCHAR(50), doc JSON)",
    "CREATE TABLE orders (id INT PRIMARY KEY, user_id INT, total INT)",
    "CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(200))",
    f"INSERT INTO users VALUES (1, '{SECRET}', 'Ann', JSON_OBJECT('e', 'public'))",
    "INSERT INTO orders VALUES (10, 1, 99)",
    "INSERT INTO notes VALUES (1, 'plain')",
    "CREATE VIEW v_users AS SELECT id, email, CONCAT(email, '!') AS e2 FROM users",
    "CREATE VIEW v_hidden AS SELECT id, UPPER(email) AS shout FROM users",
    "CREATE VIEW v_star AS SELECT * FROM users",
    "CREATE VIEW v_over AS SELECT id, e2 AS innocent FROM v_users",
    "CREATE VIEW v_notes AS SELECT id, body FROM notes",
    "CREATE FUNCTION mail_of(i INT) RETURNS VARCHAR(100) READS SQL DATA "
    "RETURN (SELECT email FROM users WHERE id = i)",
]


def connect() -> pymysql.connections.Connection[Any]:
    return pymysql.connect(host="127.0.0.1", user="root", database=DB, autocommit=True)


@pytest.fixture(scope="module")
def database() -> Iterator[None]:
    conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with conn.cursor() as cur:
        for sql in SETUP:
            cur.execute(sql)
    conn.close()
    yield
    conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def load_columns(mask: list[str], deny: bool = False) -> MySqlColumns:
    rules = config(
        rule(
            name="r",
            allow=["read", "write"],
            mask=mask,
            mask_predicates="deny" if deny else "allow",
        ),
        Path("."),
    ).rules
    conn = connect()

    async def run(sql: bytes) -> list[list[bytes | None]]:
        with conn.cursor() as cur:
            cur.execute(sql.decode())
            return [[None if v is None else str(v).encode() for v in row] for row in cur]

    masker = native_masker([], [], [m.removeprefix("column:") for m in mask])
    loaded = trio.run(load, run, DB, rules, masker)
    conn.close()
    assert loaded is not None
    loaded.use(DB)
    return loaded


def judged(columns: MySqlColumns, tmp_path: Path, deny: bool = False) -> Session:
    cfg = config(
        rule(
            name="r",
            allow=["read", "write"],
            mask=["column:users.email"],
            mask_predicates="deny" if deny else "allow",
        ),
        tmp_path,
    )
    s = session(cfg, columns=columns)
    s.judge.database = DB
    s.judge.policy.database = DB
    return s


def run_fields(sql: str) -> list[tuple[str, str, str, list[str]]]:
    """(schema, org_table, org_name, the column's values as text) per column."""
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
        fields = cur._result.fields if cur._result is not None else []
    conn.close()
    out = []
    for i, f in enumerate(fields):
        db = f.db.decode() if isinstance(f.db, bytes) else f.db
        out.append((db, f.org_table, f.org_name, [str(r[i]) for r in rows]))
    return out


def leaks(columns: MySqlColumns, sql: str) -> list[str]:
    """Result columns that show the secret and that the plan leaves unmasked."""
    spec = columns.spec
    return [
        f"{table}.{name}"
        for schema, table, name, values in run_fields(sql)
        if any("secret-mail" in v.lower() for v in values) and not spec.masks(schema, table, name)
    ]


@pytest.fixture(scope="module")
def cols(database: None) -> MySqlColumns:
    return load_columns(["column:users.email"])


ADVERSARIAL = [
    "SELECT email FROM users",
    "SELECT email AS e FROM users u",
    "SELECT u.email FROM users u",
    f"SELECT email FROM {DB}.users",
    "SELECT * FROM users",
    "SELECT u.* FROM users u JOIN orders o ON o.user_id = u.id",
    "SELECT CONCAT(email) FROM users",
    "SELECT CONCAT('x', `email`) AS name FROM users",
    "SELECT UPPER(email), LOWER(email) FROM users",
    "SELECT JSON_EXTRACT(JSON_OBJECT('e', email), '$.e') FROM users",
    "SELECT JSON_VALUE(JSON_ARRAY(email), '$[0]') AS doc FROM users",
    "SELECT JSON_SET(doc, '$.e', email) AS doc FROM users",
    "SELECT JSON_OBJECT('m', email) FROM users",
    "SELECT * FROM v_users",
    "SELECT * FROM v_hidden",
    "SELECT shout AS name FROM v_hidden",
    "SELECT * FROM v_star",
    "SELECT innocent FROM v_over",
    "SELECT e FROM (SELECT email AS e FROM users) d",
    "SELECT name FROM (SELECT email AS name FROM users) users",
    "SELECT x.* FROM (SELECT * FROM users) x",
    "WITH c AS (SELECT email AS id FROM users) SELECT id FROM c",
    "SELECT name FROM users UNION SELECT email FROM users",
    "SELECT (SELECT email FROM users LIMIT 1) AS s",
    "SELECT COALESCE(email, name) FROM users",
    "SELECT IF(id = 1, email, name) AS name FROM users",
    "SELECT GROUP_CONCAT(email) FROM users",
    "SELECT mail_of(1)",
    "EXECUTE IMMEDIATE 'SELECT CONCAT(email) FROM users'",
    "SELECT * FROM users PROCEDURE ANALYSE()",
    "SELECT CONCAT(em, '') FROM (SELECT email AS em FROM users) AS users",
    "SELECT UPPER(`EMAIL`) FROM users",
    "SELECT /*!email,*/ id FROM users",
    "SELECT id, `e``mail` FROM (SELECT email AS `e``mail`, id FROM users) t",
]


def sql_id(sql: str) -> str:
    """A test id the same on every xdist worker (whose databases differ)."""
    return sql.replace(DB, "DB")


@pytest.mark.parametrize("sql", ADVERSARIAL, ids=sql_id)
def test_no_secret_reaches_the_client_unmasked(
    sql: str, cols: MySqlColumns, tmp_path: Path
) -> None:
    s = judged(cols, tmp_path)
    v = s.judge.command(0, query(sql))
    if v.reply is not None:  # refused or denied (stored function: write)
        return
    assert v.plan is not None
    assert leaks(cols, sql) == []


def test_harmless_statements_keep_their_values(cols: MySqlColumns, tmp_path: Path) -> None:
    s = judged(cols, tmp_path)
    for sql in ("SELECT id, name FROM users", "SELECT * FROM v_notes", "SELECT total FROM orders"):
        v = s.judge.command(0, query(sql))
        assert v.forward is not None
        assert not any(cols.spec.masks(db, t, n) for db, t, n, _ in run_fields(sql)), sql
    # the direct column is masked, the others are not, even with an expression
    sql = "SELECT id, email, name FROM users"
    s.judge.command(0, query(sql))
    assert [cols.spec.masks(db, t, n) for db, t, n, _ in run_fields(sql)] == [False, True, False]


def test_what_mariadb_reports_in_column_definitions(cols: MySqlColumns) -> None:
    def origin(sql: str) -> list[tuple[str, str]]:
        return [(t, n) for _, t, n, _ in run_fields(sql)]

    assert origin("SELECT email AS e FROM users u") == [("users", "email")]
    assert origin("SELECT CONCAT(email) FROM users") == [("", "")]
    assert origin("SELECT email FROM v_users") == [("v_users", "email")]  # the view, not users
    assert origin("SELECT e FROM (SELECT email AS e FROM users) d") == [("d", "e")]
    assert origin("WITH c AS (SELECT email FROM users) SELECT email FROM c") == [("c", "email")]
    assert origin("SELECT name FROM users UNION SELECT email FROM users") == [("", "name")]
    # a derived table may take a base table's name: its columns then look like the table's
    assert origin("SELECT name FROM (SELECT email AS name FROM users) users") == [("users", "name")]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM users WHERE email LIKE 'a%'",
        "SELECT id FROM users ORDER BY email",
        "SELECT COUNT(*) FROM users GROUP BY email",
        "SELECT u.id FROM users u JOIN orders o ON o.id = LENGTH(u.email)",
        "SELECT id FROM users WHERE id IN (SELECT id FROM users WHERE email > 'm')",
        "SELECT * FROM users ORDER BY 2",
        "SELECT email AS e FROM users ORDER BY e",
        "SELECT e FROM (SELECT email AS e FROM users) d WHERE e > 'm'",
    ],
)
def test_mask_predicates_deny(sql: str, database: None, tmp_path: Path) -> None:
    cols = load_columns(["column:users.email"], deny=True)
    s = judged(cols, tmp_path, deny=True)
    v = s.judge.command(0, query(sql))
    assert v.forward is None
    assert v.reply is not None
    assert (v.reply[5:7], v.reply[8:13]) == ((1143).to_bytes(2, "little"), b"42000")
    assert b"refused:" in v.reply
    ok = s.judge.command(0, query("SELECT id, email FROM users WHERE id = 1 ORDER BY name"))
    assert ok.forward is not None


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("INSERT INTO notes (id, body) SELECT id, email FROM users", True),
        ("INSERT INTO notes SELECT id, name FROM users", False),
        ("INSERT INTO notes SELECT * FROM v_hidden", True),
        ("UPDATE notes SET body = (SELECT email FROM users LIMIT 1) WHERE id = 1", True),
        ("UPDATE users SET email = 'x@y' WHERE id = 2", False),
        ("UPDATE users SET name = email WHERE id = 1", True),
        ("INSERT INTO users (id, email) VALUES (5, 'n@m')", False),
        ("DELETE FROM users WHERE email = 'n@m'", False),
        ("SELECT email FROM users WHERE id = 1 FOR UPDATE", False),
        ("SELECT email FROM users INTO OUTFILE '/tmp/x'", True),
        ("SELECT email FROM users; SELECT 1", False),
    ],
)
def test_writes_that_copy_a_masked_value_are_refused(
    sql: str, refused: bool, cols: MySqlColumns, tmp_path: Path
) -> None:
    cfg = config(
        rule(
            name="r",
            allow=["read", "write", "admin", "server-file", "multi-statement"],
            mask=["column:users.email"],
        ),
        tmp_path,
    )
    s = session(cfg, columns=cols)
    v = s.judge.command(0, query(sql))
    assert (v.reply is not None) == refused, sql


@pytest.mark.parametrize(
    "sql",
    [
        "EXECUTE IMMEDIATE 'SELECT CONCAT(email) FROM users'",
        "PREPARE p FROM 'SELECT CONCAT(email) FROM users'",
        "EXECUTE p",
        "CALL report",
        "SELECT id FROM users PROCEDURE ANALYSE()",
        "SELECT @v",
        "SELECT mail_of(1)",
        "SELECT 1; SELECT 2",
    ],
)
def test_what_limen_cannot_see_through_masks_every_column(sql: str, cols: MySqlColumns) -> None:
    cfg = config(
        rule(
            name="r",
            allow=["read", "write", "unknown", "call", "multi-statement"],
            mask=["column:users.email"],
        ),
        Path("."),
    )
    s = session(cfg, columns=cols)
    v = s.judge.command(0, query(sql))
    assert v.reply is None, sql
    assert (cols.spec.derived, cols.spec.base_tables) == (b"[MASKED:derived]", [])


def test_a_relation_made_after_login_is_masked_whole(cols: MySqlColumns, tmp_path: Path) -> None:
    s = judged(cols, tmp_path)
    s.judge.command(0, query("SELECT id FROM later_table"))
    assert cols.spec.derived is not None
    assert cols.spec.base_tables == []


def test_after_use_of_another_database_unqualified_names_are_unknown(
    cols: MySqlColumns, tmp_path: Path
) -> None:
    s = judged(cols, tmp_path)
    cols.use(None)
    try:
        s.judge.command(0, query("SELECT id FROM notes"))
        assert cols.spec.base_tables == []
    finally:
        cols.use(DB)


SELECTABLE = ["id", "email", "name", "u.email", "u.id"]
WRAPS = ["{}", "CONCAT({})", "UPPER({})", "COALESCE({}, 'z')", "IFNULL({}, name)", "({})"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    items=st.lists(
        st.tuples(st.sampled_from(SELECTABLE), st.sampled_from(WRAPS), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    derived=st.booleans(),
)
def test_plans_never_mask_less_than_the_direct_match(
    items: list[tuple[str, str, bool]], derived: bool, cols: MySqlColumns, tmp_path: Path
) -> None:
    select = ", ".join(
        wrap.format(col) + (f" AS a{i}" if alias or derived else "")
        for i, (col, wrap, alias) in enumerate(items)
    )
    sql = f"SELECT {select} FROM users u"
    if derived:
        sql = f"SELECT * FROM ({sql}) d"
    s = judged(cols, tmp_path)
    v = s.judge.command(0, query(sql))
    assert v.forward is not None
    for schema, table, name, values in run_fields(sql):
        direct = (table, name) == ("users", "email")
        shows = any("secret-mail" in x.lower() for x in values)
        if direct or shows:
            assert cols.spec.masks(schema, table, name), (sql, table, name)
