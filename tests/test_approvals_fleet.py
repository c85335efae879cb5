"""A fleet of two `limen serve` processes sharing one PostgreSQL state
database: a statement held by one process is approved through the other's
admin API — and through both at once, racing — and runs exactly once.
Also the store's own race: many threads voting on one request."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio

from gateway_pg_support import PG_HOST, PG_PORT, config_text, database, direct_query
from limen.store import ApprovalError, ApprovalRequest, open_store

pytestmark = pytest.mark.integration
__all__ = ["database"]

PG = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/"


@pytest.fixture
def state_url() -> Iterator[str]:
    name = f"limen_fleet_{secrets.token_hex(4)}"
    with psycopg.connect(PG + "postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG + name
    finally:
        with psycopg.connect(PG + "postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _limen(*args: str) -> list[str]:
    return [sys.executable, "-m", "limen", *args]


class Node:
    """One `limen serve` process and what its log said."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            _limen("serve", "--config", str(config)),
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.port = 0
        self.admin = ""
        self.lines: list[dict[str, Any]] = []
        assert self.proc.stderr is not None
        while not (self.port and self.admin):
            line = self.proc.stderr.readline()
            assert line, "limen serve exited early"
            event = json.loads(line)
            self.lines.append(event)
            if event["event"] == "listening":
                self.port = int(event["port"])
            elif event["event"] == "admin_api":
                self.admin = str(event["url"]).removesuffix("/v1/approvals")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(json.loads(line))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reader.join(5)


def _token(config: Path, sub: str, group: str) -> str:
    return subprocess.run(
        _limen("token", "--config", str(config), "--sub", sub, "--group", group),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


async def test_held_on_one_node_approved_through_both_runs_once(
    tmp_path: Path, database: str, state_url: str
) -> None:
    text = config_text(database, dev_listen="127.0.0.1:0").replace(
        'state = "sqlite://state/limen.db"', f'state = "{state_url}"\nstate_dir = "state"'
    )
    config = tmp_path / "limen.toml"
    config.write_text(text)
    direct_query(database, "DELETE FROM users_in WHERE id = 201 RETURNING id")
    bot = _token(config, "carer", "careful")
    approvers = [_token(config, "sam", "security"), _token(config, "kim", "security")]
    a, b = await trio.to_thread.run_sync(Node, config), await trio.to_thread.run_sync(Node, config)
    outcome: list[object] = []
    try:

        def client() -> None:
            dsn = (
                f"host=127.0.0.1 port={a.port} dbname=app user=carer password={bot} "
                "sslmode=disable connect_timeout=10"
            )
            with psycopg.connect(dsn, autocommit=True) as conn:
                outcome.append(conn.execute("INSERT INTO users_in VALUES (201, 'x')").rowcount)

        def pending() -> list[dict[str, Any]]:
            listed = subprocess.run(
                _limen("approvals", "list", "--config", str(config), "--json"),
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            return list(json.loads(listed))

        async with trio.open_nursery() as n:
            n.start_soon(trio.to_thread.run_sync, client)
            with trio.fail_after(20):
                while not (reqs := await trio.to_thread.run_sync(pending)):
                    await trio.sleep(0.1)
            (req,) = reqs
            assert req["node"] != ""
            assert req["subject"] == "carer"

            # Both nodes' admin APIs get an approval at the same moment.
            def approve(node_token: tuple[Node, str]) -> httpx.Response:
                node, token = node_token
                return httpx.post(
                    f"{node.admin}/v1/approvals/{req['id']}/approve",
                    headers={"authorization": f"Bearer {token}"},
                    json={"reason": "race"},
                    timeout=10,
                )

            def race() -> list[httpx.Response]:
                with ThreadPoolExecutor(2) as pool:
                    return list(pool.map(approve, [(b, approvers[0]), (a, approvers[1])]))

            answers = await trio.to_thread.run_sync(race)
    finally:
        rcs = [await trio.to_thread.run_sync(node.stop) for node in (a, b)]
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 409], [r.text for r in answers]
    winner = next(r for r in answers if r.status_code == 200).json()
    assert winner["status"] == "approved"
    assert outcome == [1]
    assert direct_query(database, "SELECT count(*) FROM users_in WHERE id = 201") == [(1,)]
    assert rcs == [0, 0]
    store = open_store(state_url)
    try:
        final = store.approval(req["id"])
    finally:
        store.close()
    assert final.status == "approved"
    assert final.decided_by == winner["decided_by"]
    assert len(final.votes) == 1
    # The holding node logged the request and the approval; every node serves the API.
    held_on = [e["event"] for e in a.lines]
    assert "approval_requested" in held_on
    assert "approval_approved" in held_on


def _request(i: int, required: int) -> ApprovalRequest:
    now = time.time()
    return ApprovalRequest(
        id=f"{i:012x}",
        session_id="s",
        subject="bot",
        issuer="iss",
        groups=["ci"],
        resource="app",
        protocol="postgres",
        statement="DELETE FROM t WHERE id = 1",
        klass="write",
        rule="r",
        approvers=["security"],
        approvals_required=required,
        requested_at=now,
        expires_at=now + 60,
        node="n",
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_votes_decide_once(backend: str, tmp_path: Path, state_url: str) -> None:
    url = f"sqlite://{tmp_path}/state.db" if backend == "sqlite" else state_url
    # Two handles: like two processes.
    stores = [open_store(url), open_store(url)]
    try:
        for i, required in ((1, 1), (2, 3)):
            stores[0].approval_create(_request(i, required))

            def vote(k: int, i: int = i) -> str:
                try:
                    stores[k % 2].approval_vote(
                        f"{i:012x}",
                        approver=f"approver{k}",
                        approve=True,
                        now=time.time(),
                    )
                    return "ok"
                except ApprovalError as exc:
                    return exc.kind

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(vote, range(8)))
            final = stores[1].approval(f"{i:012x}")
            assert final.status == "approved"
            assert results.count("ok") == required
            assert results.count("decided") == 8 - required
            assert len(final.votes) == required
        # A timeout racing an approval: exactly one wins, the other sees it.
        stores[0].approval_create(_request(3, 1))

        def finish() -> str:
            return (
                stores[0].approval_finish(f"{3:012x}", status="timed_out", now=time.time()).status
            )

        def approve() -> str:
            try:
                return (
                    stores[1]
                    .approval_vote(f"{3:012x}", approver="sam", approve=True, now=time.time())
                    .status
                )
            except ApprovalError as exc:
                return exc.kind

        with ThreadPoolExecutor(2) as pool:
            f1, f2 = pool.submit(finish), pool.submit(approve)
            timed, voted = f1.result(), f2.result()
        final = stores[0].approval(f"{3:012x}")
        assert timed == final.status
        assert (final.status, voted) in (("approved", "approved"), ("timed_out", "decided"))
    finally:
        for s in stores:
            s.close()
