"""Shared setup for the MySQL gateway tests: a throw-away database on the
local MariaDB (127.0.0.1:3306, root without a password) with a `users`
table holding emails, card numbers and API keys; a MySqlGateway running in
the test's Trio nursery on port 0 with the dev IdP on port 0; token
minting; the mariadb CLI."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import pytest
import trio

from limen.approvals import ApprovalHub
from limen.config import Config, load_config_text
from limen.gateway import JsonLog, MySqlGateway
from limen.gateway.services import Services
from limen.identity import Authenticator, DevIdP
from limen.recording import MemoryRecorder, SessionInfo
from oidc_provider import self_signed

MY_HOST = "127.0.0.1"
MY_PORT = 3306
MARIADB = shutil.which("mariadb") or shutil.which("mysql")
#: Who moves a session's bytes after the login (``[gateway] relay``); the
#: key modules run with both (tests/conftest.py).
RELAY = "native"

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


def direct(database: str | None = None) -> pymysql.Connection:  # type: ignore[type-arg]
    return pymysql.connect(
        host=MY_HOST, port=MY_PORT, user="root", password="", database=database, autocommit=True
    )


def mariadb_available() -> bool:
    try:
        direct().close()
        return True
    except pymysql.err.MySQLError:
        return False


@pytest.fixture(scope="session")
def mydb() -> Iterator[str]:
    """A fresh database with `users`."""
    if not mariadb_available():
        pytest.skip("no MariaDB on 127.0.0.1:3306")
    name = f"limen_my_{secrets.token_hex(4)}"
    conn = direct()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(
            f"CREATE TABLE `{name}`.users (id INT PRIMARY KEY, name TEXT, email TEXT,"
            " card TEXT, api_key TEXT, note TEXT)"
        )
        cur.executemany(f"INSERT INTO `{name}`.users VALUES (%s, %s, %s, %s, %s, %s)", USERS)
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def config_text(database: str, extra_gateway: str = "", *, listeners: str = "") -> str:
    """Resource `shop` (mysql) on the test database, rule `ci-shop` (read
    and write allowed, DDL and admin denied, builtin masking)."""
    return f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
max_message_size = "1MiB"
admin = "127.0.0.1:0"
relay = "{RELAY}"
{extra_gateway}

[listeners]
mysql = "127.0.0.1:0"
{listeners}

[identity]
leeway = "0s"

[identity.dev]
enabled = true

[[resources]]
name = "shop"
protocol = "mysql"
upstream = "{MY_HOST}:{MY_PORT}"
database = "{database}"
user = "root"

[[rules]]
name = "ci-shop"
groups = ["ci"]
resources = ["shop"]
allow = ["read", "write"]
deny = ["ddl", "admin"]
mask = ["builtin"]
"""


def gateway_config(
    tmp_path: Path, database: str, extra_gateway: str = "", *, tls: bool = False
) -> Config:
    listeners = ""
    if tls:
        self_signed(tmp_path)  # writes cert.pem and key.pem
        listeners = f'tls_cert = "{tmp_path / "cert.pem"}"\ntls_key = "{tmp_path / "key.pem"}"'
    return load_config_text(
        config_text(database, extra_gateway, listeners=listeners), base_dir=tmp_path
    )


@dataclass
class Gateway:
    config: Config
    gateway: MySqlGateway
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

    def pymysql(self, token: str | None = None, **kw: object) -> pymysql.Connection:  # type: ignore[type-arg]
        args: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "bot",
            "password": token or self.token(),
            "database": "shop",
            "connect_timeout": 10,
        }
        args.update(kw)
        return pymysql.connect(**args)  # type: ignore[arg-type]

    def cli(
        self, sql: str, token: str | None = None, *args: str, user: str = "bot"
    ) -> subprocess.CompletedProcess[str]:
        """The mariadb CLI, batch mode, one statement string."""
        assert MARIADB is not None
        return subprocess.run(
            [
                MARIADB,
                "--no-defaults",
                "-h127.0.0.1",
                f"-P{self.port}",
                f"-u{user}",
                f"-p{token or self.token()}",
                "--batch",
                "--skip-column-names",
                *args,
                "shop",
                "-e",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )


async def start_gateway(
    nursery: trio.Nursery,
    config: Config,
    log: JsonLog | None = None,
    *,
    approvals: ApprovalHub | None = None,
    memory_recorders: bool = True,
) -> Gateway:
    """A MySQL gateway recording to :class:`MemoryRecorder` s (``gw.recorders``),
    or with ``memory_recorders=False`` to its default recorder (signed logs
    under ``[gateway] recordings``, indexed in ``[gateway] state``)."""
    idp = DevIdP.from_config(config)
    discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    recorders: list[MemoryRecorder] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        r = MemoryRecorder(info)
        recorders.append(r)
        return r

    gw = MySqlGateway(
        Services(
            config,
            auth,
            recorder_factory=recorder if memory_recorders else None,
            log=log or JsonLog(),
            approvals=approvals,
        )
    )
    listeners = await nursery.start(gw.serve, "127.0.0.1", 0)
    port = listeners[0].socket.getsockname()[1]
    return Gateway(config, gw, idp, port, recorders)
