"""A recorder that keeps every record in memory: the tests' double.

A gateway records to signed logs unless it is given another factory
(``PgGateway(..., recorder_factory=...)``); tests that look at what a
session recorded pass one that makes :class:`MemoryRecorder` s.
"""

from __future__ import annotations

from limen.recording.recorder import SessionInfo

__all__ = ["MemoryRecorder"]


class MemoryRecorder:
    """Keeps every record in memory, in order."""

    def __init__(self, info: SessionInfo | None = None) -> None:
        self.info = info
        self.records: list[tuple[str, bytes]] = []
        self.masked: list[int] = []
        """Indexes of the records appended as masked."""
        self.closed = False
        self.reason: str | None = None
        """The end reason :meth:`close` was given."""

    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None:
        if self.closed:
            raise ValueError("recorder is closed")
        if masked:
            self.masked.append(len(self.records))
        self.records.append((kind, bytes(payload)))

    def close(self, reason: str = "closed") -> None:
        self.closed = True
        self.reason = reason

    def of(self, kind: str) -> list[bytes]:
        """The payloads of every record of ``kind``."""
        return [p for k, p in self.records if k == kind]
