"""`limen sessions ... --config FILE ID`: sessions found through the state
store's index, verified with the gateway's own recording key."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from limen import recording
from limen.config import load_config
from limen.store import SessionRecord, open_store

LIMEN = str(Path(sys.executable).parent / "limen")

CONFIG = """
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
[identity.dev]
enabled = true
"""


def limen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LIMEN, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, list[SessionRecord]]:
    cfg_path = tmp_path / "limen.toml"
    cfg_path.write_text(CONFIG)
    config = load_config(cfg_path)
    key = recording.generate_signing_key()
    config.recording_key_path().parent.mkdir(parents=True, exist_ok=True)
    recording.save_key(config.recording_key_path(), key, "signing")
    store = open_store(config.gateway.state, Path(config.base_dir))
    recs = []
    for i, sub in enumerate(["ci-bot", "agent-7"]):
        sid = f"sess{i}-{int(time.time() * 1000)}"
        path = config.path(config.gateway.recordings) / f"{sid}.limenlog"
        path.parent.mkdir(parents=True, exist_ok=True)
        with recording.SessionWriter(
            path,
            session_id=sid,
            identity=sub,
            resource="staging",
            protocol="postgres",
            signing_key=key,
        ) as w:
            w.append("c2u", b"SELECT email FROM users")
            w.append("u2c", b"[MASKED:email]")
        rec = SessionRecord(
            id=sid,
            subject=sub,
            groups=["ci"],
            resource="staging",
            protocol="postgres",
            started_at=1000.0 + i,
            ended_at=1001.0 + i,
            statements=1,
            recording=str(path),
            node="test",
        )
        store.session_started(rec)
        recs.append(rec)
    store.close()
    return cfg_path, recs


def test_list_newest_first(recorded: tuple[Path, list[SessionRecord]]) -> None:
    cfg, recs = recorded
    p = limen("sessions", "list", "--config", str(cfg))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "IDENTITY", "RESOURCE"]
    assert lines[1].startswith(recs[1].id)
    assert lines[2].startswith(recs[0].id)
    p = limen("sessions", "list", "--config", str(cfg), "--json")
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["subject"] for r in rows] == ["agent-7", "ci-bot"]


def test_verify_replay_export_by_id(recorded: tuple[Path, list[SessionRecord]]) -> None:
    cfg, recs = recorded
    sid = recs[0].id
    p = limen("sessions", "verify", "--config", str(cfg), sid[:8] + sid[8:])
    assert p.returncode == 0, p.stderr
    assert "intact" in p.stdout
    assert "integrity only" not in p.stdout  # the gateway's own key was trusted
    p = limen("sessions", "replay", "--config", str(cfg), sid)
    assert "SELECT email FROM users" in p.stdout
    assert "[MASKED:email]" in p.stdout
    p = limen("sessions", "export", "--config", str(cfg), sid, "--format", "jsonl")
    kinds = [json.loads(line).get("kind") for line in p.stdout.splitlines()]
    assert kinds == [None, "c2u", "u2c", None]


def test_tampered_log_found_by_id_fails(recorded: tuple[Path, list[SessionRecord]]) -> None:
    cfg, recs = recorded
    path = Path(recs[1].recording)
    data = bytearray(path.read_bytes())
    i = data.find(b"[MASKED")
    if i < 0:  # payload layout is the record crate's business: flip a late byte
        i = len(data) // 2
    data[i] ^= 0x01
    path.write_bytes(bytes(data))
    p = limen("sessions", "verify", "--config", str(cfg), recs[1].id)
    assert p.returncode == 1
    assert "TAMPERED" in p.stderr


def test_unknown_and_ambiguous_ids(recorded: tuple[Path, list[SessionRecord]]) -> None:
    cfg, _ = recorded
    p = limen("sessions", "verify", "--config", str(cfg), "nosuchsession")
    assert p.returncode == 1
    assert "no session" in p.stderr
    p = limen("sessions", "replay", "--config", str(cfg), "sess")
    assert p.returncode == 1
    assert "at least 6" in p.stderr
