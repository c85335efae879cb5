"""``limen demo``: the gateway on its embedded default, no configuration needed.

``limen demo`` writes the embedded default configuration to
``./.limen/limen.toml`` (SQLite state and signed recordings under
``./.limen/``, the dev IdP, one resource ``demo`` on the local PostgreSQL at
127.0.0.1:5432 as user ``postgres`` with trust, and, when a MariaDB runs on
127.0.0.1:3306 with root and no password, a resource ``demo-mysql`` on it
behind the MySQL listener), creates the database ``limen_demo`` with a
``users`` table full of personal data and secrets when it is missing (on
both servers), runs the gateway exactly as ``limen serve`` does, and prints
how to connect: a fresh token for ``demo-bot`` (group ``ci``) and lines to
paste into a shell. Ctrl-C or SIGTERM drains and exits 0.

``limen demo --walkthrough`` runs the same gateway in-process and drives a
scripted bot through it with psycopg: a token, an allowed SELECT whose
secrets come back masked, a denied ``DROP TABLE``, a refused bad token, and
the replay of the bot's own recorded session. Exit 0 when every step behaved
as expected, 1 naming the steps that did not.

With an OpenSSH server installed, the demo also starts its own ``sshd``
on loopback and serves it as ``demo-ssh`` behind the SSH listener
(``sshpart``); without one it says how to get one.

``limen demo --mask-sample`` shows the masker alone on a sample of query
results, an API response and log lines, before and after.

The demo, one module per job: ``defaults`` (names, the embedded config, the
demo rows), ``prepare`` (database, port, config and agent files), ``running``
(the long-running demo), ``bot`` and ``wire`` (the scripted bot),
``walkthrough`` (the in-process run, the approving human, the replay),
``sample`` (the masker sample).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess

import trio

from limen.cli import CheckFailed, UsageError
from limen.cli.demo.bot import Steps, bot_script, held_delete
from limen.cli.demo.defaults import (
    AGENT_CLIENT,
    AGENT_ENV_FILE,
    AGENT_SECRET_FILE,
    APPROVER,
    APPROVERS,
    CONFIG_DIR,
    CONFIG_FILE,
    DATABASE_ENV,
    DEFAULT_CONFIG,
    DEFAULT_DATABASE,
    DEFAULT_MYSQL_PORT,
    DEFAULT_PORT,
    GROUP,
    HELD_DELETE,
    PG_HOST,
    PG_PORT,
    RESOURCE,
    RULE,
    SELECT_USERS,
    SUBJECT,
    USERS,
)
from limen.cli.demo.prepare import (
    pick_port,
    prepare_database,
    prepare_mysql,
    write_agent_env,
    write_config,
)
from limen.cli.demo.running import connect_help, serve_demo
from limen.cli.demo.sample import SAMPLE, mask_sample
from limen.cli.demo.sshpart import DemoSshd, no_sshd_hint, ssh_config, start_sshd
from limen.cli.demo.walkthrough import cli_approver, replay_own_session, walkthrough
from limen.cli.demo.wire import login_error_fields
from limen.config import ConfigError, load_config
from limen.gateway.server import JsonLog

__all__ = [
    "AGENT_CLIENT",
    "AGENT_ENV_FILE",
    "AGENT_SECRET_FILE",
    "APPROVER",
    "APPROVERS",
    "CONFIG_DIR",
    "CONFIG_FILE",
    "DATABASE_ENV",
    "DEFAULT_CONFIG",
    "DEFAULT_DATABASE",
    "DEFAULT_MYSQL_PORT",
    "DEFAULT_PORT",
    "GROUP",
    "HELD_DELETE",
    "PG_HOST",
    "PG_PORT",
    "RESOURCE",
    "RULE",
    "SAMPLE",
    "SELECT_USERS",
    "SUBJECT",
    "USERS",
    "Steps",
    "bot_script",
    "cli_approver",
    "connect_help",
    "held_delete",
    "login_error_fields",
    "mask_sample",
    "prepare_database",
    "prepare_mysql",
    "register",
    "replay_own_session",
    "run",
    "serve_demo",
    "walkthrough",
    "write_agent_env",
    "write_config",
]

_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the gateway on its embedded default in front of the local PostgreSQL",
        description=(
            "Run limen with no configuration: the embedded default (written to "
            "./.limen/limen.toml; SQLite state and recordings under ./.limen/, the dev IdP) "
            f"in front of the local PostgreSQL ({PG_HOST}:{PG_PORT}, user postgres, trust). "
            "Creates the demo database with a users table holding emails, card numbers and "
            f"API keys, listens on 127.0.0.1:{DEFAULT_PORT} (another free port when that one "
            "is taken) and prints a token and the lines to connect with psql or psycopg. "
            "Ctrl-C or SIGTERM stops it (exit 0). --walkthrough drives a scripted bot "
            "through every step instead and exits 0 when each behaved as expected."
        ),
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--walkthrough",
        action="store_true",
        help="drive a scripted bot through the gateway, printing each step, then exit",
    )
    mode.add_argument(
        "--mask-sample",
        action="store_true",
        help="show only the masker on a built-in sample, before and after (no PostgreSQL)",
    )
    p.add_argument(
        "--database",
        metavar="NAME",
        default=os.environ.get(DATABASE_ENV, DEFAULT_DATABASE),
        help=f"the demo database to create and use (default ${DATABASE_ENV} or {DEFAULT_DATABASE})",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="N",
        help=f"the gateway's PostgreSQL port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    p.add_argument(
        "--mysql-port",
        type=int,
        default=DEFAULT_MYSQL_PORT,
        metavar="N",
        help=f"the gateway's MySQL port (default {DEFAULT_MYSQL_PORT}; 0 picks a free one), in "
        "front of the local MariaDB (127.0.0.1:3306, root) when it runs",
    )
    p.add_argument(
        "--pg-port",
        type=int,
        default=PG_PORT,
        metavar="N",
        help=f"the local PostgreSQL's port on {PG_HOST} (default {PG_PORT})",
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=7,
        metavar="N",
        help="with --mask-sample: feed the masker N bytes at a time",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.mask_sample:
        return mask_sample(args.chunk)
    if not _DB_NAME.fullmatch(args.database):
        raise UsageError(
            f"--database {args.database!r}: use lower-case letters, digits and _ "
            "(at most 63, not starting with a digit)"
        )
    for opt, value in (
        ("--port", args.port),
        ("--pg-port", args.pg_port),
        ("--mysql-port", args.mysql_port),
    ):
        if not 0 <= value <= 65535:
            raise UsageError(f"{opt} {value}: not a TCP port")
    prepare_database(args.database, args.pg_port)
    port = pick_port(args.port)
    mysql_port = None
    if not args.walkthrough and prepare_mysql(args.database):
        mysql_port = pick_port(args.mysql_port)
    hint = no_sshd_hint()
    sshd = None
    if hint is None:
        try:
            sshd = start_sshd()
        except (OSError, subprocess.CalledProcessError) as exc:
            hint = f"SSH part skipped: {exc}"
    try:
        return _run(args, port, mysql_port, sshd, hint)
    finally:
        if sshd is not None:
            sshd.stop()


def _run(
    args: argparse.Namespace,
    port: int,
    mysql_port: int | None,
    sshd: DemoSshd | None,
    hint: str | None,
) -> int:
    ssh = ssh_config(sshd) if sshd is not None else None
    config_path = write_config(port, args.database, args.pg_port, mysql_port=mysql_port, ssh=ssh)
    try:
        config = load_config(config_path)
    except ConfigError as exc:  # pragma: no cover - the embedded default is valid
        raise CheckFailed(str(exc)) from None
    if hint is not None:
        print(hint, flush=True)
    config.path(config.gateway.recordings).mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    failed: list[str] = []
    log_path = CONFIG_DIR / "walkthrough.log"
    try:
        if args.walkthrough:
            with log_path.open("a", encoding="utf-8") as log_file:
                failed = trio.run(walkthrough, config, config_path, JsonLog(log_file))
        else:
            trio.run(serve_demo, config, config_path, args.database)
    except* OSError as group:
        errors.extend(str(exc) for exc in group.exceptions)
    if errors:
        raise CheckFailed("the gateway could not run: " + "; ".join(errors))
    if not args.walkthrough:
        return 0
    if failed:
        print(f"\nwalkthrough FAILED at: {', '.join(dict.fromkeys(failed))}")
        print(f"(the gateway's log: {log_path})")
        return 1
    print("\nwalkthrough: every step behaved as expected.")
    return 0
