"""Test helpers for session logs: an independent reading of the frame layout
(docs/recording-format.md) used to cut, splice and count frames."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from limen import recording

FRAME_HEADER = 28
CHECKSUM = 32
KIND_TRAILER = 0xFF


@dataclass(frozen=True)
class Frame:
    offset: int
    size: int
    seq: int
    kind: int


def header_len(data: bytes) -> int:
    assert data[:8] == b"LIMENREC"
    return int(struct.unpack_from("<I", data, 12)[0])


def frames(data: bytes) -> list[Frame]:
    """Complete frames of a log, in file order (stops at a torn tail)."""
    at = header_len(data)
    out = []
    while at + FRAME_HEADER <= len(data):
        (length,) = struct.unpack_from("<I", data, at)
        (seq,) = struct.unpack_from("<Q", data, at + 4)
        size = FRAME_HEADER + length + CHECKSUM
        if at + size > len(data):
            break
        out.append(Frame(at, size, seq, data[at + 20]))
        at += size
    return out


def write_log(
    path: Path,
    payloads: list[tuple[str, bytes]],
    signing_key: bytes,
    *,
    start_unix_us: int = 1_700_000_000_000_000,
    recipient: bytes | None = None,
    max_record: int = 1 << 20,
) -> Path:
    with recording.SessionWriter(
        path,
        session_id="sess-1",
        identity="ci-bot",
        resource="staging",
        protocol="postgres",
        signing_key=signing_key,
        recipient=recipient,
        start_unix_us=start_unix_us,
        max_record=max_record,
    ) as w:
        for kind, payload in payloads:
            w.append(kind, payload)
    return path
