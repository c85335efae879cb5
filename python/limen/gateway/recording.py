"""Where a gateway session is recorded: one :class:`Recorder` per session.

The session appends the statement texts (``c2u``, masked for the record:
:mod:`limen.gateway.inrecord`), each decision (``event``, JSON) and the
masked bytes sent to the client (``u2c``), then closes it. ``masked=True``
marks a payload that went through limen's masking. ``limen.record``'s
``SessionWriter`` has this shape; until it is plugged in,
:class:`MemoryRecorder` (tests) and :class:`JsonlRecorder` (one JSON line
per record, payload base64) stand in.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from limen import _native

__all__ = [
    "C2U",
    "EVENT",
    "U2C",
    "JsonlRecorder",
    "MemoryRecorder",
    "NativeRecorder",
    "Recorder",
    "RecorderFactory",
    "SessionInfo",
]

C2U = "c2u"
U2C = "u2c"
EVENT = "event"


class Recorder(Protocol):
    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None:
        """``masked``: the payload went through limen's masking (a native
        log keeps it as the record's MASKED flag; others may ignore it)."""

    def close(self) -> None: ...


@runtime_checkable
class NativeRecorder(Protocol):
    """A recorder backed by a native session log, which the native pump
    writes to directly (other recorders get the pump's records queued)."""

    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None: ...
    def close(self) -> None: ...
    def native_writer(self) -> _native.RecordWriter: ...
    def count_statements(self, n: int) -> None: ...


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    subject: str
    resource: str
    protocol: str


RecorderFactory = Callable[[SessionInfo], Recorder]


class MemoryRecorder:
    """Keeps every record in memory (tests)."""

    def __init__(self, info: SessionInfo | None = None) -> None:
        self.info = info
        self.records: list[tuple[str, bytes]] = []
        self.masked: list[int] = []
        """Indexes of the records appended as masked."""
        self.closed = False

    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None:
        if self.closed:
            raise ValueError("recorder is closed")
        if masked:
            self.masked.append(len(self.records))
        self.records.append((kind, bytes(payload)))

    def close(self) -> None:
        self.closed = True

    def of(self, kind: str) -> list[bytes]:
        return [p for k, p in self.records if k == kind]


class JsonlRecorder:
    """One JSON object per line: time, kind, base64 payload."""

    def __init__(self, path: Path, info: SessionInfo) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("x", encoding="utf-8")
        self._write({"kind": "start", **info.__dict__})

    def _write(self, obj: dict[str, object]) -> None:
        self._file.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None:
        data = base64.b64encode(payload).decode("ascii")
        self._write({"t": round(time.time(), 6), "kind": kind, "data": data, "masked": masked})

    def close(self) -> None:
        if not self._file.closed:
            self._write({"t": round(time.time(), 6), "kind": "end"})
            self._file.close()
