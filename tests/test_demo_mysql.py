"""`limen demo` serves both protocols when a MariaDB runs on 127.0.0.1:3306:
the printed mariadb/PyMySQL lines reach the same users table on MariaDB,
masked by the same rule."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from gateway_mysql_support import direct, mariadb_available
from test_demo import _env, _limen, demo_db

pytestmark = pytest.mark.mysql
__all__ = ["demo_db"]


@pytest.fixture
def both(demo_db: str) -> Iterator[str]:
    if not mariadb_available():
        pytest.skip("no MariaDB on 127.0.0.1:3306")
    try:
        yield demo_db
    finally:
        conn = direct()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{demo_db}`")
        conn.close()


def test_demo_serves_mysql_too(tmp_path: Path, both: str) -> None:
    proc = subprocess.Popen(
        _limen("demo", "--database", both, "--port", "0", "--mysql-port", "0"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        text = "".join(seen)
        token = re.search(r"export LIMEN_TOKEN='([^']+)'", text)
        port = re.search(r"mariadb -h127\.0\.0\.1 -P(\d+) -udemo-bot .* demo-mysql", text)
        assert token is not None, text
        assert port is not None, text
        with (
            pymysql.connect(
                host="127.0.0.1",
                port=int(port.group(1)),
                user="demo-bot",
                password=token.group(1),
                database="demo-mysql",
                connect_timeout=10,
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute("SELECT name, email, card, api_key FROM users WHERE id = 1")
            row = cur.fetchone()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert row == (
        "Alice Martin",
        "[MASKED:email]",
        "[MASKED:card-number]",
        "[MASKED:column:users.api_key]",
    )
    assert rc == 0
