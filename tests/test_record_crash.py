"""A writer process killed with SIGKILL mid-stream leaves a log whose
complete records all read back and that verifies as truncated, not tampered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from _recordlog import frames
from limen import recording

WRITER = textwrap.dedent(
    """
    import sys
    from limen import recording
    path, sk, recipient = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3]
    w = recording.SessionWriter(
        path, session_id="crash", identity="bot", resource="db", protocol="postgres",
        signing_key=sk, recipient=bytes.fromhex(recipient) if recipient else None,
        flush_bytes=3000, flush_ms=None, max_record=700,
    )
    i = 0
    while True:
        # Deterministic payloads: the reader can check each one by its index.
        w.append("c2u" if i % 2 else "u2c", (b"%08d:" % i) * (1 + i % 150))
        i += 1
    """
)


def payload(i: int) -> bytes:
    return (b"%08d:" % i) * (1 + i % 150)


@pytest.mark.integration
@pytest.mark.parametrize("encrypted", [False, True])
def test_sigkill_mid_stream_leaves_a_truncated_readable_log(
    tmp_path: Path, encrypted: bool
) -> None:
    sk = recording.generate_signing_key()
    pair = recording.generate_recipient_key()
    path = tmp_path / "crash.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(path),
            sk.hex(),
            pair.public.hex() if encrypted else "",
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while not (path.exists() and path.stat().st_size > 2_000_000):
            assert proc.poll() is None, "the writer exited on its own"
            assert time.monotonic() < deadline, "the writer wrote too little"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    res = recording.verify(path, recording.signing_public_key(sk))
    assert res.truncated, res.reason
    assert not res.tampered
    assert not res.ok
    log = recording.open_log(path, pair.private if encrypted else None)
    got = list(log)
    assert log.truncated
    # Every record read is the one written at that position, none skipped.
    assert len(got) > 1000
    for i, r in enumerate(got):
        assert r.payload == payload(i), f"record {i}"
    # Nothing complete was lost: records cover every complete frame (plaintext:
    # one record per frame; a payload over max_record spans several frames).
    data = path.read_bytes()
    complete = frames(data)
    assert res.frames == len(complete)
    if not encrypted:
        parts = sum(1 + (len(payload(i)) - 1) // 700 for i in range(len(got)))
        assert parts <= len(complete) < parts + 2
