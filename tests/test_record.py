"""limen.recording's session logs: round trips (hypothesis), encryption, keys and API errors."""

from __future__ import annotations

import gc
import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _recordlog import frames, write_log
from limen import recording

KINDS = [k.value for k in recording.Kind]
SK = recording.generate_signing_key()
PK = recording.signing_public_key(SK)
PAIR = recording.generate_recipient_key()

appends = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.binary(max_size=700),
        st.sampled_from(["bytes", "bytearray", "memoryview"]),
    ),
    max_size=30,
)


def _as(kind: str, b: bytes) -> bytes | bytearray | memoryview:
    if kind == "bytearray":
        return bytearray(b)
    if kind == "memoryview":
        return memoryview(b)
    return b


@settings(max_examples=60, deadline=None)
@given(appends=appends, encrypted=st.booleans(), max_record=st.sampled_from([64, 300, 1 << 20]))
def test_any_appends_read_back_identically(
    appends: list[tuple[str, bytes, str]], encrypted: bool, max_record: int
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.limenlog"
        with recording.SessionWriter(
            path,
            session_id="s",
            identity="bot",
            resource="db",
            protocol="postgres",
            signing_key=SK,
            recipient=PAIR.public if encrypted else None,
            max_record=max_record,
            flush_bytes=512,
        ) as w:
            for kind, payload, form in appends:
                w.append(kind, _as(form, payload))
        log = recording.open_log(path, PAIR.private if encrypted else None)
        back = [(r.kind.value, r.payload) for r in log]
        assert back == [(k, p) for k, p, _ in appends]
        assert not log.truncated
        seqs = [r.seq for r in recording.open_log(path, PAIR.private if encrypted else None)]
        assert seqs == sorted(set(seqs))
        res = recording.verify(path, PK)
        assert res.ok
        assert res.authenticated
        assert res.status == "intact"


def test_header_and_times(tmp_path: Path) -> None:
    path = write_log(tmp_path / "a.log", [("c2u", b"SELECT 1"), ("u2c", b"1")], SK)
    log = recording.open_log(path)
    h = log.header
    assert (h.session_id, h.identity, h.resource, h.protocol) == (
        "sess-1",
        "ci-bot",
        "staging",
        "postgres",
    )
    assert h.signing_public_key == PK
    assert h.signing_key_id == recording.key_id(PK)
    assert not h.encrypted
    recs = list(log)
    assert [r.kind for r in recs] == [recording.Kind.C2U, recording.Kind.U2C]
    assert recs[0].t_us <= recs[1].t_us


def test_append_many_matches_single_appends(tmp_path: Path) -> None:
    payloads = [bytes([i]) * i for i in range(50)]
    with recording.SessionWriter(
        tmp_path / "m.log",
        session_id="s",
        identity="i",
        resource="r",
        protocol="p",
        signing_key=SK,
    ) as w:
        w.append_many("u2c", payloads)
        w.append_many(recording.Kind.EVENT, [bytearray(b"x"), memoryview(b"yz")])
        assert w.records == 52
    back = [r.payload for r in recording.open_log(tmp_path / "m.log")]
    assert back == [*payloads, b"x", b"yz"]


def test_encrypted_log_needs_the_private_key(tmp_path: Path) -> None:
    secret = b"password=hunter2 and more"
    path = write_log(tmp_path / "e.log", [("u2c", secret)], SK, recipient=PAIR.public)
    assert secret not in path.read_bytes()
    with pytest.raises(recording.LogError, match="encrypted"):
        list(recording.open_log(path))
    other = recording.generate_recipient_key()
    with pytest.raises(recording.LogError, match="does not match"):
        list(recording.open_log(path, other.private))
    assert [r.payload for r in recording.open_log(path, PAIR.private)] == [secret]
    # Integrity and authenticity need no private key.
    assert recording.verify(path, PK).ok
    assert recording.open_log(path, PAIR.private).header.recipient_key_id == recording.key_id(
        PAIR.public
    )


def test_writer_refuses_bad_use(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    w = recording.SessionWriter(
        path, session_id="s", identity="i", resource="r", protocol="p", signing_key=SK
    )
    with pytest.raises(ValueError, match="unknown record kind"):
        w.append("bogus", b"x")
    with pytest.raises(ValueError, match="bytes"):
        w.append("c2u", "text, not bytes")  # type: ignore[arg-type]
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.append("c2u", b"x")
    with pytest.raises(OSError, match="cannot create"):
        recording.SessionWriter(
            path, session_id="s", identity="i", resource="r", protocol="p", signing_key=SK
        )
    with pytest.raises(ValueError, match="32 raw bytes"):
        recording.SessionWriter(
            tmp_path / "k.log",
            session_id="s",
            identity="i",
            resource="r",
            protocol="p",
            signing_key=b"short",
        )


def test_unclosed_writer_leaves_a_truncated_readable_log(tmp_path: Path) -> None:
    path = tmp_path / "u.log"
    w = recording.SessionWriter(
        path, session_id="s", identity="i", resource="r", protocol="p", signing_key=SK
    )
    w.append("c2u", b"one")
    w.append("c2u", b"two")
    w.flush()
    log = recording.open_log(path)
    assert [r.payload for r in log] == [b"one", b"two"]
    assert log.truncated
    res = recording.verify(path, PK)
    assert res.truncated
    assert not res.ok
    assert res.records == 2
    w.close()
    assert recording.verify(path, PK).ok


def test_split_payload_spans_records(tmp_path: Path) -> None:
    big = os.urandom(5000)
    path = write_log(tmp_path / "s.log", [("u2c", big), ("c2u", b"next")], SK, max_record=1000)
    data = path.read_bytes()
    assert len(frames(data)) == 5 + 1 + 1  # five parts, one record, the trailer
    recs = list(recording.open_log(path))
    assert [r.payload for r in recs] == [big, b"next"]
    assert [r.seq for r in recs] == [0, 5]


def test_key_files_round_trip_and_check_their_type(tmp_path: Path) -> None:
    recording.save_key(tmp_path / "sk", SK, "signing")
    recording.save_key(tmp_path / "pk", PK, "signing-public")
    assert stat.S_IMODE((tmp_path / "sk").stat().st_mode) == 0o600
    assert recording.load_key(tmp_path / "sk", "signing") == SK
    assert recording.load_key(tmp_path / "pk", "signing-public") == PK
    with pytest.raises(ValueError, match="holds a signing key"):
        recording.load_key(tmp_path / "sk", "signing-public")
    with pytest.raises(FileExistsError):
        recording.save_key(tmp_path / "sk", SK, "signing")
    (tmp_path / "raw").write_bytes(PK)
    assert recording.load_key(tmp_path / "raw", "signing-public") == PK
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(ValueError, match="not a limen key file"):
        recording.load_key(tmp_path / "junk", "signing")
    assert recording.recipient_public_key(PAIR.private) == PAIR.public
    assert recording.key_id(PAIR.public) not in repr(PAIR.private)
    assert "private" not in repr(PAIR).lower() or "key_id" in repr(PAIR)


def test_dropped_writer_writes_what_was_appended(tmp_path: Path) -> None:
    path = tmp_path / "d.log"
    w = recording.SessionWriter(
        path, session_id="s", identity="i", resource="r", protocol="p", signing_key=SK
    )
    w.append_many("u2c", [b"a" * 100] * 500)
    del w
    gc.collect()
    log = recording.open_log(path)
    assert len(list(log)) == 500
    assert log.truncated


def test_version_2_logs_still_read(tmp_path: Path) -> None:
    """Fixtures written by the version 2 writer (signing key bytes 0..31,
    recipient private key bytes 32..63): they verify and read back, with no
    record flagged masked."""
    data = Path(__file__).resolve().parents[1] / "native/limen-record/tests/data"
    signing_public = recording.signing_public_key(bytes(range(32)))
    for name in ("v2-plain.limenlog", "v2-sealed.limenlog"):
        path = data / name
        assert recording.verify(path, signing_public).ok
        recs = list(recording.open_log(path, bytes(range(32, 64)), public_key=signing_public))
        assert [r.kind for r in recs] == [
            recording.Kind.C2U,
            recording.Kind.EVENT,
            recording.Kind.U2C,
            recording.Kind.MASKING,
        ]
        assert recs[0].payload == b"SELECT 1"
        assert not any(r.masked for r in recs)


def test_masked_flag_round_trips(tmp_path: Path) -> None:
    sk = recording.generate_signing_key()
    pair = recording.generate_recipient_key()
    for recipient in (None, pair.public):
        path = tmp_path / f"m-{recipient is None}.log"
        with recording.SessionWriter(
            path,
            session_id="s",
            identity="i",
            resource="r",
            protocol="postgres",
            signing_key=sk,
            recipient=recipient,
            max_record=16,
        ) as w:
            w.append("c2u", b"SELECT '[MASKED:aws-access-key-id]'", masked=True)
            w.append("event", b"{}")
            w.append("u2c", b"raw bytes")
        assert recording.verify(path, recording.signing_public_key(sk)).ok
        recs = list(recording.open_log(path, pair.private))
        assert [r.masked for r in recs] == [True, False, False]
        assert recs[0].payload == b"SELECT '[MASKED:aws-access-key-id]'"  # split, rejoined
