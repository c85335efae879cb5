"""Holds and cancels of a PostgreSQL session with no PostgreSQL (see
test_session_memory.py): a real ApprovalHub on a SQLite store, approvers
voting through the hub as the admin API does, the scripted upstream of
tests/fakepg.py recording whether a held statement ever reached it."""

from __future__ import annotations

import json
from pathlib import Path

import trio
import trio.testing

from fakepg import MARKER, STALL, Result
from limen import _native
from memclient import Client
from memsession import Env, approval_id, key, make_env, notice

DELETE = "DELETE FROM users WHERE id = 1"
SELECT = "SELECT id, name FROM users"
SLEEP = "SELECT pg_sleep(60)"
SCRIPT = {
    DELETE: Result("DELETE 1"),
    SELECT: Result("SELECT 1", ("id", "name"), (("2", "bob"),)),
    SLEEP: STALL,
}


async def hold_env(
    nursery: trio.Nursery, clock: trio.testing.MockClock, tmp_path: Path, *, hub: bool = True
) -> Env:
    return await make_env(nursery, clock, tmp_path, SCRIPT, hub=hub)


async def held(env: Env) -> tuple[Client, str, dict[str, str]]:
    """carer's DELETE, held: the client, the approval id, the NOTICE."""
    client = await env.session("carer")
    await client.send(_native.pg_query(DELETE.encode()))
    note = await notice(client)
    return client, approval_id(note["M"]), note


def events(env: Env) -> list[dict[str, object]]:
    (rec,) = env.recorders
    return [json.loads(p) for p in rec.of("event")]


