"""The gateway logs in upstream with the resource's credential: SCRAM-SHA-256
and md5 against a private PostgreSQL cluster (initdb in a temp folder on a
free port); the bot never sees the credential, and a wrong one is a clear
FATAL error that does not contain it."""

from __future__ import annotations

import json
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
from oidc_provider import self_signed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "S3cret-upstream-pw"
BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def _as_postgres(*args: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[int, Path]]:
    """A cluster with `app` (SCRAM) and `legacy` (md5); yields its port."""
    if BIN is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("no PostgreSQL server binaries to run a private cluster")
    # Not under pytest's tmp folder: the server's user must reach it.
    root = Path(tempfile.mkdtemp(prefix="limen-pg-"))
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD)
    self_signed(root)  # cert.pem (for 127.0.0.1) and key.pem: the server's TLS
    (root / "key.pem").chmod(0o600)
    if os.geteuid() == 0:
        for path in (root, pwfile, root / "cert.pem", root / "key.pem"):
            shutil.chown(path, "postgres")
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
    opts = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c ssl=on "
        f"-c ssl_cert_file={root}/cert.pem -c ssl_key_file={root}/key.pem"
    )
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
        yield port, root
    finally:
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "immediate", "stop"),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


NAMES = ["scram", "md5", "wrong", "nopw", "tls-full", "tls-require", "tls-untrusted"]


def _config(tmp_path: Path, port: int, ca: Path) -> str:
    resources = ""
    other_ca = tmp_path / "other"
    other_ca.mkdir()
    self_signed(other_ca)
    for name, user, env, tls in [
        ("scram", "app", "LIMEN_TEST_PW", ""),
        ("md5", "legacy", "LIMEN_TEST_PW", ""),
        ("wrong", "app", "LIMEN_TEST_WRONG_PW", ""),
        ("nopw", "app", None, ""),
        ("tls-full", "app", "LIMEN_TEST_PW", f'mode = "verify-full"\nca_file = "{ca}"'),
        ("tls-require", "app", "LIMEN_TEST_PW", 'mode = "require"'),
        ("tls-untrusted", "app", "LIMEN_TEST_PW", f'ca_file = "{other_ca}/cert.pem"'),
    ]:
        pw = f'password_env = "{env}"' if env else ""
        tls_table = f"[resources.tls]\n{tls}" if tls else ""
        resources += f"""
        [[resources]]
        name = "{name}"
        protocol = "postgres"
        upstream = "127.0.0.1:{port}"
        database = "postgres"
        user = "{user}"
        {pw}
        {tls_table}
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
        resources = {json.dumps(NAMES)}
        allow = ["read"]
        """


async def test_scram_and_md5_upstream_logins(
    nursery: trio.Nursery, tmp_path: Path, cluster: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMEN_TEST_PW", PASSWORD)
    monkeypatch.setenv("LIMEN_TEST_WRONG_PW", "not-the-password")
    port, root = cluster
    config = load_config_text(_config(tmp_path, port, root / "cert.pem"), base_dir=tmp_path)
    gw = await start_gateway(nursery, config)
    token = gw.token()

    def client(resource: str) -> object:
        try:
            with psycopg.connect(gw.dsn(token, dbname=resource), autocommit=True) as conn:
                return conn.execute(
                    "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                ).fetchone()
        except psycopg.OperationalError as exc:
            return str(exc)

    assert await trio.to_thread.run_sync(client, "scram") == ("app", False)
    assert await trio.to_thread.run_sync(client, "md5") == ("legacy", False)
    assert await trio.to_thread.run_sync(client, "tls-full") == ("app", True)
    assert await trio.to_thread.run_sync(client, "tls-require") == ("app", True)
    untrusted = await trio.to_thread.run_sync(client, "tls-untrusted")
    assert isinstance(untrusted, str)
    assert "TLS to the upstream of 'tls-untrusted' failed" in untrusted
    wrong = await trio.to_thread.run_sync(client, "wrong")
    assert isinstance(wrong, str)
    assert "refused the gateway" in wrong
    assert "not-the-password" not in wrong
    nopw = await trio.to_thread.run_sync(client, "nopw")
    assert isinstance(nopw, str)
    assert "has none configured" in nopw
