"""limen's own upstream login on the local MariaDB: the resource's
credential (password_env) for a mysql_native_password user and, where the
plugin is loaded, an ed25519 user; a wrong credential and the resource's
TLS modes against a server without TLS, each refused clearly and never
showing the password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import trio

from gateway_mysql_support import config_text, direct, mydb, start_gateway
from limen.config import load_config_text

pytestmark = pytest.mark.mysql
__all__ = ["mydb"]

PASSWORD = "n@t pw 1 s3cret"


@pytest.fixture(scope="module")
def users(mydb: str) -> Iterator[list[str]]:
    made = ["limen_gw_native"]
    conn = direct()
    with conn.cursor() as cur:
        cur.execute(
            "CREATE OR REPLACE USER 'limen_gw_native'@'127.0.0.1' "
            f"IDENTIFIED VIA mysql_native_password USING PASSWORD('{PASSWORD}')"
        )
        try:
            cur.execute(
                "CREATE OR REPLACE USER 'limen_gw_ed'@'127.0.0.1' "
                f"IDENTIFIED VIA ed25519 USING PASSWORD('{PASSWORD}')"
            )
            made.append("limen_gw_ed")
        except pymysql.err.MySQLError:
            pass  # the ed25519 plugin is not loaded on this server
        for user in made:
            cur.execute(f"GRANT SELECT ON `{mydb}`.* TO '{user}'@'127.0.0.1'")
    yield made
    with conn.cursor() as cur:
        for user in made:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
    conn.close()


def _config(tmp_path: Path, mydb: str, resource: str) -> str:
    text = config_text(mydb).replace('user = "root"\n', resource)
    return text


async def _gateway(
    nursery: trio.Nursery, tmp_path: Path, mydb: str, resource: str
) -> tuple[int, str]:
    config = load_config_text(_config(tmp_path, mydb, resource), base_dir=tmp_path)
    gw = await start_gateway(nursery, config)
    return gw.port, gw.token()


def _current_user(port: int, token: str) -> object:
    with (
        pymysql.connect(
            host="127.0.0.1", port=port, user="bot", password=token, database="shop"
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT CURRENT_USER(), COUNT(*) FROM users")
        return cur.fetchone()


@pytest.mark.parametrize("user", ["limen_gw_native", "limen_gw_ed"])
async def test_the_resources_credential_logs_in(
    nursery: trio.Nursery,
    tmp_path: Path,
    mydb: str,
    users: list[str],
    user: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if user not in users:
        pytest.skip("the ed25519 plugin is not loaded on this MariaDB")
    monkeypatch.setenv("LIMEN_TEST_MY_PW", PASSWORD)
    port, token = await _gateway(
        nursery, tmp_path, mydb, f'user = "{user}"\npassword_env = "LIMEN_TEST_MY_PW"\n'
    )
    row = await trio.to_thread.run_sync(_current_user, port, token)
    assert row == (f"{user}@127.0.0.1", 3)


@pytest.mark.parametrize(
    ("resource", "said"),
    [
        (
            'user = "limen_gw_native"\npassword_env = "LIMEN_TEST_MY_PW"\n',
            "refused the gateway: 1045",
        ),
        ('user = "root"\ntls = { mode = "require" }\n', "does not offer TLS (mode require)"),
        ('user = "root"\ntls = { mode = "verify-full" }\n', "does not offer TLS"),
    ],
    ids=["wrong_password", "tls_require", "tls_verify_full"],
)
async def test_upstream_refusals_are_clear_errors(
    nursery: trio.Nursery,
    tmp_path: Path,
    mydb: str,
    users: list[str],
    resource: str,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIMEN_TEST_MY_PW", "not the password")
    port, token = await _gateway(nursery, tmp_path, mydb, resource)
    with pytest.raises(pymysql.err.OperationalError) as refused:
        await trio.to_thread.run_sync(_current_user, port, token)
    code, message = refused.value.args
    assert code == 2013
    assert said in message
    assert "'shop'" in message
    assert "not the password" not in message
    assert PASSWORD not in message


async def test_tls_prefer_falls_back_to_clear_text(
    nursery: trio.Nursery, tmp_path: Path, mydb: str
) -> None:
    port, token = await _gateway(
        nursery, tmp_path, mydb, 'user = "root"\ntls = { mode = "prefer" }\n'
    )
    row = await trio.to_thread.run_sync(_current_user, port, token)
    assert row is not None
    assert row[1] == 3  # type: ignore[index]
