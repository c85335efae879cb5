"""Held statements through the PostgreSQL gateway, with psycopg against the
local PostgreSQL: held then approved (runs once, its result arrives), held
then denied, timeout, self-approval refused, two approvers required, a grant
that lets the next statements through and then expires, disconnect and
CancelRequest withdraw the request, the webhook receives the payload (a real
HTTP server), the admin API with and without a token, and many sessions
waiting at once while others keep working."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio
from psycopg import errors as pgerrors

from gateway_pg_support import Gateway, config_text, database, direct_query, start_gateway
from limen.admin import AdminAPI
from limen.approvals import ApprovalHub
from limen.config import load_config_text
from limen.httpserver import HTTPServer, Request, Response, Router, bound_port
from limen.store import ApprovalError, ApprovalRequest, open_store

pytestmark = pytest.mark.integration
__all__ = ["database"]

EXTRA_RULES = """
[[rules]]
name = "pair-app"
groups = ["pair"]
resources = ["app"]
allow = ["read"]
hold = ["write"]
approvers = ["security"]
approvals_required = 2

[[rules]]
name = "hasty-app"
groups = ["hasty"]
resources = ["app"]
allow = ["read"]
hold = ["write"]
approvers = ["security"]
hold_timeout = "1s"
"""


def hook_rule(url: str) -> str:
    return f"""
