"""The fleet: three `limen serve` processes on one PostgreSQL state store
behind HAProxy (the Debian package, with docs/deploy.md's config and PROXY
protocol v2 from its trusted address), pgbench and psycopg clients through
HAProxy only.

One run, in phases: pgbench under a SIGHUP of every node (no failed
transaction) that gives a live psycopg session, opened before it, a new mask
and a new denial, which its next statements see; a statement held on one
node approved through another node's admin API; a revocation written once
ending the identity's sessions on every node; kill -9 of the node carrying
the most psycopg workers while they run (the others see no error, the dead
node's reconnect and go on) and a live node sweeping it (its open sessions
end node_lost); then the state store's session index and approvals (nothing
lost, nothing twice), the dead node's recordings (`limen sessions verify`:
truncated, never tampered; and, with the local logs deleted, their copies in
the state store, [gateway] recordings_copy = "state:", read by `limen
sessions verify/export --config`: truncated, with the statements copied
before the kill) and every node's /metrics (parsed by prometheus_client)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleet_support import Node, limen
from gateway_pg_support import PG_HOST, PG_PORT, config_text, database
from haproxy_support import HAProxy, free_port, haproxy_config
from limen.config import load_config
from limen.identity import DevIdP
from limen.recording import open_log
from limen.store import LOST, open_store

pytestmark = pytest.mark.integration
__all__ = ["database"]

PG = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/"
WORKERS = 8
STATEMENT = "SELECT id FROM users WHERE id = 1"
TICKET = "SELECT 'TCK-42'"
TOUCH = "UPDATE users SET name = name WHERE id = 1"
WATCH = """
[[rules]]
name = "watch-app"
groups = ["watch"]
resources = ["app"]
allow = ["read", "write"]
mask = ["builtin"]
"""
#: The reload's change for live sessions: writes denied, a new mask.
WATCH_RELOADED = """
[[rules]]
name = "watch-app"
groups = ["watch"]
resources = ["app"]
allow = ["read"]
deny = ["write"]
mask = ["builtin", "ticket"]

[[mask_rules]]
name = "ticket"
regex = "TCK-[0-9]+"
"""


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


def fleet_config(database: str, state_url: str) -> str:
    return (
        config_text(
            database,
            'drain_timeout = "2s"\nheartbeat = "500ms"\nnode_timeout = "4s"\n'
            'recordings_copy = "state:"\nrecordings_copy_interval = "200ms"',
            dev_listen="127.0.0.1:0",
        )
        .replace('state = "sqlite://state/limen.db"', f'state = "{state_url}"\nstate_dir = "state"')
        .replace(
            'postgres = "127.0.0.1:0"',
            'postgres = "127.0.0.1:0"\nproxy_protocol_from = ["127.0.0.1/32"]',
        )
    )


def dsn(port: int, user: str, token: str) -> str:
    return (
        f"host=127.0.0.1 port={port} dbname=app user={user} password={token} "
        "sslmode=disable connect_timeout=10"
    )


@dataclass
class Worker:
    """A psycopg client through HAProxy that reconnects when its
    connection breaks, counting what it saw."""

    name: str
    dsn: str
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    ok_after_error: int = 0
    conn: psycopg.Connection[tuple[object, ...]] | None = None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self.conn is None:
                    self.conn = psycopg.connect(self.dsn, autocommit=True)
                row = self.conn.execute(STATEMENT).fetchone()
                assert row == (1,)
                self.ok += 1
                if self.errors:
                    self.ok_after_error += 1
            except psycopg.Error as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if len(self.errors) > 50:
                    return
                time.sleep(0.05)
            time.sleep(0.01)
        if self.conn is not None:
            self.conn.close()


def node_of(nodes: list[Node], subject: str) -> int:
    """The node whose log has the subject's latest session."""
    found = [
        (e["ts"], i)
        for i, n in enumerate(nodes)
        for e in n.events("session_start")
        if e["subject"] == subject
    ]
    assert found, subject
    return max(found)[1]


def copied(state_url: str, session: str) -> list[str]:
    """The statements of the session's log copy in the state store so far."""
    store = open_store(state_url)
    try:
        if store.segment_size(session) == 0:
            return []
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "copy.limenlog"
            with path.open("wb+") as f:
                store.segment_read(session, f)
            return [r.payload.decode() for r in open_log(path) if r.kind == "c2u"]
    finally:
        store.close()


