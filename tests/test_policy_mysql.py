"""The MySQL/MariaDB classifier (limen.policy.mysql): a table of statements
with their classes and dangers, adversarial texts (comments hiding code,
case and whitespace, backticks, string escapes), properties, and the lexer
checked against the real MariaDB on 127.0.0.1:3306: what the server runs of
a text with comments is what the classifier judges."""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limen.policy import SEVERITY
from limen.policy.mysql import Server, classify_mysql
from limen.policy.mysql.lexer import LexError, render, tokenize

MARIADB = Server(mariadb=True, version=101100)
MYSQL8 = Server(mariadb=False, version=80035)

# (text, most dangerous class, dangers that must be reported)
CASES: list[tuple[str, str, set[str]]] = [
    ("SELECT 1", "read", set()),
    ("select a, `b` from `t` where c = 'x' order by 1 limit 3", "read", set()),
    ("WITH x AS (SELECT 1) SELECT * FROM x", "read", set()),
    ("(SELECT 1) UNION (SELECT 2)", "read", set()),
    ("SHOW TABLES", "read", set()),
    ("DESCRIBE t", "read", set()),
    ("EXPLAIN SELECT * FROM t", "read", set()),
    ("SELECT * FROM t INTO OUTFILE '/tmp/x' FIELDS TERMINATED BY ','", "admin", {"server-file"}),
    ("SELECT a INTO DUMPFILE '/tmp/x' FROM t", "admin", {"server-file"}),
    ("SELECT a FROM t WHERE id = 1 INTO @v", "read", set()),
    ("SELECT LOAD_FILE('/etc/passwd')", "admin", set()),
    ("SELECT * FROM t FOR UPDATE", "write", set()),
    ("SELECT * FROM t LOCK IN SHARE MODE", "write", set()),
    ("SELECT GET_LOCK('a', 10)", "write", set()),
    ("SELECT mydb.f(1)", "write", set()),
    ("SELECT `count`(1)", "write", set()),
    ("INSERT INTO t (a) VALUES (1)", "write", set()),
    ("INSERT LOW_PRIORITY IGNORE INTO t SET a = 1", "write", set()),
    ("REPLACE INTO t VALUES (1)", "write", set()),
    ("UPDATE t SET a = 1 WHERE id = 2", "write", set()),
    ("UPDATE t SET a = 1", "unbounded-write", set()),
    ("DELETE FROM t WHERE 1 = 1", "unbounded-write", set()),
    ("DELETE FROM t WHERE id = id", "unbounded-write", set()),
    ("DELETE FROM t WHERE id = 3 OR TRUE", "unbounded-write", set()),
    ("DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id WHERE t2.x = 1", "write", set()),
    ("TRUNCATE TABLE t", "unbounded-write", set()),
    ("CREATE TABLE t (a INT, b VARCHAR(10))", "ddl", set()),
    ("ALTER TABLE t ADD COLUMN c INT", "ddl", set()),
    ("DROP TABLE t", "ddl", set()),
    ("RENAME TABLE a TO b", "ddl", set()),
    ("CREATE USER u IDENTIFIED BY 'x'", "admin", set()),
    ("CREATE DEFINER = root@localhost PROCEDURE p() SELECT 1", "admin", set()),
    ("CREATE FUNCTION f RETURNS INTEGER SONAME 'udf.so'", "admin", {"plugin"}),
    ("GRANT ALL ON *.* TO u", "admin", {"grant"}),
    ("REVOKE ALL ON *.* FROM u", "admin", {"grant"}),
    ("INSTALL PLUGIN x SONAME 'x.so'", "admin", {"plugin"}),
    ("INSTALL SONAME 'auth_ed25519'", "admin", {"plugin"}),
    ("HANDLER t OPEN", "admin", {"handler"}),
    ("LOAD DATA LOCAL INFILE '/x' INTO TABLE t", "write", {"local-infile"}),
    ("LOAD DATA LOW_PRIORITY LOCAL INFILE '/x' INTO TABLE t", "write", {"local-infile"}),
    ("LOAD DATA INFILE '/var/lib/x' INTO TABLE t", "admin", {"server-file"}),
    ("LOAD XML INFILE '/x' INTO TABLE t", "admin", {"server-file"}),
    ("SET GLOBAL max_connections = 1", "admin", {"set-global"}),
    ("SET PERSIST max_connections = 1", "admin", {"set-global"}),
    ("SET @@global.max_connections = 1", "admin", set()),
    ("SET autocommit = 0, @x = 2", "harmless", set()),
    ("SET SESSION sql_log_bin = 0", "admin", set()),
    ("SET NAMES utf8mb4", "harmless", set()),
    ("SET PASSWORD = 'x'", "admin", set()),
    ("SET ROLE ALL", "admin", set()),
    ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "harmless", set()),
    ("SET @x = LOAD_FILE('/etc/shadow')", "admin", set()),
    ("SET STATEMENT max_statement_time = 1 FOR DELETE FROM t", "unbounded-write", set()),
    ("DO 1", "harmless", {"do"}),
    ("DO GET_LOCK('x', 1)", "write", {"do"}),
    ("CALL p(1)", "write", {"call"}),
    ("PREPARE s FROM @sql", "unknown", {"prepare-from-variable"}),
    ("PREPARE s FROM 'DROP TABLE t'", "ddl", set()),
    ("EXECUTE IMMEDIATE @sql", "unknown", {"prepare-from-variable"}),
    ("EXECUTE IMMEDIATE 'DELETE FROM t WHERE id = 1'", "write", set()),
    ("EXECUTE s", "unknown", set()),
    ("DEALLOCATE PREPARE s", "harmless", set()),
    ("USE shop", "harmless", {"use"}),
    ("BEGIN", "harmless", set()),
    ("START TRANSACTION", "harmless", set()),
    ("COMMIT", "harmless", set()),
    ("LOCK TABLES t WRITE", "write", set()),
    ("UNLOCK TABLES", "harmless", set()),
    ("XA START 'x'", "admin", set()),
    ("KILL 12", "admin", set()),
    ("FLUSH PRIVILEGES", "admin", set()),
    ("SHUTDOWN", "admin", set()),
    ("ANALYZE TABLE t", "admin", set()),
    ("EXPLAIN ANALYZE DELETE FROM t", "unbounded-write", set()),
    ("ANALYZE DELETE FROM t WHERE id = 1", "write", set()),
    ("BEGIN NOT ATOMIC DROP TABLE t; END", "unknown", {"multi-statement"}),
    ("SELECT 1; DROP TABLE t", "ddl", {"multi-statement"}),
    ("DELIMITER //", "unknown", set()),
    ("SELECT 1 \\G", "unknown", set()),
    ("SELEC 1", "unknown", set()),
    ("SELECT * FROM", "unknown", set()),
    ("", "harmless", set()),
    ("-- nothing\n/* at all */ # really", "harmless", set()),
]


