"""The classifier's reads and writes checked against a real PostgreSQL.

Each statement runs in a ``READ ONLY`` transaction (rolled back) on a scratch
schema: PostgreSQL itself refuses anything that writes there with SQLSTATE
25006. Statements the classifier calls ``read`` or ``harmless`` must run;
the ones it calls ``write``/``unbounded-write``/``ddl`` must be refused.
(``LOCK`` is ``write`` by limen's choice — it blocks other writers — though a
read-only transaction may take it, so it is not in the list.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from limen.policy import classify
from limen.policy.catalog import HARMLESS_FUNCTIONS, function_class

pytestmark = pytest.mark.integration

DSN = os.environ.get("LIMEN_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=test")

READS = [
    "SELECT * FROM t",
    "SELECT lower('A'), now(), random(), gen_random_uuid(), clock_timestamp()",
    "WITH x AS (SELECT 1) SELECT * FROM x",
    "TABLE t",
    "VALUES (1), (2)",
    "EXPLAIN DELETE FROM t",
    "EXPLAIN UPDATE t SET a = 1",
    "SHOW search_path",
    "SELECT pg_sleep(0)",
    "COPY t TO STDOUT",
    "COPY (SELECT * FROM t) TO STDOUT",
    "SELECT * FROM t WHERE id IN (SELECT t_id FROM u)",
    "SELECT table_to_xml('t', true, false, '')",
    "SELECT count(*) FROM t, LATERAL (SELECT a) x",
    "SET application_name = 'limen-test'",
    "SET search_path = public",
    "SET statement_timeout = '5s'",
    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "SAVEPOINT s",
    "DECLARE c CURSOR FOR SELECT * FROM t",
]

WRITES = [
    "INSERT INTO t VALUES (100, 1)",
    "INSERT INTO t VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET a = 2",
    "UPDATE t SET a = 1 WHERE id = 1",
    "UPDATE t SET a = 1",
    "DELETE FROM t",
    "DELETE FROM t WHERE 1 = 1",
    "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d",
    "EXPLAIN ANALYZE DELETE FROM t WHERE id = 1",
    "EXPLAIN (ANALYZE, COSTS off) UPDATE t SET a = 3 WHERE id = 2",
    "SELECT nextval('seq')",
    "SELECT setval('seq', 5)",
    "SELECT * FROM t WHERE id = (SELECT nextval('seq'))",
    "SELECT * FROM t FOR UPDATE",
    "SELECT * FROM t FOR SHARE",
    "TRUNCATE t",
    "MERGE INTO t USING u ON t.id = u.t_id WHEN MATCHED THEN DELETE",
    "CREATE TABLE x (id int)",
    "SELECT * INTO x FROM t",
    "CREATE TABLE x AS SELECT * FROM t",
    "CREATE VIEW v AS SELECT * FROM t",
    "DROP TABLE u",
    "ALTER TABLE t ADD COLUMN b int",
    "COMMENT ON TABLE t IS 'x'",
]


def _psql(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-q", "-d", DSN, "-v", "ON_ERROR_STOP=1"],
        input="\\set VERBOSITY sqlstate\n" + script,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    probe = _psql("SELECT 1;")
    if probe.returncode != 0:
        pytest.skip(f"no PostgreSQL at {DSN}: {probe.stderr.strip()[:200]}")
    name = f"limen_policy_{uuid.uuid4().hex[:12]}"
    setup = _psql(
        f"CREATE SCHEMA {name}; SET search_path = {name};"
        "CREATE TABLE t (id int PRIMARY KEY, a int);"
        "CREATE TABLE u (id int, t_id int, flag bool);"
        "CREATE SEQUENCE seq;"
        "INSERT INTO t VALUES (1, 1), (2, 2); INSERT INTO u VALUES (1, 1, true);"
    )
    assert setup.returncode == 0, setup.stderr
    try:
        yield name
    finally:
        _psql(f"DROP SCHEMA {name} CASCADE;")


def _run_read_only(schema: str, sql: str) -> subprocess.CompletedProcess[str]:
    return _psql(f"BEGIN READ ONLY;\nSET LOCAL search_path = {schema};\n{sql};\nROLLBACK;\n")


@pytest.mark.parametrize("sql", READS)
def test_reads_run_in_a_read_only_transaction(schema: str, sql: str) -> None:
    assert classify(sql).klass in ("read", "harmless")
    result = _run_read_only(schema, sql)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("sql", WRITES)
def test_writes_are_refused_by_a_read_only_transaction(schema: str, sql: str) -> None:
    assert classify(sql).klass in ("write", "unbounded-write", "ddl")
    result = _run_read_only(schema, sql)
    assert result.returncode != 0
    assert "25006" in result.stderr, result.stderr


def test_every_statement_is_valid_postgresql(schema: str) -> None:
    """The lists above are real statements: each runs in a normal (rolled back)
    transaction, so the read-only refusals above are not syntax errors."""
    for sql in READS + WRITES:
        result = _psql(f"BEGIN;\nSET LOCAL search_path = {schema};\n{sql};\nROLLBACK;\n")
        assert result.returncode == 0, (sql, result.stderr)


def test_volatile_builtins_are_never_taken_for_harmless(schema: str) -> None:
    """Every volatile function of the live server is judged write or admin,
    unless it is on limen's hand-checked list of harmless volatile ones: a
    stale or wrong pg_catalog.txt cannot make a side effect look harmless."""
    del schema
    listed = _psql(
        "\\pset tuples_only on\n\\pset format unaligned\n"
        "SELECT DISTINCT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE nspname = 'pg_catalog' AND provolatile = 'v';\n"
    )
    assert listed.returncode == 0, listed.stderr
    names = [line for line in listed.stdout.splitlines() if line]
    assert len(names) > 100
    for name in names:
        klass, _ = function_class((name,))
        if name in HARMLESS_FUNCTIONS:
            assert klass is None, name
        else:
            assert klass in ("write", "admin"), name