def metric(node: Node, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples (matching ``labels``) in the node's
    /metrics, as prometheus_client parses it."""
    body = httpx.get(f"{node.admin}/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def wait_until(check: object, timeout: float, what: str) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


def test_a_fleet_behind_haproxy_survives_losing_a_node(
    tmp_path: Path, database: str, state_url: str
) -> None:
    text = fleet_config(database, state_url) + WATCH
    paths = []
    for i in range(3):
        path = tmp_path / f"node{i}.toml"
        path.write_text(text)
        paths.append(path)
    config = load_config(paths[0])
    idp = DevIdP.from_config(config)
    tokens = {
        sub: idp.mint(sub, [group], 600)
        for sub, group in [
            ("bot", "ci"),
            ("victim", "ci"),
            ("carer", "careful"),
            ("sam", "security"),
            ("watcher", "watch"),
            *[(f"w{i}", "ci") for i in range(WORKERS)],
        ]
    }
    nodes: list[Node] = [Node(paths[0])]  # the first start makes the recording key
    with ThreadPoolExecutor(2) as pool:
        nodes += list(pool.map(Node, paths[1:]))
    port = free_port()
    proxy = HAProxy(
        haproxy_config(port, [(n.port, int(n.admin.rsplit(":", 1)[1])) for n in nodes]),
        tmp_path,
        port,
    )
    dead = -1
    try:
        # -- pgbench through HAProxy, with SIGHUP to every node under load --
        bench = subprocess.Popen(
            [
                "pgbench",
                "-n",
                "-c",
                "6",
                "-j",
                "2",
                "-T",
                "10",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "bot",
                "app",
            ],
            env={**os.environ, "PGPASSWORD": tokens["bot"], "PGSSLMODE": "disable"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # pgbench's six sessions, open (its first connection, which reads
        # the scale, has come and gone).
        wait_until(
            lambda: sum(metric(n, "limen_sessions_active") for n in nodes) == 6,
            30,
            "pgbench's six sessions",
        )
        # A live session through HAProxy, opened before the reload.
        watcher = psycopg.connect(dsn(port, "watcher", tokens["watcher"]), autocommit=True)
        watched = [watcher.execute(TICKET).fetchone(), watcher.execute(TOUCH).rowcount]
        for path in paths:
            path.write_text(
                text.replace(
                    'approvers = ["security"]', 'approvers = ["security"]\nhold_timeout = "10m"'
                ).replace(WATCH, WATCH_RELOADED)
            )
        for n in nodes:
            n.signal(signal.SIGHUP)
        reloads = [n.wait_for("reloaded") for n in nodes]
        # Its next statements see the new mask and the new denial; it goes on.
        watched.append(watcher.execute(TICKET).fetchone())
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # 42501
            watcher.execute(TOUCH)
        watched.append(watcher.execute(STATEMENT).fetchone())
        watcher.close()
        bench_out, _ = bench.communicate(timeout=60)
        assert bench.returncode == 0, bench_out
        assert "number of failed transactions: 0" in bench_out, bench_out
        assert "aborted" not in bench_out, bench_out
        assert watched == [("TCK-42",), 1, ("[MASKED:ticket]",), (1,)]
        # every pgbench session and the watcher, live
        assert sum(r["sessions"] for r in reloads) == 7
        assert all(n.proc.poll() is None for n in nodes)

        # -- an approval given on one node releases a statement held on another --
        psycopg.connect(PG + database, autocommit=True).execute(
            "DELETE FROM users_in WHERE id = 301"
        ).connection.close()
        inserted: list[int] = []

        def held_insert() -> None:
            with psycopg.connect(dsn(port, "carer", tokens["carer"]), autocommit=True) as c:
                inserted.append(c.execute("INSERT INTO users_in VALUES (301, 'x')").rowcount)

        holder = threading.Thread(target=held_insert)
        holder.start()
        wait_until(lambda: any(n.events("approval_requested") for n in nodes), 30, "a hold")
        held_on = next(i for i, n in enumerate(nodes) if n.events("approval_requested"))
        request = nodes[held_on].events("approval_requested")[0]
        other = nodes[(held_on + 1) % 3]
        answer = httpx.post(
            f"{other.admin}/v1/approvals/{request['approval']}/approve",
            headers={"authorization": f"Bearer {tokens['sam']}"},
            json={"reason": "fleet"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        holder.join(30)
        assert inserted == [1]

        # -- a revocation written once ends the identity's sessions on every node --
        victims = [
            psycopg.connect(dsn(port, "victim", tokens["victim"]), autocommit=True)
            for _ in range(4)
        ]
        for v in victims:
            v.execute("SELECT 1")
        victim_nodes = {
            e["session"]: i
            for i, n in enumerate(nodes)
            for e in n.events("session_start")
            if e["subject"] == "victim"
        }
        assert len(victim_nodes) == 4
        revoked = subprocess.run(
            limen("identity", "revoke", "--config", str(paths[0]), "--sub", "victim"),
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(revoked.stdout)["value"] == "victim"
        ended: list[str] = []
        for v in victims:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    v.execute("SELECT 1")
                except psycopg.Error as exc:
                    ended.append(str(exc))
                    break
                time.sleep(0.05)
            v.close()
        assert len(ended) == 4, ended
        assert all("revoked" in e for e in ended), ended
        revoked_on = {i for i, n in enumerate(nodes) for _ in n.events("session_revoked")}
        assert revoked_on == set(victim_nodes.values())
        refused = psycopg.connect  # a new session of the revoked identity is refused
        with pytest.raises(psycopg.OperationalError, match="revoked"):
            refused(dsn(port, "victim", tokens["victim"])).close()

        # -- kill -9 one node under load --
        stop = threading.Event()
        workers = [Worker(f"w{i}", dsn(port, f"w{i}", tokens[f"w{i}"])) for i in range(WORKERS)]
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: all(w.ok >= 3 for w in workers), 30, "every worker runs")
            on = {w.name: node_of(nodes, w.name) for w in workers}
            dead = Counter(on.values()).most_common(1)[0][0]
            # Its sessions' logs reach the state store as they grow
            # ([gateway] recordings_copy = "state:", every 200 ms).
            live = {
                e["subject"]: e["session"]
                for e in nodes[dead].events("session_start")
                if on.get(e["subject"]) == dead
            }
            wait_until(
                lambda: all(STATEMENT in copied(state_url, s) for s in live.values()),
                30,
                "the dead node's statements in the state store",
            )
            before = {w.name: w.ok for w in workers}
            nodes[dead].proc.kill()
            nodes[dead].proc.wait(10)
            wait_until(
                lambda: all(w.ok_after_error >= 3 for w in workers if on[w.name] == dead),
                30,
                "the dead node's workers reconnect",
            )
            wait_until(
                lambda: all(w.ok >= before[w.name] + 5 for w in workers), 30, "every worker goes on"
            )
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        for w in workers:
            if on[w.name] == dead:
                assert w.errors, w.name
                assert node_of(nodes, w.name) != dead  # reconnected to a live node
            else:
                assert w.errors == [], (w.name, w.errors)

        # -- a live node sweeps the dead one: its open sessions end node_lost --
        dead_ids = {e["session"] for e in nodes[dead].events("session_start")}

        def swept() -> bool:
            store = open_store(state_url)
            try:
                rows = [r for r in store.sessions(limit=10_000) if r.id in dead_ids]
            finally:
                store.close()
            return all(r.ended_at is not None for r in rows)

        wait_until(swept, 30, "the dead node's sessions swept")
        sweeps = [e for i, n in enumerate(nodes) if i != dead for e in n.events("node_lost")]
        assert len(sweeps) == 1, sweeps  # claimed once, by one live node

        # -- every live node's /metrics, parsed --
        for i, n in enumerate(nodes):
            if i == dead:
                continue
            wait_until(lambda n=n: metric(n, "limen_sessions_active") == 0, 30, "sessions end")
            assert metric(n, "limen_sessions_total") == len(n.events("session_start")), i
            refusals = [e for e in n.events("auth_refused") if e["reason"] == "revoked"]
            assert metric(n, "limen_token_refusals_total", reason="revoked") == len(refusals)
            victims_here = sum(1 for node in victim_nodes.values() if node == i)
            assert metric(n, "limen_session_ends_total", reason="28P01") == victims_here + len(
                refusals
            )
    finally:
        rcs = [n.stop() for i, n in enumerate(nodes) if i != dead]
        if dead >= 0:
            nodes[dead].stop()
        proxy_log = proxy.stop()
    assert rcs == [0, 0], proxy_log

    # -- the state store: nothing lost, nothing twice --
    store = open_store(state_url)
    try:
        rows = store.sessions(limit=10_000)
        approvals = store.approvals(pending_only=False)
    finally:
        store.close()
    logged = [e["session"] for n in nodes for e in n.events("session_start")]
    assert len(logged) == len(set(logged))
    assert sorted(r.id for r in rows) == sorted(logged)
    assert len(approvals) == 1
    assert approvals[0].status == "approved"
    assert len(approvals[0].votes) == 1
    assert approvals[0].id == request["approval"]
    dead_node = {r.node for r in rows if r.id in dead_ids}
    assert len(dead_node) == 1
    assert [r for r in rows if r.ended_at is None] == []  # every session ended, or swept
    lost_rows = [r for r in rows if r.end_reason == LOST]
    assert {r.node for r in lost_rows} == dead_node
    assert sweeps[0]["node"] in dead_node
    assert sweeps[0]["sessions"] == len(lost_rows)

    # -- the dead node's recordings: truncated where it died, never tampered --
    statuses: Counter[str] = Counter()
    for r in rows:
        if r.node not in dead_node:
            continue
        out = subprocess.run(
            limen("sessions", "verify", "--integrity-only", "--json", r.recording),
            capture_output=True,
            text=True,
        )
        status = json.loads(out.stdout)["status"]
        statuses[status] += 1
        if r.end_reason == LOST:
            assert status == "truncated", (r, out.stdout)
    assert statuses["tampered"] == 0
    assert statuses["truncated"] == len(lost_rows) >= 1

    # -- and their copies in the state store, once the local logs are gone --
    for r in lost_rows:
        Path(r.recording).unlink()
        out = subprocess.run(
            limen("sessions", "verify", "--config", str(paths[0]), "--json", r.id),
            capture_output=True,
            text=True,
        )
        assert json.loads(out.stdout)["status"] == "truncated", (r, out.stdout, out.stderr)
        assert "reading its copy in the state store" in out.stderr
        exported = subprocess.run(
            limen("sessions", "export", "--config", str(paths[0]), "--format", "jsonl", r.id),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        texts = [json.loads(line).get("text") for line in exported]
        assert STATEMENT in texts, (r, exported[:5])
