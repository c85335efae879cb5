"""Shared setup for the PostgreSQL gateway tests: a throw-away database on
the local PostgreSQL (127.0.0.1:5432, trust, user postgres) with tables
holding emails, card numbers and API keys; a gateway running in the test's
Trio nursery on port 0 with the dev IdP on port 0; token minting."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import psycopg
import pytest
import trio

from limen.approvals import ApprovalHub
from limen.config import Config, load_config_text
from limen.gateway import JsonLog, PgGateway
from limen.identity import Authenticator, DevIdP
from limen.recording import MemoryRecorder, SessionInfo

PG_HOST = "127.0.0.1"
PG_PORT = 5432

#: Who moves the bytes after the handshake (``[gateway] relay``): set per
#: test by the ``pg_relay`` fixture (tests/conftest.py), which runs the
#: gateway test modules once on each relay.
RELAY = "native"

#: Whether the listener has a certificate and clients connect with
#: ``sslmode=require`` (the ``pg_relay`` fixture's "-tls" variants).
TLS = False

_TLS_FILES: list[tuple[Path, Path]] = []


def tls_files() -> tuple[Path, Path]:
    """The listener's certificate and key for TLS runs (made once)."""
    if not _TLS_FILES:
        from oidc_provider import self_signed

        directory = Path(tempfile.mkdtemp(prefix="limen-test-tls-"))
        _, cert = self_signed(directory)
        _TLS_FILES.append((cert, directory / "key.pem"))
    return _TLS_FILES[0]


def _listener_tls() -> str:
    if not TLS:
        return ""
    cert, key = tls_files()
    return f'tls_cert = "{cert}"\ntls_key = "{key}"\n'


USERS = [
    (1, "alice", "alice@example.com", "4111 1111 1111 1111", "ak_live_0001", "likes tea"),
    (
        2,
        "bob",
        "bob.smith@example.org",
        "5500 0000 0000 0004",
        "ak_live_0002",
        "AKIAIOSFODNN7EXAMPLE",
    ),
    (3, "carol", None, None, "ak_live_0003", "no secrets here"),
]


def _direct(dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname=dbname, autocommit=True
    )


def postgres_available() -> bool:
    try:
        with _direct() as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    """A fresh database with `users`, `users_in` and pgbench tables."""
    if not postgres_available():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    name = f"limen_gw_{secrets.token_hex(4)}"
    with _direct() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with _direct(name) as conn:
            conn.execute(
                "CREATE TABLE users (id int PRIMARY KEY, name text, email text, card text,"
                " api_key text, note text)"
            )
            conn.execute("CREATE TABLE users_in (id int, email text)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO users VALUES (%s, %s, %s, %s, %s, %s)", USERS)
        pgbench = shutil.which("pgbench")
        if pgbench is not None:
            subprocess.run(
                [
                    pgbench,
                    "-i",
                    "-q",
                    "-s",
                    "1",
                    "-h",
                    PG_HOST,
                    "-p",
                    str(PG_PORT),
                    "-U",
                    "postgres",
                    name,
                ],
                check=True,
                capture_output=True,
            )
        yield name
    finally:
        with _direct() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def config_text(database: str, extra_gateway: str = "", *, dev_listen: str | None = None) -> str:
    """A config: resource `app` on the test database, rule `ci-app` (read
    and write allowed, DDL and admin denied, builtin and column masking),
    rule `careful-app` (writes held)."""
    listen = f'listen = "{dev_listen}"' if dev_listen else ""
    return f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
max_message_size = "1MiB"
admin = "127.0.0.1:0"
relay = "{RELAY}"
{extra_gateway}

[listeners]
postgres = "127.0.0.1:0"
{_listener_tls()}
[identity]
leeway = "0s"

[identity.dev]
enabled = true
{listen}

[[resources]]
name = "app"
protocol = "postgres"
upstream = "{PG_HOST}:{PG_PORT}"
database = "{database}"
user = "postgres"

[[rules]]
name = "ci-app"
groups = ["ci"]
resources = ["app"]
allow = ["read", "write"]
deny = ["ddl", "admin"]
mask = ["builtin", "column:users.api_key"]

[[rules]]
name = "careful-app"
groups = ["careful"]
resources = ["app"]
allow = ["read"]
hold = ["write"]
approvers = ["security"]
"""


def gateway_config(tmp_path: Path, database: str, extra_gateway: str = "") -> Config:
    return load_config_text(config_text(database, extra_gateway), base_dir=tmp_path)


@dataclass
class Gateway:
    config: Config
    gateway: PgGateway
    idp: DevIdP
    port: int
    recorders: list[MemoryRecorder] = field(default_factory=list)

    def token(
        self,
        subject: str = "bot",
        groups: tuple[str, ...] = ("ci",),
        ttl: float = 600,
        *,
        age: float = 0,
    ) -> str:
        """A dev token; `age` seconds moves its issue time into the past."""
        if age:
            idp = DevIdP(
                issuer=self.idp.issuer,
                audience=self.idp.audience,
                store=self.idp.store,
                max_lifetime=self.idp.max_lifetime,
                clock=lambda: time.time() - age,
            )
            return idp.mint(subject, groups, ttl)
        return self.idp.mint(subject, groups, ttl)

    def dsn(self, token: str, user: str = "bot", dbname: str = "app") -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={dbname} user={user} "
            f"password={token} sslmode={'require' if TLS else 'disable'} connect_timeout=10"
        )

    def connect(
        self, token: str | None = None, **kw: object
    ) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn(token or self.token()), **kw)  # type: ignore[arg-type]


async def start_gateway(
    nursery: trio.Nursery,
    config: Config,
    log: JsonLog | None = None,
    *,
    approvals: ApprovalHub | None = None,
    memory_recorders: bool = True,
) -> Gateway:
    """A gateway recording to :class:`MemoryRecorder` s (``gw.recorders``),
    or with ``memory_recorders=False`` to its default recorder (signed logs
    under ``[gateway] recordings``, indexed in ``[gateway] state``)."""
    config = msgspec.structs.replace(
        config, gateway=msgspec.structs.replace(config.gateway, relay=RELAY)
    )
    if TLS and config.listeners.tls_cert is None:
        cert, key = tls_files()
        config = msgspec.structs.replace(
            config,
            listeners=msgspec.structs.replace(
                config.listeners, tls_cert=str(cert), tls_key=str(key)
            ),
        )
    idp = DevIdP.from_config(config)
    discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    recorders: list[MemoryRecorder] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        r = MemoryRecorder(info)
        recorders.append(r)
        return r

    gw = PgGateway(
        config,
        auth,
        recorder_factory=recorder if memory_recorders else None,
        log=log or JsonLog(),
        approvals=approvals,
    )
    listeners = await nursery.start(gw.serve, "127.0.0.1", 0)
    port = listeners[0].socket.getsockname()[1]
    return Gateway(config, gw, idp, port, recorders)


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path, database: str) -> Gateway:
    """A gateway on the default test config."""
    return await start_gateway(nursery, gateway_config(tmp_path, database))


def direct_query(database: str, sql: str) -> list[tuple[object, ...]]:
    with _direct(database) as conn:
        return conn.execute(sql).fetchall()
