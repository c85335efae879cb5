"""Every kind of tampering is detected and named: a changed byte, a record
deleted, reordered or inserted, a trailer that does not match, a signature by
another key. A log cut short is truncated, not tampered."""

from __future__ import annotations

from pathlib import Path

import pytest

from _recordlog import KIND_TRAILER, frames, write_log
from limen import recording

SK = recording.generate_signing_key()
PK = recording.signing_public_key(SK)
PAYLOADS = [
    ("c2u" if i % 2 else "u2c", f"record number {i} ".encode() * (i + 1)) for i in range(10)
]


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, bytes]:
    path = write_log(tmp_path / "orig.log", PAYLOADS, SK)
    data = path.read_bytes()
    assert recording.verify(path, PK).ok
    return path, data


def _check(tmp_path: Path, data: bytes, public_key: bytes = PK) -> recording.VerifyResult:
    p = tmp_path / "mod.log"
    p.write_bytes(data)
    return recording.verify(p, public_key)


def _cut(data: bytes, i: int) -> tuple[bytes, bytes, bytes]:
    f = frames(data)[i]
    return data[: f.offset], data[f.offset : f.offset + f.size], data[f.offset + f.size :]


@pytest.mark.parametrize("where", ["header", "payload", "checksum"])
def test_flipped_byte_names_the_record(tmp_path: Path, log: tuple[Path, bytes], where: str) -> None:
    _, data = log
    f = frames(data)[4]
    at = {"header": f.offset + 2, "payload": f.offset + 40, "checksum": f.offset + f.size - 1}
    mod = bytearray(data)
    mod[at[where]] ^= 0x04
    res = _check(tmp_path, bytes(mod))
    assert res.tampered
    assert not res.ok
    assert not res.truncated
    assert res.first_bad == 4
    assert res.code in {"checksum", "malformed"}
    assert res.reason


def test_flipped_file_header_byte(tmp_path: Path, log: tuple[Path, bytes]) -> None:
    _, data = log
    mod = bytearray(data)
    mod[60] ^= 1
    res = _check(tmp_path, bytes(mod))
    assert res.tampered
    assert res.code == "header"


def test_deleted_record(tmp_path: Path, log: tuple[Path, bytes]) -> None:
    _, data = log
    before, _, after = _cut(data, 3)
    res = _check(tmp_path, before + after)
    assert res.tampered
    assert res.first_bad == 3
    assert res.code == "missing"
    assert "deleted" in (res.reason or "")


def test_reordered_records(tmp_path: Path, log: tuple[Path, bytes]) -> None:
    _, data = log
    f = frames(data)
    a, b = f[5], f[6]
    mod = (
        data[: a.offset]
        + data[b.offset : b.offset + b.size]
        + data[a.offset : a.offset + a.size]
        + data[b.offset + b.size :]
    )
    res = _check(tmp_path, mod)
    assert res.tampered
    assert res.first_bad == 5
    assert res.code in {"missing", "out-of-order"}


def test_inserted_record(tmp_path: Path, log: tuple[Path, bytes]) -> None:
    _, data = log
    _, copy, _ = _cut(data, 1)
    before, rec7, after = _cut(data, 7)
    res = _check(tmp_path, before + copy + rec7 + after)
    assert res.tampered
    assert res.first_bad == 7
    assert res.code == "out-of-order"
    assert "inserted" in (res.reason or "")


def test_record_from_another_log_breaks_the_chain(tmp_path: Path, log: tuple[Path, bytes]) -> None:
    """A record with the right seq taken from another log with the same header:
    its checksum is keyed with the other log's chain, so it does not fit here.
    (The other log's history must differ before the record: two logs whose
    records 0 and 1 are byte for byte the same, times included, share their
    chain up to there, and then the swap is first detected at record 3.)"""
    _, data = log
    other = list(PAYLOADS)
    other[0] = ("u2c", bytes(len(PAYLOADS[0][1])))
    other[2] = ("u2c", bytes(len(PAYLOADS[2][1])))
    odata = write_log(tmp_path / "other.log", other, SK).read_bytes()
    before, _, after = _cut(data, 2)
    _, replacement, _ = _cut(odata, 2)
    res = _check(tmp_path, before + replacement + after)
    assert res.tampered
    assert res.code == "checksum"
    assert res.first_bad == 2


