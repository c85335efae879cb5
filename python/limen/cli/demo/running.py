"""The long-running demo: the gateway as ``limen serve`` runs it, a fresh
token, and the lines to connect with."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from limen.cli.demo.defaults import (
    AGENT_CLIENT,
    CONFIG_DIR,
    GROUP,
    MYSQL_RESOURCE,
    RESOURCE,
    RULE,
    SUBJECT,
)
from limen.cli.demo.prepare import write_agent_env
from limen.cli.demo.sshpart import ssh_help
from limen.config import Config
from limen.gateway.server import JsonLog
from limen.identity import DevIdP


def mysql_help(port: int, database: str, upstream: str) -> list[str]:
    """The MySQL part of the running demo's help."""
    return [
        "",
        f"MySQL: the gateway listens on 127.0.0.1:{port} in front of MariaDB {upstream}, "
        f'database {database} (resource "{MYSQL_RESOURCE}", same rule):',
        f'  mariadb -h127.0.0.1 -P{port} -u{SUBJECT} -p"$LIMEN_TOKEN" {MYSQL_RESOURCE}',
        f"  python3 -c \"import os, pymysql; c = pymysql.connect(host='127.0.0.1', "  # noqa: S608
        f"port={port}, user='{SUBJECT}', password=os.environ['LIMEN_TOKEN'], "
        f"database='{MYSQL_RESOURCE}'); cur = c.cursor(); cur.execute('SELECT * FROM users'); "
        'print(*cur.fetchall(), sep=chr(10))"',
        "  (plaintext loopback: the token travels RSA-encrypted; elsewhere use TLS, docs/mysql.md)",
    ]


def connect_help(
    config: Config, config_path: Path, database: str, port: int, token: str
) -> list[str]:
    """What the running demo prints: where it is and how to connect."""
    cfg = str(config_path)
    ttl = config.identity.dev.default_ttl
    conninfo = f"host=127.0.0.1 port={port} dbname={RESOURCE} user={SUBJECT} sslmode=disable"
    query = "SELECT * FROM users"
    python = (
        f"import os, psycopg; c = psycopg.connect('{conninfo}', "
        "password=os.environ['LIMEN_TOKEN']); "
        f"print(*c.execute('{query}').fetchall(), sep=chr(10))"
    )
    return [
        "",
        f"limen demo: the gateway listens on 127.0.0.1:{port} in front of PostgreSQL "
        f"{config.resources[0].upstream}, database {database}",
        f'(resource "{RESOURCE}"; rule "{RULE}": group {GROUP} may read; writes wait for a '
        "human's approval; DDL, admin and unbounded writes are denied; emails, cards, API keys "
        "and other secrets are masked).",
        f"Config: {cfg}; state and recordings under {CONFIG_DIR}/.",
        "",
        f"connect with (a token for subject {SUBJECT}, group {GROUP}, valid {ttl}):",
        f"  export LIMEN_TOKEN='{token}'",
        f'  psql "{conninfo} password=$LIMEN_TOKEN"',
        f'  python3 -c "{python}"',
        "",
        "then try:  SELECT * FROM users;   DROP TABLE users;   (denied: 42501)",
        "           DELETE FROM users WHERE id = 3;   (held: it waits; in another shell:)",
        f"           limen approvals list --config {cfg}",
        f"           limen approvals approve --config {cfg} ID --as YOUR_NAME",
        f"a new token:       limen token --config {cfg} --sub {SUBJECT} --group {GROUP}",
        f"recorded sessions: limen sessions list --config {cfg}",
        f"                   limen sessions replay --config {cfg} ID",
        "Ctrl-C stops the gateway. JSON log lines follow on stderr.",
    ]


async def serve_demo(config: Config, config_path: Path, database: str) -> None:
    from limen.cli.serve import serve

    async with trio.open_nursery() as nursery:
        serving = await nursery.start(serve, config, JsonLog(sys.stderr))
        ttl = config.identity.dev.default_ttl.seconds
        token = DevIdP.from_config(config).mint(SUBJECT, [GROUP], ttl)
        port = serving.port
        assert port is not None  # the demo always listens for PostgreSQL
        lines = connect_help(config, config_path, database, port, token)
        mysql = next((r for r in config.resources if r.protocol == "mysql"), None)
        if serving.mysql_port is not None and mysql is not None:
            lines[-1:-1] = mysql_help(serving.mysql_port, database, mysql.upstream)
        if serving.ssh_port is not None:
            lines[-1:-1] = ssh_help(serving.ssh_port)
        env_file = write_agent_env(serving.discovery, port, config_path)
        lines[-1:-1] = [
            f"an AutoGen agent through limen ({AGENT_CLIENT}, client credentials; needs "
            "pip install 'limen[autogen]'):",
            f"                   python examples/autogen/agent.py   (reads {env_file})",
        ]
        print("\n".join(lines), flush=True)
