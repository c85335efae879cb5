"""The approvals hub on Trio's virtual clock: the default 15-minute hold
timeout passes in no real time, a decision made before the deadline wins,
and a cancelled wait withdraws its request."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from limen.approvals import ApprovalHub, format_duration, new_approval_id, parse_duration
from limen.store import ApprovalRequest, Store, open_store

FIFTEEN_MINUTES = 15 * 60


def _request(store_node: str = "n1") -> ApprovalRequest:
    now = time.time()
    return ApprovalRequest(
        id=new_approval_id(),
        session_id="s1",
        subject="bot",
        issuer="https://idp",
        groups=["ci"],
        resource="app",
        protocol="postgres",
        statement="DELETE FROM t WHERE id = 1",
        klass="write",
        rule="careful",
        approvers=["security"],
        approvals_required=1,
        requested_at=now,
        expires_at=now + FIFTEEN_MINUTES,
        node=store_node,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite://{tmp_path}/state.db")


async def test_default_timeout_passes_on_the_virtual_clock(
    store: Store, autojump_clock: trio.testing.MockClock
) -> None:
    hub = ApprovalHub(store)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        req = _request()
        started_virtual, started_real = trio.current_time(), time.monotonic()
        final = await hub.hold(req, timeout=FIFTEEN_MINUTES)
        waited_virtual = trio.current_time() - started_virtual
        nursery.cancel_scope.cancel()
    assert final.status == "timed_out"
    assert waited_virtual >= FIFTEEN_MINUTES
    assert time.monotonic() - started_real < FIFTEEN_MINUTES  # virtual, not real
    assert store.approval(req.id).status == "timed_out"
    kinds = [e["kind"] for e in store.audit_events()]
    assert kinds.count("approval_requested") == 1
    assert kinds.count("approval_timed_out") == 1


async def test_a_vote_before_the_deadline_wins(
    store: Store, mock_clock: trio.testing.MockClock
) -> None:
    """Time moves only when the test jumps it (worker threads take real time)."""
    hub = ApprovalHub(store, poll_interval=1.0)
    got: list[ApprovalRequest] = []

    async def real_wait_until(done: Callable[[], bool]) -> None:
        for _ in range(3000):
            if done():
                return
            await trio.to_thread.run_sync(time.sleep, 0.01)
        raise AssertionError("timed out (real time)")

    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        req = _request()

        async def wait() -> None:
            got.append(await hub.hold(req, timeout=FIFTEEN_MINUTES))

        nursery.start_soon(wait)
        await real_wait_until(lambda: bool(store.approvals()))
        mock_clock.jump(10 * 60)  # ten minutes in: still waiting
        await real_wait_until(lambda: True)
        assert not got
        # Another process decides; the next poll (1 s later) sees it.
        store.approval_vote(req.id, approver="sam", approve=False, now=time.time(), reason="no")
        mock_clock.jump(1)
        await real_wait_until(lambda: bool(got))
        nursery.cancel_scope.cancel()
    (final,) = got
    assert (final.status, final.decided_by, final.reason) == ("denied", "sam", "no")


async def test_a_cancelled_wait_withdraws_the_request(
    store: Store, autojump_clock: trio.testing.MockClock
) -> None:
    hub = ApprovalHub(store)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        req = _request()
        with trio.move_on_after(60) as scope:
            await hub.hold(req, timeout=FIFTEEN_MINUTES)
        nursery.cancel_scope.cancel()
    assert scope.cancelled_caught
    assert store.approval(req.id).status == "withdrawn"


def test_durations_read_and_print_like_the_config() -> None:
    assert parse_duration("30m") == 1800
    assert parse_duration("1h30m") == 5400
    assert format_duration(900) == "15m"
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("soon")