@pytest.mark.parametrize(("sql", "klass", "dangers"), CASES)
def test_table(sql: str, klass: str, dangers: set[str]) -> None:
    c = classify_mysql(sql, server=MARIADB)
    assert c.klass == klass, (sql, c.classes, c.why)
    assert dangers <= c.dangers, (sql, c.dangers)
    assert c.why or klass == "harmless"


ADVERSARIAL: list[tuple[str, str]] = [
    # Executable comments are code.
    ("SELECT 1 /*! ; DROP TABLE t */", "ddl"),
    ("SELECT 1 /*!50000 ; DROP TABLE t */", "ddl"),
    ("SELECT 1 /*M! , LOAD_FILE('/etc/passwd') */", "admin"),
    ("/*!GRANT*/ ALL ON *.* TO u", "admin"),
    ("DELETE FROM t /*!50000 WHERE 1 = 1 */", "unbounded-write"),
    # Plain comments are not, wherever they stand.
    ("SELECT 1 /* ; DROP TABLE t */", "read"),
    ("SELECT 1 -- ; DROP TABLE t", "read"),
    ("SELECT 1 # ; DROP TABLE t", "read"),
    # `--` needs a space: here it is arithmetic and the DROP is code.
    ("SELECT 1--1; DROP TABLE t", "ddl"),
    ("SELECT 1 --\tx\n; DROP TABLE t", "ddl"),
    # Case and whitespace.
    ("dRoP\n\tTaBlE t", "ddl"),
    ("  \n select\n1", "read"),
    ("sEt GlObAl x = 1", "admin"),
    ("Load\nData\tLocal InFile '/x' INTO TABLE t", "write"),
    # Backtick identifiers are names, never keywords or code.
    ("SELECT `; DROP TABLE t` FROM t", "read"),
    ("SELECT `a``; DROP TABLE t` FROM t", "read"),
    ("SELECT * FROM `drop`", "read"),
    # String escapes: a quote after a backslash does not end the string.
    ("SELECT 'a\\'; DROP TABLE t; -- '", "read"),
    ("SELECT 'a''; DROP TABLE t; -- '", "read"),
    ('SELECT "a\\"; DROP TABLE t; -- "', "read"),
    ("SELECT 'a\\\\'; DROP TABLE t; -- '", "ddl"),
    # Strings are never code, wherever the word is.
    ("SELECT 'LOAD_FILE(1)', 'INTO OUTFILE'", "read"),
    # Unterminated or nested constructs: unknown.
    ("SELECT 'abc", "unknown"),
    ("SELECT 1 /* open", "unknown"),
    ("SELECT 1 /*! DROP /* x */ TABLE t */", "unknown"),
    ("SELECT 1 /*!101100 ; DROP TABLE t */", "ddl"),
    ("SELECT 1 /*!101101 ; DROP TABLE t */", "read"),
    ("SELECT 1 /*!57000 ; DROP TABLE t */", "read"),
    ("SELECT `abc", "unknown"),
    ("SELECT 1\x00; DROP TABLE t", "unknown"),
]