[[rules]]
name = "hooked-app"
groups = ["hooked"]
resources = ["app"]
allow = ["read"]
hold = ["write"]
approvers = ["security"]
webhook = "{url}"
"""


class Clock:
    """Wall clock for the hub (grants, expiry) that a test can move on."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Env:
    def __init__(self, gw: Gateway, hub: ApprovalHub, admin_port: int, clock: Clock) -> None:
        self.gw = gw
        self.hub = hub
        self.admin_port = admin_port
        self.clock = clock
        self.store = hub.store

    async def pending(self, count: int = 1, timeout: float = 15) -> list[ApprovalRequest]:
        """Wait until ``count`` requests are pending; newest first."""
        with trio.fail_after(timeout):
            while True:
                reqs = await trio.to_thread.run_sync(self.store.approvals)
                if len(reqs) >= count:
                    return reqs
                await trio.sleep(0.05)

    async def status(self, approval_id: str, want: str, timeout: float = 15) -> ApprovalRequest:
        with trio.fail_after(timeout):
            while True:
                req = await trio.to_thread.run_sync(self.store.approval, approval_id)
                if req.status == want:
                    return req
                await trio.sleep(0.05)

    def admin(self, method: str, path: str, token: str | None, body: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.request(
            method,
            f"http://127.0.0.1:{self.admin_port}{path}",
            headers=headers,
            json=body,
            timeout=10,
        )


async def start_env(
    nursery: trio.Nursery,
    tmp_path: Path,
    database: str,
    extra_rules: str = "",
    extra_gateway: str = "",
) -> Env:
    text = config_text(database, extra_gateway) + EXTRA_RULES + extra_rules
    config = load_config_text(text, base_dir=tmp_path)
    store = open_store(config.gateway.state, tmp_path)
    clock = Clock()
    hub = ApprovalHub(store, poll_interval=0.05, webhook_backoff=0.05, clock=clock)
    await nursery.start(hub.run)
    gw = await start_gateway(nursery, config, approvals=hub)
    admin = AdminAPI(hub, gw.gateway.authenticator)
    listeners = await nursery.start(admin.serve, "127.0.0.1", 0)
    return Env(gw, hub, bound_port(listeners), clock)


@pytest.fixture
async def env(nursery: trio.Nursery, tmp_path: Path, database: str) -> Env:
    return await start_env(nursery, tmp_path, database)


def run(fn: Callable[..., Any], *args: Any) -> Any:
    return trio.to_thread.run_sync(fn, *args)


Notice = dict[str, str | None]


def keep_notices(notices: list[Notice]) -> Callable[[psycopg.errors.Diagnostic], None]:
    """A notice handler (the Diagnostic is only valid during the call)."""

    def handler(diag: psycopg.errors.Diagnostic) -> None:
        notices.append(
            {
                "severity": diag.severity,
                "message": diag.message_primary,
                "detail": diag.message_detail,
                "hint": diag.message_hint,
            }
        )

    return handler


def held_client(
    env: Env, subject: str, group: str, sql: str, notices: list[Notice]
) -> Callable[[], object]:
    """A bot that runs one statement that will be held, then SELECT 1 to
    show the session is still usable; returns the rowcount or the error."""
    token = env.gw.token(subject, (group,))

    def client() -> object:
        with psycopg.connect(env.gw.dsn(token, user=subject), autocommit=True) as conn:
            conn.add_notice_handler(keep_notices(notices))
            try:
                cur = conn.execute(sql)  # type: ignore[arg-type]
                result: object = cur.rowcount
            except psycopg.Error as exc:
                result = exc
            assert conn.execute("SELECT 1").fetchone() == (1,)
            return result

    return client


def seed(database: str, *ids: int) -> None:
    """Rows with these ids, fresh (each test runs once per relay)."""
    direct_query(
        database, f"DELETE FROM users_in WHERE id IN ({', '.join(map(str, ids))}) RETURNING id"
    )
    rows = ", ".join(f"({i}, 'u{i}@example.com')" for i in ids)
    direct_query(database, f"INSERT INTO users_in VALUES {rows} RETURNING id")


def remaining(database: str, *ids: int) -> int:
    got = direct_query(
        database, f"SELECT count(*) FROM users_in WHERE id IN ({', '.join(map(str, ids))})"
    )
    return int(got[0][0])  # type: ignore[call-overload]


async def test_held_then_approved_runs_once_and_returns_its_result(env: Env, database: str) -> None:
    seed(database, 101, 102)
    notices: list[Notice] = []
    outcome: list[object] = []
    sql = "DELETE FROM users_in WHERE id IN (101, 102)"

    async def bot() -> None:
        outcome.append(await run(held_client(env, "carer", "careful", sql, notices)))

    async with trio.open_nursery() as n:
        n.start_soon(bot)
        (req,) = await env.pending()
        assert (req.subject, req.resource, req.klass, req.rule) == (
            "carer",
            "app",
            "write",
            "careful-app",
        )
        assert req.statement == sql
        assert req.approvers == ["security"]
        assert req.protocol == "postgres"
        assert req.status == "pending"
        # Still waiting: the rows are there and the bot has no answer.
        await trio.sleep(0.3)
        assert remaining(database, 101, 102) == 2
        assert not outcome
        approved = env.store.approval_vote(req.id, approver="sam", approve=True, now=time.time())
        assert approved.status == "approved"
    assert outcome == [2]
    assert remaining(database, 101, 102) == 0
    (notice,) = notices
    assert notice["severity"] == "NOTICE"
    assert f"approval {req.id}" in (notice["message"] or "")
    assert f"limen approvals approve {req.id} --as NAME" in (notice["hint"] or "")
    assert "careful-app" in (notice["message"] or "")
    # Recorded: the hold, the approval, and the statement once.
    (rec,) = env.gw.recorders
    events = [json.loads(p) for p in rec.of("event")]
    kinds = [e["event"] for e in events]
    assert "hold" in kinds
    assert "approval" in kinds
    approval = next(e for e in events if e["event"] == "approval")
    assert approval["status"] == "approved"
    assert approval["by"] == "sam"
    assert rec.of("c2u").count(sql.encode()) == 1
    audit = [e["kind"] for e in env.store.audit_events()]
    assert "approval_requested" in audit
    assert "approval_approved" in audit


async def test_held_then_denied_fails_with_the_reason_and_session_stays_usable(
    env: Env, database: str
) -> None:
    seed(database, 111)
    notices: list[Notice] = []
    outcome: list[object] = []

    async def bot() -> None:
        client = held_client(
            env, "carer", "careful", "UPDATE users_in SET email = 'x' WHERE id = 111", notices
        )
        outcome.append(await run(client))

    async with trio.open_nursery() as n:
        n.start_soon(bot)
        (req,) = await env.pending()
        env.store.approval_vote(
            req.id, approver="sam", approve=False, now=time.time(), reason="not on a Friday"
        )
    (err,) = outcome
    assert isinstance(err, pgerrors.InsufficientPrivilege)
    message = err.diag.message_primary or ""
    assert f"approval {req.id} denied by sam: not on a Friday" in message
    assert "rule: careful-app; class: write" in (err.diag.message_detail or "")
    assert "careful-app" in message
    assert "write" in message
    assert direct_query(database, "SELECT email FROM users_in WHERE id = 111") == [
        ("u111@example.com",)
    ]


async def test_hold_times_out(env: Env, database: str) -> None:
    seed(database, 121)
    notices: list[Notice] = []
    client = held_client(env, "rusher", "hasty", "DELETE FROM users_in WHERE id = 121", notices)
    err = await run(client)
    assert isinstance(err, pgerrors.InsufficientPrivilege)
    assert "timed out after 1s" in (err.diag.message_primary or "")
    assert remaining(database, 121) == 1
    (req,) = env.store.approvals(pending_only=False)
    assert req.status == "timed_out"
    with pytest.raises(ApprovalError, match="already timed out"):
        env.store.approval_vote(req.id, approver="sam", approve=True, now=time.time())


async def test_self_approval_is_refused_and_two_approvers_are_needed(
    env: Env, database: str
) -> None:
    seed(database, 131)
    notices: list[Notice] = []
    outcome: list[object] = []

    async def bot() -> None:
        client = held_client(env, "duo", "pair", "DELETE FROM users_in WHERE id = 131", notices)
        outcome.append(await run(client))

    async with trio.open_nursery() as n:
        n.start_soon(bot)
        (req,) = await env.pending()
        assert req.approvals_required == 2
        with pytest.raises(ApprovalError, match="cannot decide") as self_vote:
            env.store.approval_vote(req.id, approver="duo", approve=True, now=time.time())
        assert self_vote.value.kind == "self_approval"
        first = env.store.approval_vote(req.id, approver="sam", approve=True, now=time.time())
        assert first.status == "pending"
        assert [v.name for v in first.votes] == ["sam"]
        with pytest.raises(ApprovalError, match="already approved") as again:
            env.store.approval_vote(req.id, approver="sam", approve=True, now=time.time())
        assert again.value.kind == "duplicate"
        await trio.sleep(0.4)  # one approval is not enough: still waiting
        assert not outcome
        assert remaining(database, 131) == 1
        final = env.store.approval_vote(req.id, approver="kim", approve=True, now=time.time())
        assert final.status == "approved"
        assert final.decided_by == "sam, kim"
    assert outcome == [1]
    assert remaining(database, 131) == 0


async def test_grant_lets_the_next_statements_through_then_expires(env: Env, database: str) -> None:
    seed(database, 141, 142, 143)
    token = env.gw.token("carer", ("careful",))
    notices: list[Notice] = []
    results: list[object] = []
    go_on = threading.Event()

    def client() -> None:
        with psycopg.connect(env.gw.dsn(token, user="carer"), autocommit=True) as conn:
            conn.add_notice_handler(keep_notices(notices))
            results.append(conn.execute("DELETE FROM users_in WHERE id = 141").rowcount)
            # Under the grant: no hold, no notice.
            results.append(conn.execute("DELETE FROM users_in WHERE id = 142").rowcount)
            go_on.wait(30)
            try:
                conn.execute("DELETE FROM users_in WHERE id = 143")
            except psycopg.Error as exc:
                results.append(exc)

    async with trio.open_nursery() as n:
        n.start_soon(run, client)
        (req,) = await env.pending()
        env.store.approval_vote(
            req.id, approver="sam", approve=True, now=env.clock(), grant_seconds=30 * 60
        )
        with trio.fail_after(15):
            while len(results) < 2:
                await trio.sleep(0.05)
        assert results == [1, 1]
        assert len(notices) == 1
        assert len(env.store.approvals(pending_only=False)) == 1
        (grant,) = env.store.grants()
        assert (grant.subject, grant.klass, grant.resource, grant.granted_by) == (
            "carer",
            "write",
            "app",
            "sam",
        )
        # 31 minutes later the grant has expired: held again.
        env.clock.offset = 31 * 60
        go_on.set()
        reqs = await env.pending()
        assert len(reqs) == 1
        assert reqs[0].id != req.id
        env.store.approval_vote(
            reqs[0].id, approver="sam", approve=False, now=env.clock(), reason="grant is over"
        )
    assert isinstance(results[2], pgerrors.InsufficientPrivilege)
    assert remaining(database, 141, 142, 143) == 1
    events = [json.loads(p) for p in env.gw.recorders[0].of("event")]
    used = [e for e in events if e["event"] == "grant_used"]
    assert len(used) == 1
    assert used[0]["approval"] == req.id


async def test_disconnect_while_held_withdraws_the_request(env: Env, database: str) -> None:
    seed(database, 151)
    token = env.gw.token("carer", ("careful",))
    conns: list[psycopg.Connection[Any]] = []

    def client() -> None:
        with psycopg.connect(env.gw.dsn(token, user="carer"), autocommit=True) as conn:
            conns.append(conn)
            with pytest.raises(psycopg.OperationalError):
                conn.execute("DELETE FROM users_in WHERE id = 151")

    async with trio.open_nursery() as n:
        n.start_soon(run, client)
        (req,) = await env.pending()
        # The bot dies: its socket is shut down under it.
        sock = socket.socket(fileno=os.dup(conns[0].fileno()))
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        final = await env.status(req.id, "withdrawn")
    assert final.decided_at is not None
    assert remaining(database, 151) == 1
    with pytest.raises(ApprovalError, match="already withdrawn"):
        env.store.approval_vote(req.id, approver="sam", approve=True, now=time.time())


async def test_cancel_while_held_withdraws_and_the_session_goes_on(env: Env, database: str) -> None:
    seed(database, 161)
    token = env.gw.token("carer", ("careful",))
    conns: list[psycopg.Connection[Any]] = []
    seen: list[object] = []

    def client() -> None:
        with psycopg.connect(env.gw.dsn(token, user="carer"), autocommit=True) as conn:
            conns.append(conn)
            try:
                conn.execute("DELETE FROM users_in WHERE id = 161")
            except psycopg.Error as exc:
                seen.append(exc)
            seen.append(conn.execute("SELECT 7").fetchone())

    async with trio.open_nursery() as n:
        n.start_soon(run, client)
        (req,) = await env.pending()
        await run(conns[0].cancel_safe)
        await env.status(req.id, "withdrawn")
    assert isinstance(seen[0], pgerrors.QueryCanceled)
    assert req.id in (seen[0].diag.message_primary or "")
    assert seen[1] == (7,)
    assert remaining(database, 161) == 1


async def test_many_waiting_sessions_do_not_block_others(env: Env, database: str) -> None:
    ids = list(range(171, 177))
    seed(database, *ids)
    outcomes: list[object] = []

    async def bot(i: int) -> None:
        client = held_client(env, f"carer{i}", "careful", f"DELETE FROM users_in WHERE id={i}", [])
        outcomes.append(await run(client))

    async with trio.open_nursery() as n:
        for i in ids:
            n.start_soon(bot, i)
        reqs = await env.pending(len(ids))

        def busy() -> list[object]:
            with env.gw.connect() as conn:
                return [conn.execute("SELECT count(*) FROM users").fetchone() for _ in range(50)]

        assert await run(busy) == [(3,)] * 50  # other sessions are served meanwhile
        assert not outcomes
        for r in reqs:
            env.store.approval_vote(
                r.id, approver="sam", approve=r.subject != "carer171", now=time.time()
            )
    assert sorted(o if isinstance(o, int) else -1 for o in outcomes) == [-1, 1, 1, 1, 1, 1]
    assert remaining(database, *ids) == 1


async def test_admin_api_approves_with_an_approver_token_only(env: Env, database: str) -> None:
    seed(database, 181)
    outcome: list[object] = []

    async def bot() -> None:
        client = held_client(env, "carer", "careful", "DELETE FROM users_in WHERE id = 181", [])
        outcome.append(await run(client))

    approver = env.gw.token("sam", ("security",))
    outsider = env.gw.token("eve", ("ci",))
    requester = env.gw.token("carer", ("careful", "security"))
    async with trio.open_nursery() as n:
        n.start_soon(bot)
        (req,) = await env.pending()
        path = f"/v1/approvals/{req.id}/approve"
        no_token = await run(env.admin, "POST", path, None)
        assert no_token.status_code == 401
        assert no_token.headers["www-authenticate"].startswith("Bearer")
        bad = await run(env.admin, "POST", path, "not-a-token")
        assert bad.status_code == 401
        assert (await run(env.admin, "POST", path, outsider)).status_code == 403
        own = await run(env.admin, "POST", path, requester)
        assert own.status_code == 403
        assert own.json()["error"] == "self_approval"
        listed = await run(env.admin, "GET", "/v1/approvals", approver)
        assert [r["id"] for r in listed.json()] == [req.id]
        assert (await run(env.admin, "GET", "/v1/approvals", outsider)).json() == []
        assert not outcome
        ok = await run(env.admin, "POST", path, approver, {"reason": "looks fine"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["status"] == "approved"
        assert ok.json()["decided_by"] == "sam"
        again = await run(env.admin, "POST", path, approver)
        assert again.status_code == 409
    assert outcome == [1]
    assert remaining(database, 181) == 0


async def test_webhook_receives_the_request_and_is_retried(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        received.append(json.loads(request.body))
        if len(received) == 1:
            return Response(500, b"try again\n")
        return Response(200, b"ok\n")

    router = Router()
    router.post("/hook", hook)
    listeners = await nursery.start(HTTPServer(router).serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(listeners)}/hook"
    env = await start_env(nursery, tmp_path, database, hook_rule(url))
    seed(database, 191)
    outcome: list[object] = []

    async def bot() -> None:
        client = held_client(env, "hooky", "hooked", "DELETE FROM users_in WHERE id = 191", [])
        outcome.append(await run(client))

    async with trio.open_nursery() as n:
        n.start_soon(bot)
        (req,) = await env.pending()
        with trio.fail_after(10):
            while len(received) < 2:
                await trio.sleep(0.05)
        env.store.approval_vote(req.id, approver="sam", approve=False, now=time.time())
    first, second = received
    assert first == second
    assert req.id in first["text"]
    assert "hooky" in first["text"]
    assert first["limen"]["id"] == req.id
    assert first["limen"]["class"] == "write"
    assert first["limen"]["rule"] == "hooked-app"
    assert isinstance(outcome[0], pgerrors.InsufficientPrivilege)


async def test_waiting_for_approval_is_not_idling(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> None:
    env = await start_env(nursery, tmp_path, database, extra_gateway='idle_timeout = "1s"')
    seed(database, 211)
    outcome: list[object] = []

    async def bot() -> None:
        client = held_client(env, "carer", "careful", "DELETE FROM users_in WHERE id = 211", [])
        outcome.append(await run(client))

    async with trio.open_nursery() as n:
        n.start_soon(bot)
        (req,) = await env.pending()
        await trio.sleep(2.5)  # longer than idle_timeout: the session must live on
        env.store.approval_vote(req.id, approver="sam", approve=True, now=time.time())
    assert outcome == [1]
    assert remaining(database, 211) == 0


async def test_psql_simple_protocol_hold_shows_the_notice_then_the_result(
    env: Env, database: str
) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    seed(database, 221)
    token = env.gw.token("carer", ("careful",))
    done: list[subprocess.CompletedProcess[str]] = []

    def client() -> None:
        done.append(
            subprocess.run(
                [psql, "-X", "-v", "ON_ERROR_STOP=1", "-c", "DELETE FROM users_in WHERE id = 221"],
                capture_output=True,
                text=True,
                timeout=60,
                env={
                    **os.environ,
                    "PGHOST": "127.0.0.1",
                    "PGPORT": str(env.gw.port),
                    "PGUSER": "carer",
                    "PGDATABASE": "app",
                    "PGPASSWORD": token,
                    "PGSSLMODE": "disable",
                },
                check=False,
            )
        )

    async with trio.open_nursery() as n:
        n.start_soon(run, client)
        (req,) = await env.pending()
        env.store.approval_vote(req.id, approver="sam", approve=True, now=time.time())
    (p,) = done
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "DELETE 1"
    assert f"NOTICE:  limen: statement held for approval {req.id}" in p.stderr
    assert f"limen approvals approve {req.id} --as NAME" in p.stderr
    assert remaining(database, 221) == 0


async def test_held_in_a_pipelined_transaction_runs_in_order(env: Env, database: str) -> None:
    seed(database, 231)
    token = env.gw.token("carer", ("careful",))
    seen: list[object] = []

    def client() -> None:
        with psycopg.connect(env.gw.dsn(token, user="carer")) as conn:  # a transaction
            with conn.pipeline():
                deleted = conn.execute("DELETE FROM users_in WHERE id = %s", (231,))
                after = conn.execute("SELECT count(*) FROM users_in WHERE id = %s", (231,))
            seen.append(deleted.rowcount)
            seen.append(after.fetchone())
            seen.append(remaining(database, 231))  # not committed yet: still there outside
            conn.commit()

    async with trio.open_nursery() as n:
        n.start_soon(run, client)
        (req,) = await env.pending()
        await trio.sleep(0.2)
        assert not seen  # the SELECT behind the held DELETE waits too
        env.store.approval_vote(req.id, approver="sam", approve=True, now=time.time())
    assert seen == [1, (0,), 1]
    assert remaining(database, 231) == 0


def _wire_message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = b""
    while len(head) < 5:
        chunk = sock.recv(5 - len(head))
        if not chunk:
            return b"", b""
        head += chunk
    length = int.from_bytes(head[1:], "big") - 4
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return head[:1], body


async def test_a_client_that_floods_while_held_is_cut_off(
    env: Env, database: str, pg_relay: str
) -> None:
    """The Trio relay keeps reading the client while a statement waits: what
    it reads waits in the client core, up to ``max_message_size`` (1 MiB
    here); past it the session ends with a protocol error and the request
    is withdrawn. (The native pump stops reading the client instead.)"""
    if pg_relay != "trio":
        pytest.skip("the native pump does not read the client while a statement waits")
    seed(database, 241)
    token = env.gw.token("carer", ("careful",))

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", env.gw.port)) as sock:
            sock.settimeout(15)
            params = b"user\0carer\0database\0app\0\0"
            sock.sendall((len(params) + 8).to_bytes(4, "big") + b"\0\3\0\0" + params)
            assert _wire_message(sock)[0] == b"R"
            password = token.encode() + b"\0"
            sock.sendall(b"p" + (len(password) + 4).to_bytes(4, "big") + password)
            while (tag := _wire_message(sock)[0]) != b"Z":
                assert tag not in (b"E", b"")
            sql = b"DELETE FROM users_in WHERE id = 241\0"
            sock.sendall(b"Q" + (len(sql) + 4).to_bytes(4, "big") + sql)
            assert _wire_message(sock)[0] == b"N"  # held
            with contextlib.suppress(OSError):  # cut off mid-send
                sock.sendall(b"Q" * ((1 << 20) + 4096))
            while True:
                tag, body = _wire_message(sock)
                if tag in (b"E", b""):
                    return body

    fatal = await run(client)
    assert b"08P01" in fatal
    assert b"more than 1048576 bytes while a statement waited" in fatal
    rec = env.gw.recorders[-1]
    with trio.fail_after(10):
        while not rec.closed:
            await trio.sleep(0.01)
    events = [json.loads(e) for e in rec.of("event")]
    # The client is cut off: its request is withdrawn as on a disconnect.
    (withdrawn,) = [e for e in events if e["event"] == "approval_withdrawn"]
    assert withdrawn["why"] == "disconnect"
    await env.status(withdrawn["approval"], "withdrawn")
    assert remaining(database, 241) == 1