async def test_held_then_approved_runs_once(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await hold_env(nursery, mock_clock, tmp_path)
    assert env.hub is not None
    client, aid, note = await held(env)
    assert note["S"] == "NOTICE"
    assert note["M"] == (
        f"limen: statement held for approval {aid} (rule careful-app, class write); "
        "waiting up to 2m"
    )
    assert "It runs once 1 approver from [security] has approved it" in note["D"]
    assert f"limen approvals approve {aid} --as NAME" in note["H"]
    req = env.hub.store.approval(aid)
    assert (req.status, req.subject, req.statement, req.rule) == (
        "pending",
        "carer",
        DELETE,
        "careful-app",
    )
    await trio.testing.wait_all_tasks_blocked()
    assert DELETE not in env.fake.statements()  # waiting: not run yet
    await env.hub.vote(aid, approver="sam", approve=True)
    reply = await client.reply()
    assert (reply.of("C"), reply.errors, reply.status) == ([b"DELETE 1\x00"], [], "I")
    assert env.fake.statements() == [DELETE]
    approval = next(e for e in events(env) if e["event"] == "approval")
    assert (approval["status"], approval["by"]) == ("approved", "sam")
    assert "hold" in [e["event"] for e in events(env)]


async def test_held_then_denied_never_reaches_the_upstream(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await hold_env(nursery, mock_clock, tmp_path)
    assert env.hub is not None
    client, aid, _ = await held(env)
    await env.hub.vote(aid, approver="sam", approve=False, reason="not on a Friday")
    reply = await client.reply()
    (err,) = reply.errors
    assert err["C"] == "42501"
    assert err["M"] == (
        f"limen: approval {aid} denied by sam: not on a Friday (rule careful-app, class write)"
    )
    assert err["D"] == "rule: careful-app; class: write; action: hold (not approved)"
    assert DELETE not in env.fake.statements()
    assert all(MARKER.fullmatch(s) for s in env.fake.statements())
    assert (await client.query(SELECT)).rows == [("2", "bob")]


async def test_a_hold_times_out_and_waiting_is_not_idling(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await hold_env(nursery, mock_clock, tmp_path)
    assert env.hub is not None
    client, aid, _ = await held(env)
    await env.jump(119)
    await trio.testing.wait_all_tasks_blocked()
    assert env.hub.store.approval(aid).status == "pending"
    await env.jump(2)
    reply = await client.reply()
    assert reply.errors[0]["C"] == "42501"
    assert f"approval {aid} timed out after 2m with no decision" in reply.errors[0]["M"]
    assert env.hub.store.approval(aid).status == "timed_out"
    assert DELETE not in env.fake.statements()
    # Two minutes of waiting for humans is not idling (the resource's
    # idle_timeout is 1m): the session goes on.
    assert (await client.query(SELECT)).rows == [("2", "bob")]


async def test_a_client_leaving_mid_hold_withdraws_the_request(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await hold_env(nursery, mock_clock, tmp_path)
    assert env.hub is not None
    client, aid, _ = await held(env)
    await client.stream.aclose()
    await env.all_ended()
    assert env.hub.store.approval(aid).status == "withdrawn"
    withdrawn = [e for e in events(env) if e["event"] == "approval_withdrawn"]
    assert withdrawn == [{"event": "approval_withdrawn", "approval": aid, "why": "disconnect"}]
    assert DELETE not in env.fake.statements()
    assert env.fake.conns[0].closed


async def test_a_cancel_request_withdraws_a_hold_and_nothing_goes_upstream(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await hold_env(nursery, mock_clock, tmp_path)
    assert env.hub is not None
    client, aid, _ = await held(env)
    assert client.key is not None
    canceller = await env.connect()
    await canceller.send(_native.pg_cancel_request(*client.key))
    reply = await client.reply()
    assert reply.errors[0]["C"] == "57014"
    assert reply.errors[0]["M"] == (
        f"canceling statement due to user request (approval {aid} withdrawn)"
    )
    assert env.hub.store.approval(aid).status == "withdrawn"
    assert env.fake.cancels == []
    assert len(env.fake.opened) == 1
    assert (await client.query(SELECT)).rows == [("2", "bob")]


async def test_statements_sent_while_held_wait_for_the_decision(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await hold_env(nursery, mock_clock, tmp_path)
    assert env.hub is not None
    client, aid, _ = await held(env)
    await client.send(_native.pg_query(SELECT.encode()))
    await trio.testing.wait_all_tasks_blocked()
    assert env.fake.statements() == []
    await env.hub.vote(aid, approver="sam", approve=True)
    first, second = await client.reply(), await client.reply()
    assert first.of("C") == [b"DELETE 1\x00"]
    assert second.rows == [("2", "bob")]
    assert env.fake.statements() == [DELETE, SELECT]


async def test_a_grant_lets_the_next_statement_of_the_class_through(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await hold_env(nursery, mock_clock, tmp_path)
    assert env.hub is not None
    client, aid, _ = await held(env)
    await env.hub.vote(aid, approver="sam", approve=True, grant_seconds=600)
    assert (await client.reply()).of("C") == [b"DELETE 1\x00"]
    again = await client.query(DELETE)
    assert (again.of("C"), again.notices) == ([b"DELETE 1\x00"], [])
    assert env.fake.statements() == [DELETE, DELETE]
    used = [e for e in events(env) if e["event"] == "grant_used"]
    assert [(e["approval"], e["granted_by"]) for e in used] == [(aid, "sam")]


async def test_a_hold_without_an_approvals_store_is_refused(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await hold_env(nursery, mock_clock, tmp_path, hub=False)
    client = await env.session("carer")
    reply = await client.query(DELETE)
    assert reply.errors[0]["C"] == "42501"
    assert "this gateway has no approvals store" in reply.errors[0]["M"]
    assert reply.notices == []
    assert DELETE not in env.fake.statements()


async def test_a_cancel_request_reaches_the_upstream_with_the_upstreams_key(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await hold_env(nursery, mock_clock, tmp_path)
    client = await env.session("bot")
    assert client.key is not None
    await client.send(_native.pg_query(SLEEP.encode()))
    await env.fake.until(lambda: SLEEP in env.fake.statements())
    canceller = await env.connect()
    await canceller.send(_native.pg_cancel_request(*client.key))
    reply = await client.reply()
    assert reply.errors[0]["C"] == "57014"
    conn = env.fake.conns[0]
    assert env.fake.cancels == [(conn.process_id, conn.secret)]
    assert env.fake.opened == [("db.internal", 5433)] * 2  # the cancel used the opener
    assert key("bot") not in json.dumps(env.logs)
