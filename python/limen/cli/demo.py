"""``limen demo``: the gateway on its embedded default, no configuration needed.

``limen demo`` writes the embedded default configuration to
``./.limen/limen.toml`` (SQLite state and signed recordings under
``./.limen/``, the dev IdP, one resource ``demo`` on the local PostgreSQL at
127.0.0.1:5432 as user ``postgres`` with trust), creates the database
``limen_demo`` with a ``users`` table full of personal data and secrets when
it is missing, runs the gateway exactly as ``limen serve`` does, and prints
how to connect: a fresh token for ``demo-bot`` (group ``ci``) and lines to
paste into a shell. Ctrl-C or SIGTERM drains and exits 0.

``limen demo --walkthrough`` runs the same gateway in-process and drives a
scripted bot through it with psycopg: a token, an allowed SELECT whose
secrets come back masked, a denied ``DROP TABLE``, a refused bad token, and
the replay of the bot's own recorded session. Exit 0 when every step behaved
as expected, 1 naming the steps that did not.

``limen demo --mask-sample`` shows the masker alone on a sample of query
results, an API response and log lines, before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import re
import secrets
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import trio
from psycopg import sql

from limen.cli import CheckFailed, UsageError
from limen.config import Config, ConfigError, load_config
from limen.gateway.server import JsonLog
from limen.identity import DevIdP
from limen.mask import Masker
from limen.store import ApprovalRequest, StoreError, open_store

PG_HOST = "127.0.0.1"
PG_PORT = 5432
DEFAULT_PORT = 6432
DEFAULT_DATABASE = "limen_demo"
DATABASE_ENV = "LIMEN_DEMO_DATABASE"
RESOURCE = "demo"
RULE = "demo-ci"
APPROVERS = "security"
APPROVER = "demo-human"
SUBJECT = "demo-bot"
GROUP = "ci"
CONFIG_DIR = Path(".limen")
CONFIG_FILE = CONFIG_DIR / "limen.toml"
# A bot client of the dev IdP's token endpoint, for examples/autogen: its
# secret stays in AGENT_SECRET_FILE (0600; the config holds its hash), and
# AGENT_ENV_FILE tells the example where everything is once the demo runs.
AGENT_CLIENT = "demo-agent"
AGENT_SECRET_FILE = CONFIG_DIR / "agent.secret"
AGENT_ENV_FILE = CONFIG_DIR / "agent.env"

# The embedded default. Relative paths start at the config file's folder
# (./.limen/), so state, keys and recordings all land there. The dev IdP
# listens on an ephemeral loopback port: tokens name the issuer below and are
# verified through the gateway's own discovery URL.
DEFAULT_CONFIG = """\
# Written by `limen demo`: the embedded default configuration.
[gateway]
state = "sqlite://state.db"
recordings = "recordings"
drain_timeout = "5s"
admin = "127.0.0.1:0"

[listeners]
postgres = "127.0.0.1:{port}"

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[identity.dev.clients]]            # OAuth2 client credentials, for examples/autogen
client_id = "{agent_client}"
secret_sha256 = "{agent_hash}"
groups = ["{group}"]

[[resources]]
name = "{resource}"
protocol = "postgres"
upstream = "{pg_host}:{pg_port}"
database = "{database}"
user = "postgres"
description = "the demo database on the local PostgreSQL (trust authentication)"

[[rules]]
name = "{rule}"
groups = ["{group}"]
resources = ["{resource}"]
allow = ["read"]
hold = ["write"]                    # waits for a human: limen approvals approve ID --as NAME
deny = ["ddl", "admin", "unbounded-write"]
approvers = ["{approvers}"]
mask = ["builtin", "column:users.api_key"]
"""

# id, name, email, card, api_key, note
USERS: list[tuple[int, str, str, str, str, str]] = [
    (1, "Alice Martin", "alice@example.com", "4111 1111 1111 1111", "ak_demo_7f3a91c2", "VIP"),
    (
        2,
        "Bob Smith",
        "bob.smith@example.org",
        "5500 0000 0000 0004",
        "ak_demo_0b5e22d8",
        "old deploy key AKIAIOSFODNN7EXAMPLE in the runbook",
    ),
    (3, "Carol Diaz", "carol.diaz@example.net", "3782 822463 10005", "ak_demo_c4d1e9a0", "-"),
]
SELECT_USERS = "SELECT id, name, email, card, api_key, note FROM users ORDER BY id"

SAMPLE = """\
-- psql: SELECT id, email, card, api_key FROM users LIMIT 3;
 id |        email         |        card         |                 api_key
