"""The walkthrough's scripted bot: :class:`Steps` prints each step and
remembers the failed ones; :func:`bot_script` mints a token, runs an allowed
SELECT, a denied DROP, a held DELETE and a bad-token login through the
gateway with psycopg."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from limen.cli.demo.defaults import GROUP, HELD_DELETE, RESOURCE, RULE, SELECT_USERS, SUBJECT, USERS
from limen.cli.demo.wire import login_error_fields
from limen.identity import DevIdP


def _dsn(port: int, password: str) -> str:
    return (
        f"host=127.0.0.1 port={port} dbname={RESOURCE} user={SUBJECT} password={password} "
        "sslmode=disable connect_timeout=10"
    )


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
