"""MySQL holds (limen.gateway.mysql.holds) with a real ApprovalHub on a
SQLite store under a MockClock: approved, denied, timed out, no store,
a grant; the ERR texts carry the approval id (MySQL has no NOTICE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from limen import _native
from limen.approvals import ApprovalHub
from limen.gateway.holds import Holds
from limen.gateway.mysql.holds import MySqlHolds
from limen.gateway.mysql.judge import MySqlVerdict
from limen.store import open_store
from mysql_judge_support import config, parse_err, prepare, query, relay_types, rule, session

pytestmark = pytest.mark.usefixtures("relay_types")
__all__ = ["relay_types"]

DELETE = "DELETE FROM users WHERE id = 1"


class Env:
    def __init__(self, hub: ApprovalHub | None, tmp_path: Path) -> None:
        cfg = config(
            rule(
                name="careful", allow=["read"], hold=["write"], approvers=["sec"], hold_timeout="2m"
            ),
            tmp_path,
        )
        self.session = session(cfg)
        self.hub = hub
        self.logs: list[tuple[str, dict[str, Any]]] = []
        self.records: list[dict[str, object]] = []
        self.waiting = trio.Event()

        def log(event: str, **fields: Any) -> None:
            self.logs.append((event, fields))
            if event == "hold_waiting":
                self.waiting.set()

        holds = Holds(
            hub,
            identity=self.session.judge.policy.identity,
            resource="shop",
            protocol="mysql",
            session_id="s1",
            default_timeout=600,
            record=self.records.append,
            log=log,
        )
        self.holds = MySqlHolds(holds, self.session.judge, lambda sql: sql.decode())

    def approval_id(self) -> str:
        (fields,) = [f for e, f in self.logs if e == "hold_waiting"]
        return str(fields["approval"])


async def start(nursery: trio.Nursery, tmp_path: Path, *, hub: bool = True) -> Env:
    approvals = None
    if hub:
        approvals = ApprovalHub(open_store("sqlite://state.db", tmp_path))
        await nursery.start(approvals.run)
    return Env(approvals, tmp_path)


async def held_wait(env: Env, nursery: trio.Nursery) -> tuple[MySqlVerdict, list[MySqlVerdict]]:
    v = env.session.judge.command(0, query(DELETE))
    assert v.held is not None
    assert v.forward is None
    out: list[MySqlVerdict] = []

    async def run() -> None:
        out.append(await env.holds.wait(v))

    nursery.start_soon(run)
    return v, out


async def finished(out: list[MySqlVerdict]) -> MySqlVerdict:
    while not out:
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(0)
    return out[0]


async def test_approved_forwards_the_client_s_packet(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await start(nursery, tmp_path)
    assert env.hub is not None
    v, out = await held_wait(env, nursery)
    await env.waiting.wait()
    aid = env.approval_id()
    req = env.hub.store.approval(aid)
    assert (req.status, req.statement, req.protocol, req.rule) == (
        "pending",
        DELETE,
        "mysql",
        "careful",
    )
    assert out == []  # waits in place
    await env.hub.vote(aid, approver="sam", approve=True)
    done = await finished(out)
    assert done.held is None
    assert done.reply is None
    assert done.forward == _native.mysql_packet(0, query(DELETE)).data == v.on_approval
    assert [r["event"] for r in env.records] == ["hold", "approval"]


async def test_denied_names_the_approval_in_the_error(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await start(nursery, tmp_path)
    assert env.hub is not None
    _, out = await held_wait(env, nursery)
    await env.waiting.wait()
    aid = env.approval_id()
    await env.hub.vote(aid, approver="sam", approve=False, reason="not on a Friday")
    done = await finished(out)
    assert done.forward is None
    assert done.held is None
    assert done.reply is not None
    err = parse_err(done.reply)
    assert (err.seq, err.code, err.state) == (1, 1142, "42000")
    assert err.message.startswith(
        f"limen: approval {aid} denied by sam: not on a Friday (rule careful, class write)"
    )
    assert "[rule: careful; class: write; action: hold, not approved]" in err.message


async def test_timeout_names_the_approval_in_the_error(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await start(nursery, tmp_path)
    assert env.hub is not None
    _, out = await held_wait(env, nursery)
    await env.waiting.wait()
    aid = env.approval_id()
    assert env.logs[-1][1]["timeout"] == "2m"
    mock_clock.jump(119)
    await trio.testing.wait_all_tasks_blocked()
    assert out == []
    mock_clock.jump(2)
    done = await finished(out)
    assert done.reply is not None
    err = parse_err(done.reply)
    assert f"approval {aid} timed out after 2m with no decision" in err.message
    assert env.hub.store.approval(aid).status == "timed_out"


async def test_without_a_store_a_hold_is_refused(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await start(nursery, tmp_path, hub=False)
    _, out = await held_wait(env, nursery)
    done = await finished(out)
    assert done.reply is not None
    assert "no approvals store" in parse_err(done.reply).message


async def test_a_grant_runs_the_next_one_without_asking(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await start(nursery, tmp_path)
    assert env.hub is not None
    _, out = await held_wait(env, nursery)
    await env.waiting.wait()
    await env.hub.vote(env.approval_id(), approver="sam", approve=True, grant_seconds=3600)
    assert (await finished(out)).forward is not None
    _, again = await held_wait(env, nursery)
    done = await finished(again)
    assert done.forward is not None
    assert env.records[-1]["event"] == "grant_used"


async def test_an_unheld_verdict_passes_through(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await start(nursery, tmp_path)
    v = env.session.judge.command(0, prepare(DELETE))  # preparing runs nothing: not held
    assert await env.holds.wait(v) is v