@pytest.mark.parametrize(("sql", "klass"), ADVERSARIAL)
def test_adversarial(sql: str, klass: str) -> None:
    assert classify_mysql(sql, server=MARIADB).klass == klass, sql


def test_no_backslash_escapes_changes_where_strings_end() -> None:
    sql = "SELECT 'a\\'; DROP TABLE t; -- '"
    assert classify_mysql(sql, backslash_escapes=True).klass == "read"
    assert classify_mysql(sql, backslash_escapes=False).klass == "ddl"


def test_versioned_comments_follow_the_server() -> None:
    sql = "DELETE FROM t /*!99999 WHERE id = 1 */"
    # A server older than 9.99.99 skips the WHERE: the delete is unbounded.
    assert classify_mysql(sql, server=MYSQL8).klass == "unbounded-write"
    assert classify_mysql("DELETE FROM t /*!50000 WHERE id = 1 */", server=MYSQL8).klass == "write"
    # MySQL skips /*M! … */; MariaDB runs it.
    assert classify_mysql("SELECT 1 /*M! ; DROP TABLE t */", server=MYSQL8).klass == "read"
    assert classify_mysql("SELECT 1 /*M! ; DROP TABLE t */", server=MARIADB).klass == "ddl"
    # 6-digit versions: MariaDB's form; refused where the server is not
    # known to be MariaDB.
    assert classify_mysql("SELECT 1 /*!100000 + 1 */", server=MYSQL8).klass == "unknown"
    assert classify_mysql("SELECT 1 /*!100000 + 1 */").klass == "unknown"
    # Unknown server: judged both ways, the worse kept.
    assert classify_mysql(sql).klass == "unbounded-write"
    assert classify_mysql("SELECT 1 /*!99999 ; DROP TABLE t */").klass == "ddl"


def test_server_from_greeting() -> None:
    assert Server.from_greeting("5.5.5-10.11.19-MariaDB-0+deb12u1") == Server(True, 101119)
    assert Server.from_greeting("8.0.35") == Server(False, 80035)
    assert Server.from_greeting("weird") == Server(False, 0)


def test_use_and_tables_are_reported() -> None:
    c = classify_mysql("USE `shop`; SELECT * FROM shop.orders o JOIN items i ON o.id = i.o")
    assert c.databases == {"shop"}
    assert c.classification.tables == {"shop.orders", "items"}
    prepared = classify_mysql("PREPARE p FROM 'UPDATE t SET a = 1'")
    stmt = prepared.classification.statements[0]
    assert stmt.prepares == "p"
    assert "unbounded-write" in stmt.classes
    executed = classify_mysql("EXECUTE p USING @a").classification.statements[0]
    assert executed.executes == ("p",)
    assert executed.resolve({"p": stmt.classes}) == stmt.classes


def test_errors_never_quote_the_text() -> None:
    c = classify_mysql("SELECT 'secret-token-value")
    assert c.klass == "unknown"
    assert "secret" not in (c.classification.error or "")


