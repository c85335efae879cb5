"""Logs copied as they grow (limen.recording.shipping) and their copies in
the state store (limen.store.segments), under Trio's MockClock: a live
log's copy verifies as truncated and holds every record written before the
last copy (and none after it), the closed log's copy is byte for byte the
log and verifies intact; every byte prefix of a log verifies as truncated,
never tampered (what a copy of a dead node's log is); the store's segments
are read back in order, a retried segment is kept once, a gap or segments
that disagree are refused."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limen.config import ConfigError, load_config_text
from limen.recording import (
    SessionInfo,
    SessionWriter,
    generate_recipient_key,
    generate_signing_key,
    open_log,
    verify,
)
from limen.recording.index import IndexedRecorder
from limen.recording.shipping import DirectoryTarget, Shipper, StoreTarget
from limen.store import Store, StoreError, open_store

PG = "postgresql://postgres@127.0.0.1:5432/"
KEY = generate_signing_key()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(f"sqlite://{tmp_path}/state.db")
        yield s
        s.close()
        return
    name = f"limen_ship_{secrets.token_hex(4)}"
    with psycopg.connect(PG + "postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        s = open_store(PG + name)
        yield s
        s.close()
    finally:
        with psycopg.connect(PG + "postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _statements(path: Path) -> list[bytes]:
    return [r.payload for r in open_log(path) if r.kind == "c2u"]


def _store_copy(store: Store, session_id: str, out: Path) -> Path:
    with out.open("wb+") as f:
        store.segment_read(session_id, f)
    return out


@pytest.mark.parametrize("where", ["directory", "store"])
def test_a_live_log_is_copied_every_interval_and_its_copy_verifies_truncated(
    tmp_path: Path, store: Store, where: str
) -> None:
    root, shared = tmp_path / "local", tmp_path / "shared"
    target = DirectoryTarget(shared) if where == "directory" else StoreTarget(store, "n1")
    shipper = Shipper(target, interval=3.0, in_thread=False)
    info = SessionInfo("s-1", "bot", "app", "postgres")
    seen: dict[str, Any] = {}

    def copy_now() -> Path:
        if where == "directory":
            (copy,) = shared.glob("*/s-1.limenlog")
            return copy
        return _store_copy(store, "s-1", tmp_path / f"from-store-{shipper.rounds}.limenlog")

    async def main() -> None:
        rec = IndexedRecorder(
            info,
            directory=root,
            store=store,
            signing_key=KEY,
            recipient=None,
            node="n1",
            shipper=shipper,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(shipper.run)
            rec.append("c2u", b"SELECT 1", masked=True)
            rec.append("u2c", b"one row")
            await trio.sleep(3.5)  # one round
            assert shipper.rounds == 1
            first = copy_now()
            seen["first"] = verify(first, None)
            seen["first_statements"] = _statements(first)
            rec.append("c2u", b"SELECT 2", masked=True)
            seen["before_round"] = _statements(copy_now())
            await trio.sleep(3.0)
            assert shipper.rounds == 2
            second = copy_now()
            seen["second"] = verify(second, None)
            seen["second_statements"] = _statements(second)
            nursery.cancel_scope.cancel()
        rec.close()  # inline: the shipper does not use threads here

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen["first"].status == "truncated"
    assert seen["second"].status == "truncated"
    assert seen["first_statements"] == [b"SELECT 1"]
    assert seen["before_round"] == [b"SELECT 1"]  # copied at the interval, not on append
    assert seen["second_statements"] == [b"SELECT 1", b"SELECT 2"]
    (local,) = root.glob("*/s-1.limenlog")
    final = copy_now()
    assert final.read_bytes() == local.read_bytes()
    assert verify(final, None).status == "intact"
    assert shipper.live() == []


def test_a_log_closed_before_its_first_copy_goes_whole(tmp_path: Path, store: Store) -> None:
    root = tmp_path / "local"
    for where, target in [("dir", DirectoryTarget(tmp_path / "shared")), ("store", None)]:
        shipper = Shipper(target or StoreTarget(store, "n1"), interval=3.0, in_thread=False)
        info = SessionInfo(f"s-{where}", "bot", "app", "postgres")
        rec = IndexedRecorder(
            info, directory=root, store=store, signing_key=KEY, recipient=None, node="n1",
            shipper=shipper,
        )  # fmt: skip
        rec.append("c2u", b"SELECT 1")
        rec.close()
        if where == "dir":
            (copy,) = (tmp_path / "shared").glob(f"*/s-{where}.limenlog*")
        else:
            copy = _store_copy(store, info.session_id, tmp_path / "s.limenlog")
        assert copy.read_bytes() == rec.path.read_bytes()
        assert verify(copy, None).status == "intact"


def _log(path: Path, recipient: bytes | None) -> tuple[int, bytes]:
    """A closed log of 40 records; the size of its header and its bytes."""
    with SessionWriter(
        path, session_id="p", identity="bot", resource="app", protocol="postgres",
        signing_key=KEY, recipient=recipient, flush_bytes=64,
    ) as w:  # fmt: skip
        w.flush()
        header = path.stat().st_size
        for i in range(40):
            w.append("c2u" if i % 2 else "u2c", f"SELECT {i} -- {'x' * (i * 7)}".encode())
            if i % 9 == 0:
                w.flush()
    return header, path.read_bytes()


_PLAIN: dict[str, tuple[int, bytes]] = {}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), encrypted=st.booleans())
def test_every_byte_prefix_of_a_log_verifies_truncated(
    tmp_path: Path, data: st.DataObject, encrypted: bool
) -> None:
    kind = "sealed" if encrypted else "plain"
    if kind not in _PLAIN:
        recipient = generate_recipient_key().public if encrypted else None
        _PLAIN[kind] = _log(tmp_path / f"{kind}.limenlog", recipient)
    header, whole = _PLAIN[kind]
    cut = data.draw(st.integers(header, len(whole) - 1))
    prefix = tmp_path / f"prefix-{secrets.token_hex(4)}.limenlog"
    prefix.write_bytes(whole[:cut])
    res = verify(prefix, None)
    assert res.status == "truncated", (cut, res.code, res.reason)
    whole_path = tmp_path / "whole.limenlog"
    whole_path.write_bytes(whole)
    assert verify(whole_path, None).status == "intact"


def test_segments_read_back_in_order_once_and_refuse_gaps(store: Store) -> None:
    store.segment_put("s", 0, b"abc", node="n1", at=1.0)
    store.segment_put("s", 0, b"abcdef", node="n1", at=2.0)  # a retry that saw more
    store.segment_put("s", 0, b"ab", node="n1", at=3.0)  # an older retry: kept the longer
    store.segment_put("s", 6, b"gh", node="n1", at=4.0)
    out = io.BytesIO()
    assert store.segment_read("s", out) == 8
    assert out.getvalue() == b"abcdefgh"
    assert store.segment_size("s") == 8
    assert store.segment_size("none") == 0
    with pytest.raises(StoreError, match="no copy"):
        store.segment_read("none", io.BytesIO())
    store.segment_put("gap", 0, b"abc", node="n1", at=1.0)
    store.segment_put("gap", 5, b"fg", node="n1", at=1.0)
    with pytest.raises(StoreError, match="misses bytes 3 to 5"):
        store.segment_read("gap", io.BytesIO())
    store.segment_put("odd", 0, b"abcd", node="n1", at=1.0)
    store.segment_put("odd", 2, b"XYZ", node="n1", at=1.0)
    with pytest.raises(StoreError, match="disagree at byte 2"):
        store.segment_read("odd", io.BytesIO())
    store.segment_put("ok", 0, b"abcd", node="n1", at=1.0)
    store.segment_put("ok", 2, b"cdef", node="n1", at=1.0)  # overlaps with the same bytes
    out = io.BytesIO()
    store.segment_read("ok", out)
    assert out.getvalue() == b"abcdef"


def test_the_copy_store_is_checked_at_load() -> None:
    pg = '[gateway]\nstate = "postgresql://limen@db/limen"\n'
    config = load_config_text(pg + 'recordings_copy = "state:"\nrecordings_copy_interval = "1s"\n')
    assert (config.gateway.recordings_copy, config.gateway.recordings_copy_interval.seconds) == (
        "state:",
        1,
    )
    assert load_config_text("").gateway.recordings_copy_interval.seconds == 3
    with pytest.raises(ConfigError, match="not PostgreSQL"):
        load_config_text('[gateway]\nrecordings_copy = "state:"\n')  # a SQLite store
    with pytest.raises(ConfigError, match=r"recording-s3\.md"):
        load_config_text(pg + 'recordings_copy = "s3://bucket/limen"\n')
    with pytest.raises(ConfigError, match="a directory or 'state:'"):
        load_config_text(pg + 'recordings_copy = "gs://bucket"\n')
    with pytest.raises(ConfigError, match="recordings_copy_interval"):
        load_config_text(pg + 'recordings_copy = "/mnt/x"\nrecordings_copy_interval = "0s"\n')
