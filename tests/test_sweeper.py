"""Heartbeats and the sweep of lost nodes (limen.gateway.sweeper) on SQLite
and on the local PostgreSQL, under Trio's MockClock: three nodes beat; one
stops beating (it died); after node_timeout the others mark its open
sessions ended node_lost (once, by one of them) and leave the ended ones
alone; a node that stops cleanly is never swept; sweepers racing on
PostgreSQL claim a lost node exactly once."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import trio
import trio.testing

from limen.config import ConfigError, load_config_text
from limen.gateway.sweeper import Sweeper, node_name
from limen.store import LOST, SessionRecord, Store, open_store

PG = "postgresql://postgres@127.0.0.1:5432/"
EPOCH = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/state.db"
        return
    name = f"limen_sweep_{secrets.token_hex(4)}"
    with psycopg.connect(PG + "postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG + name
    finally:
        with psycopg.connect(PG + "postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _session(node: str, i: int, *, ended: bool = False) -> SessionRecord:
    return SessionRecord(
        id=f"{node}-{i}-{secrets.token_hex(4)}",
        subject="bot",
        groups=["ci"],
        resource="app",
        protocol="postgres",
        started_at=EPOCH,
        ended_at=EPOCH + 1 if ended else None,
        end_reason="client_closed" if ended else None,
        recording=f"/rec/{node}-{i}.limenlog",
        node=node,
    )


def _clock() -> float:
    return EPOCH + trio.current_time()


async def _run_for(sweeper: Sweeper, seconds: float) -> None:
    with trio.move_on_after(seconds):
        await sweeper.run()


async def test_a_dead_nodes_open_sessions_are_swept_once_by_a_live_node(
    url: str, autojump_clock: trio.testing.MockClock
) -> None:
    stores = [open_store(url) for _ in range(3)]  # one handle per node, as processes have
    try:
        a, b, c = (
            Sweeper(s, name, heartbeat=2, timeout=15, clock=_clock, in_thread=False)
            for s, name in zip(stores, ["gw-a:1", "gw-b:2", "gw-c:3"], strict=True)
        )
        opened = [_session("gw-c:3", i) for i in range(2)]
        done = _session("gw-c:3", 9, ended=True)
        mine = _session("gw-a:1", 0)
        for rec in [*opened, done, mine]:
            stores[0].session_started(rec)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_run_for, a, 60)
            nursery.start_soon(_run_for, b, 60)
            nursery.start_soon(_run_for, c, 10)  # dies (stops beating) at 10 s
            await trio.sleep(20)  # 10 s of silence: not yet lost
            assert a.swept == []
            assert b.swept == []
            assert set(stores[0].nodes()) == {"gw-a:1", "gw-b:2", "gw-c:3"}
        lost = a.swept + b.swept
        assert [(n.node, n.sessions) for n in lost] == [("gw-c:3", 2)]
        assert lost[0].seen_at < EPOCH + 10  # its last beat, before it died
        assert c.swept == []
        rows = {r.id: r for r in stores[1].sessions(limit=100)}
        for rec in opened:
            assert rows[rec.id].end_reason == LOST
            assert rows[rec.id].ended_at is not None
            # Swept once silent for longer than the timeout, not before.
            assert rows[rec.id].ended_at - lost[0].seen_at > 15
        assert rows[done.id].end_reason == "client_closed"
        assert rows[done.id].ended_at == EPOCH + 1
        assert rows[mine.id].ended_at is None  # a live node's session stays open
        assert set(stores[2].nodes()) == {"gw-a:1", "gw-b:2"}
    finally:
        for s in stores:
            s.close()


async def test_a_node_that_stops_cleanly_is_not_swept(
    url: str, autojump_clock: trio.testing.MockClock
) -> None:
    store = open_store(url)
    try:
        a = Sweeper(store, "gw-a:1", heartbeat=2, timeout=15, clock=_clock, in_thread=False)
        d = Sweeper(store, "gw-d:4", heartbeat=2, timeout=15, clock=_clock, in_thread=False)
        store.session_started(_session("gw-d:4", 0))
        await d.beat()
        await d.stopped()
        await _run_for(a, 60)
        assert a.swept == []
        assert store.sessions()[0].ended_at is None
        assert set(store.nodes()) == {"gw-a:1"}
    finally:
        store.close()


async def test_an_unreachable_store_skips_beats_and_logs_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = open_store(f"sqlite://{tmp_path}/state.db")
    logged: list[tuple[str, dict[str, object]]] = []
    sweeper = Sweeper(
        store,
        "gw-a:1",
        heartbeat=2,
        timeout=15,
        clock=_clock,
        in_thread=False,
        log=lambda event, **fields: logged.append((event, fields)),
    )
    store.close()  # every call now fails
    for _ in range(3):
        assert await sweeper.beat() == []
    assert sweeper.failures == 3
    assert [event for event, _ in logged] == ["heartbeat_failed"]


def test_racing_sweepers_claim_a_lost_node_once(url: str) -> None:
    stores: list[Store] = [open_store(url) for _ in range(4)]
    try:
        stores[0].node_heartbeat("gw-x:9", now=EPOCH)
        for i in range(5):
            stores[0].session_started(_session("gw-x:9", i))
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(lambda s: s.sweep_lost_nodes(now=EPOCH + 100, timeout=15), stores)
            )
        claimed = [n for r in results for n in r]
        assert [(n.node, n.sessions) for n in claimed] == [("gw-x:9", 5)]
        assert all(r.end_reason == LOST for r in stores[1].sessions(limit=10))
    finally:
        for s in stores:
            s.close()


def test_node_timeout_must_cover_four_heartbeats() -> None:
    with pytest.raises(ConfigError, match="node_timeout"):
        load_config_text('[gateway]\nheartbeat = "5s"\nnode_timeout = "10s"\n')
    with pytest.raises(ConfigError, match="at least 4 heartbeats"):
        load_config_text('[gateway]\nheartbeat = "1s"\nnode_timeout = "3500ms"\n')
    assert load_config_text('[gateway]\nheartbeat = "1s"\nnode_timeout = "4s"\n')
    config = load_config_text("")
    assert (config.gateway.heartbeat.seconds, config.gateway.node_timeout.seconds) == (2, 15)
    assert node_name().endswith(f":{os.getpid()}")
