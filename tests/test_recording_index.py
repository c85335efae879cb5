"""The gateway's recorder: a signed log per session, indexed in the store,
found and verified by id through `limen sessions --config`."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from limen import recording
from limen.config import load_config
from limen.recording import (
    NativeRecorder,
    SessionInfo,
    configured_recorder_factory,
    recorder_factory,
)
from limen.store import StoreError, open_store

LIMEN = str(Path(sys.executable).parent / "limen")


def test_recorder_writes_indexes_and_verifies(tmp_path: Path) -> None:
    cfg = tmp_path / "limen.toml"
    cfg.write_text('[gateway]\nstate = "sqlite://state/limen.db"\nrecordings = "rec"\n')
    config = load_config(cfg)
    store = open_store(config.gateway.state, Path(config.base_dir))
    make = recorder_factory(config, store, node="gw-test")
    key_file = config.recording_key_path()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    rec = make(SessionInfo("sess-aaaaaaaa", "ci-bot", "staging", "postgres"))
    rec.append("c2u", b"SELECT 1")
    rec.append("event", b'{"action":"allow"}')
    rec.append("u2c", b"1")
    rec.append("c2u", b"SELECT 2")
    row = store.session("sess-aaaaaaaa")
    assert row.ended_at is None
    rec.close()
    row = store.session("sess-aaaaaaaa")
    assert (row.statements, row.node, row.end_reason) == (2, "gw-test", "closed")
    # the session's end code, when it gives one, is what the index keeps
    other = make(SessionInfo("sess-bbbbbbbb", "ci-bot", "staging", "postgres"))
    other.close("57P05")
    assert store.session("sess-bbbbbbbb").end_reason == "57P05"
    assert row.ended_at is not None
    assert Path(row.recording).is_file()

    public = recording.signing_public_key(recording.load_key(key_file, "signing"))
    res = recording.verify(row.recording, public)
    assert res.ok
    assert res.records == 4
    # a second factory (another gateway process) reuses the same key
    recorder_factory(config, store)
    assert recording.signing_public_key(recording.load_key(key_file, "signing")) == public
    store.close()

    p = subprocess.run(
        [LIMEN, "sessions", "verify", "--config", str(cfg), "sess-aaaa"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert "intact" in p.stdout


def test_encrypted_to_the_auditor(tmp_path: Path) -> None:
    pair = recording.generate_recipient_key()
    cfg = tmp_path / "limen.toml"
    cfg.write_text(
        '[gateway]\nstate = "sqlite://s/l.db"\nrecordings = "rec"\n'
        f'recording_recipient = "{pair.public.hex()}"\n'
    )
    config = load_config(cfg)
    store = open_store(config.gateway.state, Path(config.base_dir))
    rec = recorder_factory(config, store)(SessionInfo("sess-bbbbbbbb", "bot", "db", "postgres"))
    rec.append("u2c", b"secret-free but private result")
    rec.close()
    path = store.session("sess-bbbbbbbb").recording
    assert b"private result" not in Path(path).read_bytes()
    payloads = [r.payload for r in recording.open_log(path, pair.private)]
    assert payloads == [b"secret-free but private result"]
    store.close()


def test_the_configured_factory_records_into_the_configured_store(tmp_path: Path) -> None:
    """Every gateway's default: the factory opens ``[gateway] state`` itself."""
    cfg = tmp_path / "limen.toml"
    cfg.write_text('[gateway]\nstate = "sqlite://st/limen.db"\nrecordings = "rec"\n')
    config = load_config(cfg)
    make = configured_recorder_factory(config)
    rec = make(SessionInfo("sess-cccccccc", "ci-bot", "staging", "postgres"))
    assert isinstance(rec, NativeRecorder)  # the native pump writes to it directly
    rec.append("c2u", b"SELECT 1")
    rec.close()

    store = open_store(config.gateway.state, Path(config.base_dir))  # another handle
    row = store.session("sess-cccccccc")
    store.close()
    assert row.ended_at is not None
    assert row.statements == 1
    assert Path(row.recording).is_relative_to(tmp_path / "rec")
    key = recording.load_key(config.recording_key_path(), "signing")
    assert recording.verify(row.recording, recording.signing_public_key(key)).ok


def test_a_state_store_that_cannot_be_opened_stops_the_factory(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the store's folder should be")
    cfg = tmp_path / "limen.toml"
    cfg.write_text('[gateway]\nstate = "sqlite://blocker/limen.db"\n')
    with pytest.raises(StoreError, match="cannot open"):
        configured_recorder_factory(load_config(cfg))