def rank(klass: str) -> int:
    return SEVERITY.index(klass)


FRAGMENTS = [
    "SELECT 1",
    "SELECT a FROM t WHERE id = 1",
    "DELETE FROM t",
    "DELETE FROM t WHERE id = 2",
    "UPDATE t SET a = 1",
    "INSERT INTO t VALUES (1)",
    "DROP TABLE t",
    "GRANT ALL ON *.* TO u",
    "SET GLOBAL x = 1",
    "SET @a = 1",
    "SELECT LOAD_FILE('x')",
    "LOAD DATA LOCAL INFILE 'x' INTO TABLE t",
    "CALL p()",
    "DO 1",
    "SHOW TABLES",
    "BEGIN",
]


def shuffle_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if f else c for c, f in zip(text, flips, strict=True))


@st.composite
def statements(draw: st.DrawFn) -> str:
    return shuffle_case(draw, draw(st.sampled_from(FRAGMENTS)))


@given(stmt=statements(), version=st.sampled_from(["", "50000", "M!"]))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_executable_comment_never_more_permissive(stmt: str, version: str) -> None:
    plain = classify_mysql(stmt, server=MARIADB)
    opener = "/*M!" if version == "M!" else f"/*!{version}"
    wrapped = classify_mysql(f"{opener} {stmt} */", server=MARIADB)
    assert rank(wrapped.klass) >= rank(plain.klass)
    assert wrapped.dangers >= plain.dangers
    # Hidden after a harmless statement, it still counts.
    tail = classify_mysql(f"SELECT 1 {opener} ; {stmt} */", server=MARIADB)
    assert rank(tail.klass) >= rank(plain.klass)


@given(stmt=statements(), pad=st.sampled_from([" ", "\n", "\t", " /* c */ ", " -- c\n", "#c\n"]))
def test_whitespace_and_comments_change_nothing(stmt: str, pad: str) -> None:
    spaced = pad.join(stmt.split(" "))
    assert (
        classify_mysql(spaced, server=MARIADB).klass == classify_mysql(stmt, server=MARIADB).klass
    )


@given(st.text(max_size=80))
@settings(max_examples=300)
def test_never_raises(text: str) -> None:
    c = classify_mysql(text)
    assert c.klass in SEVERITY


# --- the lexer against the server -------------------------------------------


@pytest.fixture(scope="module")
def mariadb() -> Iterator[pymysql.connections.Connection]:
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    yield conn
    conn.close()


def server_of(conn: pymysql.connections.Connection) -> Server:
    return Server.from_greeting(conn.get_server_info())


def run(conn: pymysql.connections.Connection, sql: str) -> object:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


PIECES = [
    " + 1",
    " /*!50000 + 10 */",
    " /*!99999 + 100 */",
    " /*M! + 1000 */",
    " /*M!100000 + 10000 */",
    " /*M!999999 + 100000 */",
    " /*! + 1000000 */",
    " /* + 7 */",
    " -- + 9\n",
    " # + 9\n",
    " --1",
    " + LENGTH('a\\'b')",
    " + LENGTH('x''y')",
    ' + LENGTH("q\\\\")',
    " /*+ hint */",
    " /*!57000 + 3 */",
    " /*!50699 + 5 */",
    " /*!100000 + 20 */",
    " /*!999999 + 40 */",
    " /*M!50700 + 30 */",
    " /*!+ 50*/",
]


@pytest.mark.mysql
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_lexer_runs_what_the_server_runs(
    mariadb: pymysql.connections.Connection, pieces: list[str]
) -> None:
    sql = "SELECT 0" + "".join(pieces)
    try:
        (stmt,) = tokenize(sql, server=server_of(mariadb))
    except LexError:
        pytest.fail(f"lexer refused {sql!r}")
    # The server's value of the text equals its value of what limen judged.
    assert run(mariadb, sql) == run(mariadb, render(stmt)), sql


@pytest.mark.mysql
def test_server_rejects_what_the_lexer_rejects(mariadb: pymysql.connections.Connection) -> None:
    for sql in ["SELECT 'abc", "SELECT `abc", "SELECT 1 /* open"]:
        with pytest.raises(LexError):
            tokenize(sql, server=server_of(mariadb))
        with pytest.raises(pymysql.err.ProgrammingError):
            run(mariadb, sql)
