"""The state store on SQLite and on the local PostgreSQL: the session index,
id prefixes, the audit log, and two handles on one store seeing each other's
writes (two gateway processes sharing state)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from limen.store import (
    ApprovalRequest,
    Revocation,
    SessionRecord,
    Store,
    StoreError,
    open_store,
)

PG = "postgresql://postgres@127.0.0.1:5432/"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/state.db"
        return
    name = f"limen_store_{secrets.token_hex(4)}"
    with psycopg.connect(PG + "postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG + name
    finally:
        with psycopg.connect(PG + "postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _rec(i: int, started: float) -> SessionRecord:
    return SessionRecord(
        id=f"s{i:02d}-{secrets.token_hex(8)}",
        subject=f"bot{i}",
        groups=["ci", "agents"],
        resource="staging",
        protocol="postgres",
        started_at=started,
        recording=f"/rec/{i}.limenlog",
        node="gw-1",
    )


def test_sessions_newest_first_and_ended(url: str) -> None:
    store = open_store(url)
    recs = [_rec(i, 1000.0 + i) for i in range(5)]
    for r in recs:
        store.session_started(r)
    store.session_ended(recs[2].id, ended_at=2000.0, statements=7, reason="client closed")
    listed = store.sessions()
    assert [s.id for s in listed] == [r.id for r in reversed(recs)]
    ended = store.session(recs[2].id)
    assert (ended.ended_at, ended.statements, ended.end_reason) == (2000.0, 7, "client closed")
    assert ended.groups == ["ci", "agents"]
    assert store.sessions(limit=2)[0].id == recs[4].id
    store.close()


def test_session_prefixes(url: str) -> None:
    store = open_store(url)
    base = _rec(1, 1.0)
    for suffix in ("-one", "-two"):
        store.session_started(SessionRecord(**{**_fields(base), "id": "abcdef" + suffix}))
    assert store.session("abcdef-tw").id == "abcdef-two"
    with pytest.raises(StoreError, match="ambiguous"):
        store.session("abcdef")
    with pytest.raises(StoreError, match="at least 6"):
        store.session("abc")
    with pytest.raises(StoreError, match="no session"):
        store.session("zzzzzzzz")
    store.close()


def _fields(rec: SessionRecord) -> dict[str, object]:
    return {f: getattr(rec, f) for f in rec.__struct_fields__}


def test_two_handles_share_state_and_audit(url: str) -> None:
    one: Store = open_store(url)
    two: Store = open_store(url)
    rec = _rec(3, 5.0)
    one.session_started(rec)
    assert two.session(rec.id).subject == "bot3"
    two.audit(
        "decision", {"action": "deny", "rule": "r1"}, at=6.0, session_id=rec.id, subject="bot3"
    )
    events = one.audit_events()
    assert events == [
        {
            "at": 6.0,
            "kind": "decision",
            "session_id": rec.id,
            "subject": "bot3",
            "action": "deny",
            "rule": "r1",
        }
    ]
    one.close()
    two.close()


def test_revocations_written_on_one_handle_are_read_on_another_until_they_expire(
    url: str,
) -> None:
    one: Store = open_store(url)
    two: Store = open_store(url)
    base = {"reason": "leaked", "revoked_by": "ops", "revoked_at": 100.0}
    for rev in (
        Revocation(id="rev_a", kind="subject", value="bot", expires_at=200.0, **base),
        Revocation(id="rev_b", kind="key", value="legacy", expires_at=None, **base),
        Revocation(
            id="rev_c", kind="subject", value="x", issuer="https://i", expires_at=150.0, **base
        ),
    ):
        one.revoke(rev)
    assert [r.id for r in two.revocations(now=120.0)] == ["rev_a", "rev_b", "rev_c"]
    assert two.revocations(now=120.0)[2].issuer == "https://i"
    assert [r.id for r in two.revocations(now=160.0)] == ["rev_a", "rev_b"]  # rev_c expired
    assert [r.id for r in two.revocations(now=1e12)] == ["rev_b"]  # a key's lasts
    assert two.lift_revocation("rev_b").value == "legacy"
    assert two.revocations(now=1e12) == []
    with pytest.raises(StoreError, match="no revocation"):
        one.lift_revocation("rev_b")
    one.close()
    two.close()


def test_bad_state_urls() -> None:
    with pytest.raises(StoreError, match="sqlite"):
        open_store("redis://x")
    with pytest.raises(StoreError, match="PostgreSQL state store"):
        open_store("postgresql://postgres@127.0.0.1:1/none")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path}/s.db")
    with store._cursor() as cur:
        cur.execute("UPDATE limen_meta SET value = '99' WHERE key = 'schema'")
    store.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(f"sqlite://{tmp_path}/s.db")


def _approval(rid: str, expires_in: float) -> ApprovalRequest:
    now = time.time()
    return ApprovalRequest(
        id=rid,
        session_id="s-1",
        subject="bot",
        issuer="http://idp",
        groups=["careful"],
        resource="api",
        protocol="http",
        statement="POST /r/api/items",
        klass="write",
        rule="careful",
        approvers=["security"],
        approvals_required=1,
        requested_at=now,
        expires_at=now + expires_in,
        node="gw-1",
    )


def test_an_approval_is_used_once_even_when_handles_race(url: str) -> None:
    store = open_store(url)
    store.approval_create(_approval("a1", 600))
    first, spent = store.approval_use("a1", now=time.time())
    assert (first.status, spent) == ("pending", False)  # not approved yet: nothing spent
    store.approval_vote("a1", approver="sam", approve=True, now=time.time())
    handles = [open_store(url) for _ in range(4)]
    results: list[bool] = []
    threads = [
        threading.Thread(
            target=lambda h=h: results.append(h.approval_use("a1", now=time.time())[1])
        )
        for h in handles
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, False, False, True]
    assert store.approval("a1").status == "used"


def test_a_pending_approval_past_its_deadline_times_out_when_used(url: str) -> None:
    store = open_store(url)
    store.approval_create(_approval("a2", 1))
    late, spent = store.approval_use("a2", now=time.time() + 5)
    assert (late.status, spent) == ("timed_out", False)
    store.approval_create(_approval("a3", 600))
    store.approval_vote("a3", approver="sam", approve=False, now=time.time())
    denied, spent = store.approval_use("a3", now=time.time())
    assert (denied.status, spent) == ("denied", False)