----+----------------------+---------------------+------------------------------------------
  1 | alice@example.com    | 4111 1111 1111 1111 | ghp_16C7e42F292c6912E7710c838347Ae178B4a
  2 | bob.smith@corp.io    | 5555-5555-5555-4444 | sk_live_4eC39HqLyjWDarjtT1zdp7dc
  3 | carol+ci@mail.org    | 378282246310005     | AKIAIOSFODNN7EXAMPLE
(3 rows)

-- GET /v1/customers/42
{"id": 42, "name": "Dana", "phone": "+44 20 7946 0958", "iban": "DE89 3704 0044 0532 0130 00",
 "ssn": "123-45-6789", "session": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.\
SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "request_id": "123e4567-e89b-12d3-a456-426614174000"}

-- app.log
2026-11-26T04:28:11Z INFO connecting to postgresql://app:s3cr3t-pw@db.internal:5432/app
2026-11-26T04:28:12Z DEBUG outbound Authorization: Bearer 9f8e7d6c5b4a39281706abcdef
2026-11-26T04:28:12Z INFO deploy commit 9fceb02d0ae598e95dc970b74767f19372d61af8 ok
2026-11-26T04:28:13Z WARN config: password="hunter2-prod" slack=xoxb-1234567890-123-AbCdEfGhIj
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA7bq98Ja3dLlw0Y6Fv3k2bVvX0kqvOQ1EXAMPLEONLY
-----END RSA PRIVATE KEY-----
"""

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
    for opt, value in (("--port", args.port), ("--pg-port", args.pg_port)):
        if not 0 <= value <= 65535:
            raise UsageError(f"{opt} {value}: not a TCP port")
    prepare_database(args.database, args.pg_port)
    port = _pick_port(args.port)
    config_path = write_config(port, args.database, args.pg_port)
    try:
        config = load_config(config_path)
    except ConfigError as exc:  # pragma: no cover - the embedded default is valid
        raise CheckFailed(str(exc)) from None
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


# -- setup ---------------------------------------------------------------------


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


def _pick_port(preferred: int) -> int:
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


def write_config(port: int, database: str, pg_port: int = PG_PORT) -> Path:
    CONFIG_DIR.mkdir(mode=0o700, exist_ok=True)
    text = DEFAULT_CONFIG.format(
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


# -- the running demo ----------------------------------------------------------


def _dsn(port: int, password: str) -> str:
    return (
        f"host=127.0.0.1 port={port} dbname={RESOURCE} user={SUBJECT} password={password} "
        "sslmode=disable connect_timeout=10"
    )


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
        lines = connect_help(config, config_path, database, port, token)
        env_file = write_agent_env(serving.discovery, port, config_path)
        lines[-1:-1] = [
            f"an AutoGen agent through limen ({AGENT_CLIENT}, client credentials; needs "
            "pip install 'limen[autogen]'):",
            f"                   python examples/autogen/agent.py   (reads {env_file})",
        ]
        print("\n".join(lines), flush=True)


# -- the walkthrough -----------------------------------------------------------


@dataclass
class Steps:
    """Prints each step and remembers the ones that went wrong."""

    failed: list[str] = field(default_factory=list)
    current: str = ""
    _n: int = 0

    def start(self, title: str) -> None:
        self._n += 1
        self.current = f"step {self._n} ({title})"
        print(f"\n== step {self._n}: {title}", flush=True)

    def abort(self, exc: BaseException) -> None:
        """An error nothing expected: the current step failed."""
        print(f"   UNEXPECTED error: {type(exc).__name__}: {exc}", flush=True)
        self.failed.append(self.current or "start")

    @staticmethod
    def sent(text: str) -> None:
        print(f"   bot sent: {text}", flush=True)

    @staticmethod
    def saw(text: str) -> None:
        lines = text.splitlines() or [""]
        print(f"   bot saw:  {lines[0]}", flush=True)
        for line in lines[1:]:
            print(f"             {line}", flush=True)

    def check(self, ok: bool, expected: str) -> bool:
        """Print the outcome of the current step; remember it when not ``ok``."""
        if ok:
            print(f"   ok: {expected}", flush=True)
        else:
            print(f"   UNEXPECTED: expected {expected}", flush=True)
            self.failed.append(self.current)
        return ok


def _short(token: str) -> str:
    return f"{token[:16]}...({len(token)} characters)"


def _table(rows: list[tuple[Any, ...]]) -> str:
    return "\n".join(" | ".join("NULL" if v is None else str(v) for v in row) for row in rows)


def _tampered(token: str) -> str:
    """The token with its signature altered: same header and claims."""
    head, _, sig = token.rpartition(".")
    return f"{head}.{'A' if sig[:1] != 'A' else 'B'}{sig[1:]}"


def bot_script(
    steps: Steps,
    idp: DevIdP,
    port: int,
    approver: Callable[[Steps], threading.Thread] | None = None,
) -> None:
    """The scripted bot (blocking psycopg; run in a worker thread).
    ``approver`` starts the human's side of the held DELETE (a thread that
    approves it from the CLI); without it the step is skipped."""
    steps.start("mint a short-lived token from the dev IdP")
    steps.sent(f"limen token --sub {SUBJECT} --group {GROUP} --ttl 5m")
    token = idp.mint(SUBJECT, [GROUP], 300)
    steps.saw(_short(token))
    steps.check(token.count(".") == 2, "a signed JWT (header.claims.signature)")

    steps.start("an allowed SELECT: the rows come back with their secrets masked")
    steps.sent(f"connect as {SUBJECT} to 127.0.0.1:{port}/{RESOURCE} with the token as password")
    try:
        conn = psycopg.connect(_dsn(port, token), autocommit=True)
    except psycopg.Error as exc:
        steps.saw(f"{type(exc).__name__}: {exc}")
        steps.check(False, "the connection to be accepted")
        return
    with conn:
        steps.sent(SELECT_USERS)
        rows: list[tuple[Any, ...]] = conn.execute(SELECT_USERS).fetchall()
        steps.saw(_table(rows))
        seen = _table(rows)
        raw = [v for u in USERS for v in (u[2], u[3], u[4], "AKIAIOSFODNN7EXAMPLE")]
        wanted = ["[MASKED:email]", "[MASKED:card-number]", "[MASKED:column:users.api_key]"]
        steps.check(
            len(rows) >= len(USERS)
            and all(w in seen for w in wanted)
            and "[MASKED:aws-access-key-id]" in seen
            and not any(r in seen for r in raw),
            "names in clear; emails, cards, API keys and the AWS key masked; no raw secret",
        )

        steps.start(f"a denied DROP TABLE (rule {RULE} denies ddl)")
        steps.sent("DROP TABLE users")
        sqlstate: str | None = None
        message = ""
        try:
            conn.execute("DROP TABLE users")
        except psycopg.Error as exc:
            sqlstate = exc.sqlstate
            message = exc.diag.message_primary or str(exc)
            steps.saw(f"ERROR {sqlstate}: {message}")
        else:
            steps.saw("the statement ran")
        steps.check(
            sqlstate == "42501" and RULE in message and "ddl" in message,
            f"SQLSTATE 42501 naming the rule {RULE} and the class ddl",
        )
        steps.sent("SELECT count(*) FROM users")
        count = conn.execute("SELECT count(*) FROM users").fetchone()
        steps.saw(str(count[0] if count else None))
        steps.check(count is not None and count[0] >= len(USERS), "the session stays usable")

        if approver is not None:
            held_delete(steps, conn, approver)

    steps.start("a bad token is refused")
    bad = _tampered(token)
    steps.sent(f"connect with the token's signature altered: {_short(bad)}")
    try:
        with psycopg.connect(_dsn(port, bad)):
            pass
    except psycopg.Error as exc:
        steps.saw(str(exc).strip())
    else:
        steps.saw("the connection was accepted")
    # libpq does not hand a failed login's SQLSTATE to its callers: read the
    # gateway's ErrorResponse off the wire to show it.
    steps.sent("the same login by hand on the wire (StartupMessage, PasswordMessage)")
    try:
        fields = login_error_fields(port, SUBJECT, RESOURCE, bad)
    except (OSError, ValueError) as exc:
        steps.saw(f"no ErrorResponse: {exc}")
        fields = {}
    if fields:
        steps.saw(f"{fields.get('S', '?')} {fields.get('C', '?')}: {fields.get('M', '')}")
    steps.check(
        fields.get("S") == "FATAL"
        and fields.get("C") == "28P01"
        and "bad_signature" in fields.get("M", ""),
        "FATAL 28P01: token refused (bad_signature)",
    )


HELD_DELETE = "DELETE FROM users WHERE id = 3"


def held_delete(
    steps: Steps, conn: psycopg.Connection[Any], approver: Callable[[Steps], threading.Thread]
) -> None:
    """A write the rule holds: the DELETE blocks until a human approves it
    from the CLI (``approver``'s thread), then runs once."""
    steps.start(f"a held DELETE (rule {RULE} holds write): it waits for a human's approval")
    notices: list[str] = []

    def on_notice(diag: psycopg.errors.Diagnostic) -> None:
        notices.append(f"NOTICE: {diag.message_primary}\nHINT:   {diag.message_hint}")
        steps.saw(notices[-1])

    conn.add_notice_handler(on_notice)
    human = approver(steps)
    steps.sent(HELD_DELETE)
    try:
        rowcount = conn.execute(HELD_DELETE).rowcount
        steps.saw(f"DELETE {rowcount}")
    except psycopg.Error as exc:
        rowcount = -1
        steps.saw(f"ERROR {exc.sqlstate}: {exc.diag.message_primary}")
    finally:
        conn.remove_notice_handler(on_notice)
        human.join(30)
    steps.check(
        rowcount == 1 and len(notices) == 1 and "approval" in notices[0],
        "a NOTICE naming the approval id, then (once approved) DELETE 1",
    )


def cli_approver(config: Config, config_path: Path) -> Callable[[Steps], threading.Thread]:
    """The human: waits for the request, then runs `limen approvals approve`."""
    from limen.cli.approvals import cmd_vote

    def start(steps: Steps) -> threading.Thread:
        def approve() -> None:
            store = open_store(config.gateway.state, Path(config.base_dir))
            try:
                deadline = time.monotonic() + 20
                pending: list[ApprovalRequest] = []
                while not pending and time.monotonic() < deadline:
                    pending = [r for r in store.approvals() if r.subject == SUBJECT]
                    time.sleep(0.1)
            finally:
                store.close()
            if not pending:
                print("   human: no approval request appeared", flush=True)
                return
            req = pending[0]
            print(
                f"   human ran: limen approvals approve --config {config_path} {req.id} "
                f"--as {APPROVER} --reason 'cleanup ticket 42'",
                flush=True,
            )
            args = argparse.Namespace(
                config=str(config_path),
                id=req.id,
                name=APPROVER,
                reason="cleanup ticket 42",
                grant=None,
                approve=True,
            )
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    cmd_vote(args)
            except CheckFailed as exc:
                out.write(f"limen: {exc}")
            print(f"   human saw: {out.getvalue().strip()}", flush=True)

        thread = threading.Thread(target=approve, name="demo-approver", daemon=True)
        thread.start()
        return thread

    return start


def _read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _read_exact(sock, 5)
    length = struct.unpack("!I", head[1:])[0]
    if not 4 <= length <= 65536:
        raise ValueError(f"a message of {length} bytes")
    return head[:1], _read_exact(sock, length - 4)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ValueError("the gateway closed the connection")
        buf += chunk
    return buf


def login_error_fields(port: int, user: str, database: str, password: str) -> dict[str, str]:
    """Log in with a cleartext password over the wire protocol; the fields of
    the ErrorResponse that refuses it (empty when the login succeeds)."""
    params = b"".join(
        k.encode() + b"\0" + v.encode() + b"\0" for k, v in (("user", user), ("database", database))
    )
    body = struct.pack("!I", 196608) + params + b"\0"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        while True:
            kind, payload = _read_message(sock)
            if kind == b"R" and payload[:4] == struct.pack("!I", 3):  # cleartext password
                secret = password.encode() + b"\0"
                sock.sendall(b"p" + struct.pack("!I", len(secret) + 4) + secret)
            elif kind == b"R" and payload[:4] == struct.pack("!I", 0):  # AuthenticationOk
                return {}
            elif kind == b"E":
                return {
                    f[:1].decode(): f[1:].decode("utf-8", "replace")
                    for f in payload.split(b"\0")
                    if f
                }
            else:
                raise ValueError(f"unexpected message {kind!r} before authentication")


def replay_own_session(steps: Steps, config: Config, config_path: Path, since: float) -> None:
    """Find the bot's session in the state store and replay its recording."""
    from limen.cli.sessions import cmd_replay

    steps.start("replay the bot's own session from its recording")
    store = open_store(config.gateway.state, Path(config.base_dir))
    try:
        session = None
        deadline = time.monotonic() + 15
        while session is None and time.monotonic() < deadline:
            for rec in store.sessions(20):
                if rec.subject == SUBJECT and rec.started_at >= since and rec.ended_at:
                    session = rec
                    break
            else:
                time.sleep(0.1)
    finally:
        store.close()
    if session is None:
        steps.check(False, "the session indexed in the state store")
        return
    steps.sent(f"limen sessions replay --config {config_path} {session.id}")
    out = io.StringIO()
    args = argparse.Namespace(config=str(config_path), target=session.id, key=None)
    try:
        with contextlib.redirect_stdout(out):
            rc = cmd_replay(args)
    except CheckFailed as exc:
        steps.saw(out.getvalue() + f"\nlimen: {exc}")
        steps.check(False, "a readable transcript")
        return
    text = out.getvalue()
    steps.saw(text)
    raw = [v for u in USERS for v in (u[2], u[3], u[4])]
    steps.check(
        rc == 0
        and SELECT_USERS in text
        and "DROP TABLE users" in text
        and HELD_DELETE in text
        and "[MASKED:email]" in text
        and not any(r in text for r in raw),
        "the SELECT, the DROP and the held DELETE in the transcript, the results masked, "
        "no raw secret",
    )


async def walkthrough(config: Config, config_path: Path, log: JsonLog) -> list[str]:
    """Run the gateway in-process, drive the bot, replay; the failed steps."""
    from limen.cli.serve import serve

    steps = Steps()
    since = time.time() - 1
    print(
        f"limen demo --walkthrough: gateway on 127.0.0.1 in front of PostgreSQL "
        f"{config.resources[0].upstream}, database {config.resources[0].database}; "
        f"config {config_path}",
        flush=True,
    )
    async with trio.open_nursery() as nursery:
        serving = await nursery.start(serve, config, log)
        try:
            idp = DevIdP.from_config(config)
            try:
                await trio.to_thread.run_sync(
                    bot_script, steps, idp, serving.port, cli_approver(config, config_path)
                )
            except (psycopg.Error, OSError, ValueError) as exc:
                steps.abort(exc)
            replay: Callable[[], None] = lambda: replay_own_session(  # noqa: E731
                steps, config, config_path, since
            )
            try:
                await trio.to_thread.run_sync(replay)
            except (StoreError, OSError, ValueError) as exc:
                steps.abort(exc)
        finally:
            await serving.gateway.drain(timeout=2)
    return steps.failed


# -- the masker sample -----------------------------------------------------------


def mask_sample(chunk: int) -> int:
    masker = Masker()
    data = SAMPLE.encode()
    stream = masker.stream()
    chunk = max(1, chunk)
    out = b"".join(stream.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    out += stream.finish()
    findings = stream.take_findings()
    assert out == masker.mask(data), "streamed output must equal one-shot output"
    print("=== what the upstream sent " + "=" * 50)
    print(SAMPLE)
    print(f"=== what the bot sees (streamed in {chunk}-byte chunks) " + "=" * 25)
    print(out.decode())
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.detector] = counts.get(f.detector, 0) + 1
    print(f"{len(findings)} findings: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    print("Try it on anything: `limen mask < file`; `limen mask --list` shows the detectors.")
    return 0