def test_trailer_mismatch(tmp_path: Path, log: tuple[Path, bytes]) -> None:
    _, data = log
    trailer = frames(data)[-1]
    assert trailer.kind == KIND_TRAILER
    mod = bytearray(data)
    mod[trailer.offset + 28 + 30] ^= 0x80  # inside the trailer's chain hash
    res = _check(tmp_path, bytes(mod))
    assert res.tampered
    assert res.first_bad == trailer.seq


def test_trailer_of_a_shorter_log(tmp_path: Path, log: tuple[Path, bytes]) -> None:
    _, data = log
    # Another session's history (record 0 differs): as in the test above, two
    # logs byte for byte the same up to record 8 would share their chain.
    other = [("u2c", bytes(len(PAYLOADS[0][1]))), *PAYLOADS[1:9]]
    short = write_log(tmp_path / "short.log", other, SK).read_bytes()
    f = frames(data)
    mod = data[: f[-2].offset] + short[frames(short)[-1].offset :]
    res = _check(tmp_path, mod)
    assert res.tampered
    assert res.first_bad == 9
    assert res.code == "checksum"


def test_signed_by_another_key(tmp_path: Path) -> None:
    other = recording.generate_signing_key()
    path = write_log(tmp_path / "o.log", PAYLOADS, other)
    res = recording.verify(path, PK)
    assert res.tampered
    assert res.code == "wrong-signer"
    assert recording.key_id(recording.signing_public_key(other)) in (res.reason or "")
    assert res.first_bad == frames(path.read_bytes())[-1].seq
    # Integrity alone (the log's own key) holds, but is not authentication.
    alone = recording.verify(path, None)
    assert alone.ok
    assert not alone.authenticated


def test_data_after_the_trailer(tmp_path: Path, log: tuple[Path, bytes]) -> None:
    _, data = log
    res = _check(tmp_path, data + b"\x00extra")
    assert res.tampered
    assert res.code == "trailing-data"


@pytest.mark.parametrize("cut", [1, 17, 28, 100, 400])
def test_cut_log_is_truncated_not_tampered(
    tmp_path: Path, log: tuple[Path, bytes], cut: int
) -> None:
    _, data = log
    f = frames(data)
    end = f[-1].offset - cut  # cut inside a record (or the trailer when cut is small)
    res = _check(tmp_path, data[:end])
    assert res.truncated
    assert not res.tampered
    assert res.code == "truncated"
    complete = [fr for fr in f if fr.offset + fr.size <= end]
    assert res.records == len(complete)
    p = tmp_path / "mod.log"
    got = [r.payload for r in recording.open_log(p)]
    assert got == [pl for _, pl in PAYLOADS[: len(complete)]]


def test_reading_a_tampered_log_raises_at_the_bad_record(
    tmp_path: Path, log: tuple[Path, bytes]
) -> None:
    _, data = log
    f = frames(data)[6]
    mod = bytearray(data)
    mod[f.offset + 50] ^= 1
    p = tmp_path / "mod.log"
    p.write_bytes(bytes(mod))
    seen: list[int] = []

    def read_all() -> None:
        seen.extend(r.seq for r in recording.open_log(p))

    with pytest.raises(recording.LogError, match="record 6"):
        read_all()
    assert seen == [0, 1, 2, 3, 4, 5]


def test_not_a_log(tmp_path: Path) -> None:
    p = tmp_path / "x.log"
    p.write_bytes(b"GIF89a" + bytes(100))
    res = recording.verify(p, PK)
    assert res.tampered
    assert res.code == "not-a-log"
    with pytest.raises(recording.LogError, match="not a limen session log"):
        recording.open_log(p)
