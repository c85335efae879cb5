"""Connection limits that hold across a fleet (limen.gateway.fleetlimits):
the store's counts under racing acquisitions (SQLite and PostgreSQL), a
lost node's sessions leaving the counts when it is swept, and two `limen
serve` processes on one PostgreSQL state store refusing an identity's
third session on either node (53300) until one of the first two ends."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from fleet_support import Node, token
from gateway_pg_support import PG_HOST, PG_PORT, config_text, database
from limen.store import open_store

__all__ = ["database"]

PG = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/"


def _new_db() -> str:
    name = f"limen_slots_{secrets.token_hex(4)}"
    with psycopg.connect(PG + "postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_db(name: str) -> None:
    with psycopg.connect(PG + "postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/state.db"
        return
    name = _new_db()
    try:
        yield PG + name
    finally:
        _drop_db(name)


@pytest.fixture
def state_url() -> Iterator[str]:
    name = _new_db()
    try:
        yield PG + name
    finally:
        _drop_db(name)


def test_racing_acquisitions_stop_at_the_limit(url: str) -> None:
    stores = [open_store(url) for _ in range(4)]
    try:

        def take(i: int) -> str | None:
            return stores[i % 4].slot_acquire(
                f"s{i}",
                node=f"n{i % 4}",
                identity="iss|bot",
                resource="app",
                identity_limit=3,
                resource_limit=None,
                now=1.0,
            )

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(take, range(16)))
        assert results.count(None) == 3
        assert results.count("identity") == 13
        assert stores[0].slot_count(identity="iss|bot") == 3
        # The resource's own limit, for another identity.
        other = [
            stores[1].slot_acquire(
                f"o{i}",
                node="n1",
                identity="iss|other",
                resource="app",
                identity_limit=10,
                resource_limit=4,
                now=1.0,
            )
            for i in range(2)
        ]
        assert other == [None, "resource"]  # 3 + 1 sessions on `app`
        winner = next(f"s{i}" for i, r in enumerate(results) if r is None)
        stores[2].slot_release(winner)
        assert stores[3].slot_count(identity="iss|bot") == 2
    finally:
        for s in stores:
            s.close()


def test_a_swept_node_frees_its_slots(url: str) -> None:
    store = open_store(url)
    try:
        store.node_heartbeat("gw-x:1", now=100.0)
        store.node_heartbeat("gw-y:2", now=100.0)
        for i, node in enumerate(["gw-x:1", "gw-x:1", "gw-y:2"]):
            assert (
                store.slot_acquire(
                    f"s{i}",
                    node=node,
                    identity="iss|bot",
                    resource="app",
                    identity_limit=3,
                    resource_limit=None,
                    now=100.0,
                )
                is None
            )
        store.node_heartbeat("gw-y:2", now=130.0)
        lost = store.sweep_lost_nodes(now=130.0, timeout=15)
        assert [n.node for n in lost] == ["gw-x:1"]
        assert store.slot_count(identity="iss|bot") == 1
    finally:
        store.close()


@pytest.mark.integration
async def test_two_nodes_share_an_identitys_connection_limit(
    tmp_path: Path, database: str, state_url: str
) -> None:
    text = config_text(database, "max_connections_per_identity = 2", dev_listen="127.0.0.1:0")
    config = tmp_path / "limen.toml"
    config.write_text(
        text.replace(
            'state = "sqlite://state/limen.db"', f'state = "{state_url}"\nstate_dir = "state"'
        )
    )
    tok = token(config, "bot", "ci")
    a = await trio.to_thread.run_sync(Node, config)
    b = await trio.to_thread.run_sync(Node, config)

    def dsn(node: Node) -> str:
        return (
            f"host=127.0.0.1 port={node.port} dbname=app user=bot password={tok} "
            "sslmode=disable connect_timeout=10"
        )

    def scenario() -> tuple[str | None, str, int, float]:
        first = psycopg.connect(dsn(a), autocommit=True)
        second = psycopg.connect(dsn(a), autocommit=True)
        try:
            with pytest.raises(psycopg.OperationalError) as third:
                psycopg.connect(dsn(b), autocommit=True).close()
        finally:
            second.close()
        store = open_store(state_url)
        try:
            deadline = time.monotonic() + 30
            while store.slot_count() != 1:  # the closed session's slot goes
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            store.close()
        with psycopg.connect(dsn(b), autocommit=True) as now_fits:
            rows = len(now_fits.execute("SELECT id FROM users").fetchall())
        first.close()
        body = httpx.get(f"{b.admin}/metrics", timeout=10).text
        refused = sum(
            s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
            if s.name == "limen_connections_refused_total" and s.labels["limit"] == "identity"
        )
        return third.value.sqlstate, str(third.value), rows, refused

    try:
        sqlstate, message, rows, refused_on_b = await trio.to_thread.run_sync(scenario)
    finally:
        rcs = [await trio.to_thread.run_sync(n.stop) for n in (a, b)]
    assert sqlstate is None  # psycopg gives no SQLSTATE for a refused connection
    assert "too many connections for 'bot' across the fleet (limit 2)" in message, message
    assert refused_on_b == 1.0  # counted by the node that refused it
    assert rows > 0
    assert rcs == [0, 0]
    store = open_store(state_url)
    try:
        assert store.slot_count() == 0  # every session's slot released
    finally:
        store.close()
