"""The differential test of decision reuse, through the gateway.

For every statement of the corpus (tests/twins.py: the policy cases, the
adversarial ones, the classifier's docstring examples), the statement and
then its twins (other constants: 0/1, 'on'/'off', 'true'/'false', setting
names, SQL text, '', huge numbers) go through one session, on both relays
(tests/conftest.py), by the simple and the extended protocol. Every
decision the gateway logs — fresh or reused from any cache: the
classifier's text and template caches, the session's decision cache, the
pump's exact and shape caches — must equal the decision on the text
classified from scratch (``classify_uncached``) under the same rules.

The upstream is a database of its own whose statements time out quickly,
so what a rule allows can run there without harm.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from gateway_pg_support import _direct, config_text, postgres_available, start_gateway
from limen.config import load_config_text
from limen.identity import Identity
from limen.policy import Policy, classify_uncached
from pg_raw import RawSession
from twins import READER_RULE, corpus, twins

TWINS_PER_STATEMENT = 6


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A database of this module's own (the twins may write to it)."""
    if not postgres_available():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    name = f"limen_twins_{secrets.token_hex(4)}"
    with _direct() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '300ms'")
    try:
        with _direct(name) as conn:
            conn.execute("CREATE TABLE users (id int PRIMARY KEY, name text, email text)")
            conn.execute("CREATE TABLE users_in (id int, email text)")
            conn.execute("CREATE TABLE t (id int, x int, a int, s text)")
            conn.execute("INSERT INTO users VALUES (1, 'a', 'a@example.com')")
        yield name
    finally:
        with _direct() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _judged_by_session(sql: str) -> bool:
    """Statements whose decision depends on the session's prepared
    statements (PREPARE/EXECUTE) are not compared with a sessionless one;
    texts that change the statement timeout would let the others run long."""
    if "\x00" in sql or "timeout" in sql.lower():
        return True
    return any(s.executes or s.prepares is not None for s in classify_uncached(sql).statements)


def _plan() -> list[str]:
    out: list[str] = []
    for sql in corpus():
        if _judged_by_session(sql):
            continue
        out.append(sql)
        out.extend(t for t in twins(sql, TWINS_PER_STATEMENT) if not _judged_by_session(t))
    return out


PLAN = _plan()


def _fresh(policy: Policy, identity: Identity, sql: str) -> dict[str, object]:
    d = policy.decide_classification(identity, "app", classify_uncached(sql))
    return {"action": d.action, "classes": sorted(d.classes), "tables": sorted(d.tables)}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("group", "protocol"),
    [
        ("reader", "simple"),
        ("reader", "extended"),
        ("ci", "simple"),
        ("ci", "extended"),
        # writes held (refused at once: this gateway has no approvals store)
        ("careful", "simple"),
        ("careful", "extended"),
    ],
)
async def test_every_logged_decision_equals_a_fresh_one(
    nursery: trio.Nursery, tmp_path: Path, database: str, group: str, protocol: str
) -> None:
    config = load_config_text(config_text(database) + READER_RULE, base_dir=tmp_path)
    gw = await start_gateway(nursery, config)
    token = gw.token(groups=(group,))

    def client() -> None:
        with RawSession(gw.port, token) as s:
            for sql in PLAN:
                s.send(sql, protocol)

    await trio.to_thread.run_sync(client)
    rec = gw.recorders[-1]
    with trio.fail_after(30):
        while not rec.closed:
            await trio.sleep(0.01)
    logged = [json.loads(e) for e in rec.of("event") if b'"decision"' in e]
    assert len(logged) == len(PLAN)
    identity = Identity(
        subject="bot",
        groups=(group,),
        issuer=gw.idp.issuer,
        expires_at=None,
        token_id=None,
        method="dev",
    )
    policy = Policy(gw.config)
    wrong = []
    for sql, event in zip(PLAN, logged, strict=True):
        got = {k: event[k] for k in ("action", "classes", "tables")}
        want = _fresh(policy, identity, sql)
        if got != want:
            wrong.append((sql, got, want))
    assert wrong == []
    actions = {e["action"] for e in logged}
    assert {"allow", "deny"} <= actions  # both kinds of decision were exercised
    if group == "careful":
        assert "hold" in actions
