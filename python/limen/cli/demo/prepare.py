"""Before the gateway runs: the demo database and its ``users`` table, a free
port, the configuration file, the demo agent's client secret, and the file
that tells the AutoGen example where everything is."""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from psycopg import sql

from limen.cli import CheckFailed
from limen.cli.demo.defaults import (
    AGENT_CLIENT,
    AGENT_ENV_FILE,
    AGENT_SECRET_FILE,
    APPROVERS,
    CONFIG_DIR,
    CONFIG_FILE,
    DEFAULT_CONFIG,
    GROUP,
    MY_HOST,
    MY_PORT,
    MYSQL_LISTENER,
    MYSQL_RESOURCE,
    MYSQL_RESOURCE_CONFIG,
    PG_HOST,
    PG_PORT,
    RESOURCE,
    RULE,
    USERS,
)


def _admin(dbname: str, pg_port: int) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(
        host=PG_HOST,
        port=pg_port,
        user="postgres",
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
    )


def prepare_database(database: str, pg_port: int = PG_PORT) -> None:
    """Create the demo database and its ``users`` table when missing."""
    try:
        conn = _admin("postgres", pg_port)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckFailed(
            f"PostgreSQL is not reachable at {PG_HOST}:{pg_port} as user postgres ({first}).\n"
            "  limen demo needs a local PostgreSQL that accepts user postgres with trust "
            "authentication on 127.0.0.1. Start it, e.g.:\n"
            "    sudo service postgresql start     (Debian/Ubuntu; or: pg_ctlcluster <ver> main "
            "start)\n"
            "  and make sure pg_hba.conf has: host all postgres 127.0.0.1/32 trust\n"
            "  then run `limen demo` again."
        ) from None
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            print(f"created database {database} on {PG_HOST}:{pg_port}")
    with _admin(database, pg_port) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text, email text,"
            " card text, api_key text, note text)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO users VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                USERS,
            )


def prepare_mysql(database: str, my_port: int = MY_PORT) -> bool:
    """Create the demo database and its ``users`` table on the local
    MariaDB when missing; False (said so) when it is not reachable."""
    try:
        conn = pymysql.connect(
            host=MY_HOST,
            port=my_port,
            user="root",
            password="",
            connect_timeout=5,
            autocommit=True,
        )
    except pymysql.err.MySQLError as exc:
        print(
            f"no MariaDB at {MY_HOST}:{my_port} as root ({exc.args[-1]}): the demo serves "
            "PostgreSQL only"
        )
        return False
    # `database` matched the demo's name pattern ([a-z_][a-z0-9_]*).
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS `{database}`.users (id INT PRIMARY KEY, name TEXT,"
            " email TEXT, card TEXT, api_key TEXT, note TEXT)"
        )
        cur.executemany(
            f"INSERT IGNORE INTO `{database}`.users VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608
            USERS,
        )
    return True


def pick_port(preferred: int) -> int:
    """``preferred`` when it is free on 127.0.0.1, else a free port (said so)."""
    if preferred:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    if preferred:
        print(f"port {preferred} is taken on 127.0.0.1; the gateway listens on {port} instead")
    return port


def write_config(
    port: int,
    database: str,
    pg_port: int = PG_PORT,
    *,
    mysql_port: int | None = None,
    my_port: int = MY_PORT,
    ssh: tuple[str, str] | None = None,
) -> Path:
    """The demo's config; with ``mysql_port`` also the MySQL listener and
    the resource on the local MariaDB."""
    CONFIG_DIR.mkdir(mode=0o700, exist_ok=True)
    mysql = mysql_port is not None
    text = DEFAULT_CONFIG.format(
        mysql_listener=MYSQL_LISTENER.format(mysql_port=mysql_port) if mysql else "",
        mysql_resource=MYSQL_RESOURCE_CONFIG.format(
            mysql_resource=MYSQL_RESOURCE, my_host=MY_HOST, my_port=my_port, database=database
        )
        if mysql
        else "",
        resources=", ".join(f'"{r}"' for r in (RESOURCE, MYSQL_RESOURCE)[: 2 if mysql else 1]),
        port=port,
        database=database,
        resource=RESOURCE,
        rule=RULE,
        group=GROUP,
        approvers=APPROVERS,
        pg_host=PG_HOST,
        pg_port=pg_port,
        agent_client=AGENT_CLIENT,
        agent_hash=hashlib.sha256(_agent_secret().encode()).hexdigest(),
    )
    if ssh is not None:  # the SSH part (sshpart.ssh_config): a listener, a resource, a rule
        text = text.replace("\n[identity.dev]", ssh[0] + "\n[identity.dev]", 1) + ssh[1]
    CONFIG_FILE.write_text(text, encoding="utf-8")
    return CONFIG_FILE


def _agent_secret() -> str:
    """The demo agent's client secret: made once, kept in a 0600 file."""
    try:
        return AGENT_SECRET_FILE.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(32)
    fd = os.open(AGENT_SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    return secret


def write_agent_env(discovery: str | None, port: int, config_path: Path) -> Path:
    """Where the AutoGen example finds the running demo (no secret inside)."""
    lines = [
        "# Written by `limen demo` for examples/autogen/agent.py",
        f"LIMEN_DISCOVERY_URL={discovery or ''}",
        f"LIMEN_CLIENT_ID={AGENT_CLIENT}",
        f"LIMEN_CLIENT_SECRET_FILE={AGENT_SECRET_FILE.resolve()}",
        f"LIMEN_GATEWAY=127.0.0.1:{port}",
        f"LIMEN_RESOURCE={RESOURCE}",
        f"LIMEN_CONFIG={config_path.resolve()}",
    ]
    AGENT_ENV_FILE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return AGENT_ENV_FILE
