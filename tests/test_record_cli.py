"""`limen sessions ...` through the real `limen` entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _recordlog import frames, write_log
from limen import recording

LIMEN = str(Path(sys.executable).parent / "limen")


def limen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIMEN, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    r = limen("sessions", "keygen", tmp_path / "rec", "--type", "signing")
    assert r.returncode == 0, r.stderr
    return tmp_path / "rec.key", tmp_path / "rec.pub"


PAYLOADS = [
    ("c2u", b"SELECT name FROM users WHERE id = 1;"),
    ("decision", b'{"decision": "allow", "rule": "ci-staging"}'),
    ("u2c", b"\x00\x01binary\x1b[31m row"),
    ("u2c", b"line one\nline two"),
]


def _log(tmp_path: Path, keys: tuple[Path, Path], name: str = "s.log") -> Path:
    sk = recording.load_key(keys[0], "signing")
    return write_log(tmp_path / name, PAYLOADS, sk)


def test_help_for_every_subcommand() -> None:
    for sub in ("verify", "replay", "export", "keygen"):
        r = limen("sessions", sub, "--help")
        assert r.returncode == 0, sub
        assert "usage:" in r.stdout, sub


def test_verify_intact(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    log = _log(tmp_path, keys)
    r = limen("sessions", "verify", log, "--public-key", keys[1])
    assert r.returncode == 0, r.stderr
    assert "intact" in r.stdout
    assert "4 records" in r.stdout
    assert recording.key_id(recording.load_key(keys[1], "signing-public")) in r.stdout


def test_verify_needs_a_trusted_key_or_says_integrity_only(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    log = _log(tmp_path, keys)
    r = limen("sessions", "verify", log)
    assert r.returncode == 2
    assert "--public-key" in r.stderr
    r = limen("sessions", "verify", log, "--integrity-only")
    assert r.returncode == 0
    assert "integrity only" in r.stdout
    assert "NOT" in r.stdout


def test_verify_tampered_names_the_record(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    log = _log(tmp_path, keys)
    data = bytearray(log.read_bytes())
    data[frames(bytes(data))[2].offset + 33] ^= 1
    log.write_bytes(bytes(data))
    r = limen("sessions", "verify", log, "--public-key", keys[1])
    assert r.returncode == 1
    assert "TAMPERED at record 2" in r.stderr
    r = limen("sessions", "verify", log, "--public-key", keys[1], "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 1
    assert out["status"] == "tampered"
    assert out["first_bad"] == 2


def test_verify_wrong_key(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    log = _log(tmp_path, keys)
    assert limen("sessions", "keygen", tmp_path / "other", "--type", "signing").returncode == 0
    r = limen("sessions", "verify", log, "--public-key", tmp_path / "other.pub")
    assert r.returncode == 1
    assert "signed by another key" in r.stderr
    r = limen("sessions", "verify", log, "--public-key", keys[0])
    assert r.returncode == 2
    assert "holds a signing key" in r.stderr


def test_verify_truncated_says_so(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    log = _log(tmp_path, keys)
    data = log.read_bytes()
    log.write_bytes(data[: frames(data)[-1].offset + 5])
    r = limen("sessions", "verify", log, "--public-key", keys[1])
    assert r.returncode == 1
    assert "TRUNCATED" in r.stderr
    assert "TAMPERED" not in r.stderr
    assert "4 complete records" in r.stderr


def test_verify_another_format_version_says_so(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    log = _log(tmp_path, keys)
    data = bytearray(log.read_bytes())
    version = int.from_bytes(data[8:10], "little")
    data[8:10] = (version + 1).to_bytes(2, "little")
    log.write_bytes(bytes(data))
    r = limen("sessions", "verify", log, "--public-key", keys[1])
    assert r.returncode == 1
    assert "UNSUPPORTED" in r.stderr
    assert f"unsupported format version {version + 1}" in r.stderr
    assert f"reads versions 2 to {version}" in r.stderr
    assert "TAMPERED" not in r.stderr


def test_replay_transcript(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    log = _log(tmp_path, keys)
    r = limen("sessions", "replay", log)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "identity ci-bot" in lines[0]
    assert "bot -> upstream" in lines[1]
    assert "SELECT name FROM users" in lines[1]
    assert "decision" in lines[2]
    assert "\\x00\\x01binary\\x1b[31m row" in lines[3]
    assert "\x1b" not in r.stdout  # control bytes never reach the terminal
    assert "line one" in lines[4]
    assert lines[5].strip() == "line two"
    assert "closed and signed" in lines[-1]


def test_export_jsonl(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    log = _log(tmp_path, keys)
    r = limen("sessions", "export", log, "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert objs[0]["type"] == "header"
    assert objs[0]["session_id"] == "sess-1"
    recs = [o for o in objs if o["type"] == "record"]
    assert [o["kind"] for o in recs] == [k for k, _ in PAYLOADS]
    assert recs[0]["text"] == PAYLOADS[0][1].decode()
    assert recs[2]["text"] == PAYLOADS[2][1].decode()  # valid UTF-8, kept as text
    assert objs[-1] == {"type": "end", "status": "closed"}


def test_encrypted_replay_needs_the_key(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    assert limen("sessions", "keygen", tmp_path / "aud", "--type", "recipient").returncode == 0
    sk = recording.load_key(keys[0], "signing")
    pub = recording.load_key(tmp_path / "aud.pub", "recipient-public")
    log = write_log(tmp_path / "e.log", PAYLOADS, sk, recipient=pub)
    r = limen("sessions", "replay", log)
    assert r.returncode == 1
    assert "encrypted" in r.stderr
    r = limen("sessions", "replay", log, "--key", tmp_path / "aud.key")
    assert r.returncode == 0
    assert "SELECT name FROM users" in r.stdout
    r = limen("sessions", "export", log, "--format", "jsonl", "--key", tmp_path / "aud.key")
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == len(PAYLOADS) + 2


def test_config_form_needs_a_readable_config(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    log = _log(tmp_path, keys)
    r = limen("sessions", "replay", log, "--config", tmp_path / "limen.toml")
    assert r.returncode == 2
    assert "limen.toml" in r.stderr
    r = limen("sessions", "replay", tmp_path / "missing.log")
    assert r.returncode == 2
    assert "no such log file" in r.stderr


def test_keygen_does_not_overwrite(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    before = keys[0].read_bytes()
    r = limen("sessions", "keygen", tmp_path / "rec", "--type", "signing")
    assert r.returncode == 2
    assert "already exists" in r.stderr
    assert keys[0].read_bytes() == before
