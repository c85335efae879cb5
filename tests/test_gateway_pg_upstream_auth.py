"""The gateway logs in upstream with the resource's credential: SCRAM-SHA-256
and md5 against a private PostgreSQL cluster (initdb in a temp folder on a
free port); the bot never sees the credential, and a wrong one is a clear
FATAL error that does not contain it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import trio

from gateway_pg_support import start_gateway
from limen.config import load_config_text

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "S3cret-upstream-pw"
BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def _as_postgres(*args: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


@pytest.fixture(scope="module")
def cluster() -> Iterator[int]:
    """A cluster with `app` (SCRAM) and `legacy` (md5); yields its port."""
    if BIN is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("no PostgreSQL server binaries to run a private cluster")
    # Not under pytest's tmp folder: the server's user must reach it.
    root = Path(tempfile.mkdtemp(prefix="limen-pg-"))
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    data = root / "data"
    subprocess.run(
        _as_postgres(
            str(BIN / "initdb"), "-D", str(data), "-U", "app",
            "--auth=scram-sha-256", f"--pwfile={pwfile}",
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip
    hba = data / "pg_hba.conf"
    hba.write_text("host all legacy 127.0.0.1/32 md5\n" + hba.read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run(
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
                     "-o", opts, "start"),
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        dsn = f"host=127.0.0.1 port={port} user=app password={PASSWORD} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET password_encryption = 'md5'")
            conn.execute(f"CREATE ROLE legacy LOGIN PASSWORD '{PASSWORD}'")
        yield port
    finally:
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "immediate", "stop"),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _config(tmp_path: Path, port: int) -> str:
    resources = ""
    for name, user, env in [
        ("scram", "app", "LIMEN_TEST_PW"),
        ("md5", "legacy", "LIMEN_TEST_PW"),
        ("wrong", "app", "LIMEN_TEST_WRONG_PW"),
        ("nopw", "app", None),
    ]:
        pw = f'password_env = "{env}"' if env else ""
        resources += f"""
        [[resources]]
        name = "{name}"
        protocol = "postgres"
        upstream = "127.0.0.1:{port}"
        database = "postgres"
        user = "{user}"
        {pw}
        """
    return f"""
        [gateway]
        state = "sqlite://state/limen.db"
        [identity.dev]
        enabled = true
        {resources}
        [[rules]]
        name = "ci"
        groups = ["ci"]
        resources = ["scram", "md5", "wrong", "nopw"]
        allow = ["read"]
        """


async def test_scram_and_md5_upstream_logins(
    nursery: trio.Nursery, tmp_path: Path, cluster: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMEN_TEST_PW", PASSWORD)
    monkeypatch.setenv("LIMEN_TEST_WRONG_PW", "not-the-password")
    config = load_config_text(_config(tmp_path, cluster), base_dir=tmp_path)
    gw = await start_gateway(nursery, config)
    token = gw.token()

    def client(resource: str) -> object:
        try:
            with psycopg.connect(gw.dsn(token, dbname=resource), autocommit=True) as conn:
                return conn.execute("SELECT current_user").fetchone()
        except psycopg.OperationalError as exc:
            return str(exc)

    assert await trio.to_thread.run_sync(client, "scram") == ("app",)
    assert await trio.to_thread.run_sync(client, "md5") == ("legacy",)
    wrong = await trio.to_thread.run_sync(client, "wrong")
    assert isinstance(wrong, str)
    assert "refused the gateway" in wrong
    assert "not-the-password" not in wrong
    nopw = await trio.to_thread.run_sync(client, "nopw")
    assert isinstance(nopw, str)
    assert "has none configured" in nopw
