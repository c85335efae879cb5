"""A node cut off from the state store fences itself before the others
sweep it (limen.gateway.fence, limen.gateway.sweeper), under Trio's
MockClock, on SQLite and on the local PostgreSQL: its store stops
answering; it fences (its session's log closes signed, the end it could not
index waits in the backlog) two heartbeats before a live node sweeps it;
when the store answers again the backlog writes the session's true end
over node_lost and the fence lifts. A heartbeat that hangs does not hold
the fence up. And on a real gateway (in-process, real PostgreSQL, psycopg):
a fenced listener ends its live session (57P01, its log says why), refuses
new ones (57P03) and accepts again once the fence lifts."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio
import trio.testing

from gateway_pg_support import database, gateway_config, start_gateway
from limen.gateway.fence import Fence, fence_after
from limen.gateway.server import JsonLog
from limen.gateway.sweeper import Sweeper
from limen.recording import SessionInfo, generate_signing_key, verify
from limen.recording.index import IndexBacklog, IndexedRecorder
from limen.store import LOST, Store, open_store

__all__ = ["database"]

PG = "postgresql://postgres@127.0.0.1:5432/"
EPOCH = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/state.db"
        return
    name = f"limen_fence_{secrets.token_hex(4)}"
    with psycopg.connect(PG + "postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG + name
    finally:
        with psycopg.connect(PG + "postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _clock() -> float:
    return EPOCH + trio.current_time()


class Partitioned:
    """A node's store handle that stops answering while ``down``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise ConnectionError("the state store is out of reach")
            return attr(*args, **kwargs)

        return call


async def test_a_node_cut_off_fences_itself_before_it_is_swept(
    url: str, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    stores = [open_store(url), open_store(url)]
    try:
        a_store = Partitioned(stores[0])
        backlog = IndexBacklog()
        rec = IndexedRecorder(
            SessionInfo("s-a", "bot", "app", "postgres"),
            directory=tmp_path / "rec",
            store=a_store,  # type: ignore[arg-type]
            signing_key=generate_signing_key(),
            recipient=None,
            node="gw-a:1",
            backlog=backlog,
        )
        rec.append("c2u", b"SELECT 1", masked=True)
        times: dict[str, float] = {}

        def fenced(silent: float) -> None:
            times["fenced"] = trio.current_time()
            times["silent"] = silent
            rec.close("57P01")  # what the fence does to the node's sessions

        def recovered() -> None:
            times["recovered"] = trio.current_time()

        a = Sweeper(
            a_store,  # type: ignore[arg-type]
            "gw-a:1",
            heartbeat=1,
            timeout=4,
            clock=_clock,
            in_thread=False,
            fence_after=fence_after(1, 4),
            on_fence=fenced,
            on_recover=recovered,
            backlog=backlog,
        )
        b = Sweeper(stores[1], "gw-b:2", heartbeat=1, timeout=4, clock=_clock, in_thread=False)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(a.run)
            nursery.start_soon(b.run)
            await trio.sleep(3.5)
            a_store.down = True  # its last heartbeat written: at 3 s
            while not b.swept:
                await trio.sleep(0.25)
            times["swept"] = trio.current_time()
            swept_row = next(r for r in stores[1].sessions() if r.id == "s-a")
            assert len(backlog) == 1  # its end is waiting for the store
            await trio.sleep(2)
            a_store.down = False
            await trio.sleep(2.5)
            nursery.cancel_scope.cancel()
        assert times["fenced"] < times["swept"]  # fenced first: the sweep tells the truth
        assert times["silent"] >= fence_after(1, 4)
        assert [(n.node, n.sessions) for n in b.swept] == [("gw-a:1", 1)]
        assert swept_row.end_reason == LOST
        assert times["recovered"] > times["swept"]
        assert len(backlog) == 0
        assert not a.fenced
        row = next(r for r in stores[1].sessions() if r.id == "s-a")
        assert row.end_reason == "57P01"  # the true end, over node_lost
        assert row.ended_at is not None
        assert "gw-a:1" in stores[1].nodes()  # it beats again
        assert verify(rec.path, None).status == "intact"  # closed and signed when fenced
    finally:
        for s in stores:
            s.close()


class Hanging:
    """A store whose heartbeat hangs until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def node_heartbeat(self, node: str, *, now: float) -> None:
        self.release.wait(30)
        raise ConnectionError("gave up")


async def test_a_hanging_heartbeat_does_not_hold_the_fence_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = Hanging()
    silent: list[float] = []
    sweeper = Sweeper(
        store,  # type: ignore[arg-type]
        "gw-a:1",
        heartbeat=1,
        timeout=4,
        clock=_clock,
        fence_after=fence_after(1, 4),
        on_fence=silent.append,
    )
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sweeper.run)
            await trio.sleep(3)
            nursery.cancel_scope.cancel()
            assert sweeper.fenced  # while the first heartbeat still hangs
            assert len(silent) == 1
            assert silent[0] >= 2
            store.release.set()
    finally:
        store.release.set()


async def test_a_fenced_listener_ends_its_sessions_and_refuses_new_ones(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> None:
    logged: list[tuple[str, dict[str, object]]] = []

    class Log(JsonLog):
        def __call__(self, event: str, **fields: object) -> None:
            logged.append((event, fields))

    gw = await start_gateway(nursery, gateway_config(tmp_path, database), Log())
    tok = gw.token()
    conn = await trio.to_thread.run_sync(lambda: gw.connect(tok, autocommit=True))
    try:
        assert await trio.to_thread.run_sync(lambda: conn.execute("SELECT 1").fetchone()) == (1,)
        fence = Fence([gw.gateway], log=Log())
        assert fence.close(12.0) == 1
        with pytest.raises(psycopg.OperationalError, match="lost its state store"):
            await trio.to_thread.run_sync(lambda: conn.execute("SELECT 1").fetchone())
        with pytest.raises(psycopg.OperationalError, match="cannot reach its state store"):
            await trio.to_thread.run_sync(lambda: gw.connect(tok).close())
        fence.open()
        again = await trio.to_thread.run_sync(lambda: gw.connect(tok, autocommit=True))
        assert await trio.to_thread.run_sync(lambda: again.execute("SELECT 2").fetchone()) == (2,)
        await trio.to_thread.run_sync(again.close)
    finally:
        await trio.to_thread.run_sync(conn.close)
    events = [e for e, _ in logged]
    assert events.count("node_fenced") == 1
    assert events.count("node_unfenced") == 1
    fenced_log = [p for r in gw.recorders for k, p in r.records if k == "event" and b"fenced" in p]
    assert len(fenced_log) == 1
    assert b'"reason":"state_store_lost"' in fenced_log[0]
    ends = [f for e, f in logged if e == "session_end"]
    assert [f["reason"] for f in ends].count("57P01") == 1
