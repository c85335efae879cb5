"""A gateway built without a recorder factory records each session as
`limen serve` does: a signed log under ``[gateway] recordings``, indexed in
the ``[gateway] state`` store, verified against the gateway's recording key.
(The other gateway tests pass a factory of in-memory recorders.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from gateway_pg_support import USERS, database, gateway_config, start_gateway
from limen import recording
from limen.store import SessionRecord, open_store

pytestmark = pytest.mark.integration
__all__ = ["database"]


async def _ended(config_state: str, base: Path, count: int) -> list[SessionRecord]:
    store = open_store(config_state, base)
    try:
        with trio.fail_after(20):
            while True:
                rows = await trio.to_thread.run_sync(store.sessions)
                if len(rows) >= count and all(r.ended_at is not None for r in rows):
                    return rows
                await trio.sleep(0.05)
    finally:
        store.close()


async def test_the_default_recorder_is_a_signed_indexed_log(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> None:
    config = gateway_config(tmp_path, database)
    gw = await start_gateway(nursery, config, memory_recorders=False)

    def client() -> list[tuple[object, ...]]:
        with gw.connect() as conn:
            rows = conn.execute("SELECT id, email FROM users ORDER BY id").fetchall()
            conn.execute("SELECT 1 + 1").fetchall()
            return rows

    rows = await trio.to_thread.run_sync(client)
    assert len(rows) == len(USERS)
    assert gw.recorders == []  # no in-memory recorder was involved

    (row,) = await _ended(config.gateway.state, Path(config.base_dir), 1)
    assert row.subject == "bot"
    assert row.resource == "app"
    assert row.protocol == "postgres"
    path = Path(row.recording)
    assert path.is_relative_to(config.path(config.gateway.recordings))
    assert path.name == f"{row.id}.limenlog"

    # Signed with the gateway's recording key (created on first use).
    key = recording.load_key(config.recording_key_path(), "signing")
    res = recording.verify(path, recording.signing_public_key(key))
    assert res.ok, res.reason
    assert res.authenticated
    assert res.header is not None
    assert res.header.session_id == row.id

    records = list(recording.open_log(path))
    c2u = [r.payload for r in records if r.kind == recording.Kind.C2U]
    assert any(b"FROM users" in p for p in c2u)
    assert any(b"1 + 1" in p for p in c2u)
    assert row.statements == len(c2u)  # the index counts what the log holds
    events = [json.loads(r.payload) for r in records if r.kind == recording.Kind.EVENT]
    decisions = [e for e in events if e.get("event") == "decision"]
    assert decisions
    assert decisions[0]["action"] == "allow"
    sent = b"".join(r.payload for r in records if r.kind == recording.Kind.U2C)
    assert b"alice@example.com" not in sent  # recorded as the client saw it: masked
    assert b"[MASKED:email]" in sent
