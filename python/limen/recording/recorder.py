"""What a gateway session records to: one :class:`Recorder` per session.

The session appends the statement texts (``c2u``, masked for the record:
:mod:`limen.gateway.inrecord`), each decision (``event``, JSON) and the
masked bytes sent to the client (``u2c``), then closes it. ``masked=True``
marks a payload that went through limen's masking.

A gateway makes its recorders with a :data:`RecorderFactory`, called once
per session with the session's :class:`SessionInfo`. The gateway's own is
:func:`limen.recording.index.recorder_factory`: an
:class:`~limen.recording.index.IndexedRecorder`, a signed native log per
session (:mod:`limen.recording.log`) indexed in the state store, which is
also a :class:`NativeRecorder`. :class:`~limen.recording.memory.MemoryRecorder`
is the test double.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from limen import _native
from limen.recording.log import Kind

__all__ = [
    "C2U",
    "EVENT",
    "U2C",
    "NativeRecorder",
    "Recorder",
    "RecorderFactory",
    "SessionInfo",
]

C2U: Final = Kind.C2U.value
"""Bytes (a statement text) the client sent towards the upstream."""
U2C: Final = Kind.U2C.value
"""Bytes the upstream sent back towards the client."""
EVENT: Final = Kind.EVENT.value
"""A JSON event: a decision, a hold, the session's end."""


class Recorder(Protocol):
    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None:
        """``masked``: the payload went through limen's masking (a native
        log keeps it as the record's MASKED flag; others may ignore it)."""

    def close(self, reason: str = "closed") -> None:
        """Ends the recording; ``reason`` is the session's end code (the
        index keeps it)."""


@runtime_checkable
class NativeRecorder(Protocol):
    """A recorder backed by a native session log, which the native pump
    writes to directly (other recorders get the pump's records queued)."""

    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None: ...
    def close(self, reason: str = "closed") -> None: ...
    def native_writer(self) -> _native.RecordWriter: ...
    def count_statements(self, n: int) -> None: ...


@dataclass(frozen=True)
class SessionInfo:
    """What a session tells its recorder when it starts."""

    session_id: str
    subject: str
    resource: str
    protocol: str


RecorderFactory = Callable[[SessionInfo], Recorder]
