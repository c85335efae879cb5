"""Session recordings as the gateway keeps them: one tamper-evident log per
session (``limen.record``) under ``[gateway] recordings``, signed with the
gateway's recording key, optionally encrypted to an auditor's key, and
indexed in the state store so that ``limen sessions list/replay/verify
--config`` find it by id.

A :class:`IndexedRecorder` has the gateway's ``Recorder`` shape:
``append(kind, payload)`` and ``close()``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from limen import _native, record
from limen.config import Config
from limen.store import SessionRecord, Store

__all__ = ["IndexedRecorder", "SessionFacts", "load_or_create_recording_key", "recorder_factory"]


class SessionFacts(Protocol):
    """What a session tells its recorder when it starts."""

    @property
    def session_id(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def resource(self) -> str: ...
    @property
    def protocol(self) -> str: ...


def load_or_create_recording_key(config: Config) -> bytes:
    """The gateway's Ed25519 recording key; created (mode 0600) on first use."""
    path = config.recording_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Another gateway process may have created it first: then use theirs.
        with contextlib.suppress(FileExistsError):
            record.save_key(path, record.generate_signing_key(), "signing")
    return record.load_key(path, "signing")


class IndexedRecorder:
    """Writes one session's log and keeps its row in the session index."""

    def __init__(
        self,
        facts: SessionFacts,
        *,
        directory: Path,
        store: Store,
        signing_key: bytes,
        recipient: bytes | None,
        node: str,
        groups: list[str] | None = None,
    ) -> None:
        day = dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d")
        self.path = directory / day / f"{facts.session_id}.limenlog"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._store = store
        self._id = facts.session_id
        self._writer = record.SessionWriter(
            self.path,
            session_id=facts.session_id,
            identity=facts.subject,
            resource=facts.resource,
            protocol=facts.protocol,
            signing_key=signing_key,
            recipient=recipient,
        )
        self.statements = 0
        self._closed = False
        store.session_started(
            SessionRecord(
                id=facts.session_id,
                subject=facts.subject,
                groups=list(groups or []),
                resource=facts.resource,
                protocol=facts.protocol,
                started_at=time.time(),
                recording=str(self.path),
                node=node,
            )
        )

    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None:
        self._writer.append(kind, payload, masked=masked)
        if kind == record.Kind.C2U:
            self.statements += 1

    def native_writer(self) -> _native.RecordWriter:
        """The log's native writer: a native pump appends to it directly
        (and reports its statements through :meth:`count_statements`)."""
        return self._writer.native

    def count_statements(self, n: int) -> None:
        self.statements += n

    def close(self, reason: str = "closed") -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
        finally:
            self._store.session_ended(
                self._id, ended_at=time.time(), statements=self.statements, reason=reason
            )


def recorder_factory(
    config: Config, store: Store, *, node: str | None = None
) -> Callable[[SessionFacts], IndexedRecorder]:
    """A factory the gateway calls once per session."""
    key = load_or_create_recording_key(config)
    recipient = config.recording_recipient_key()
    directory = config.path(config.gateway.recordings)
    name = node or f"{socket.gethostname()}:{os.getpid()}"

    def make(facts: SessionFacts) -> IndexedRecorder:
        return IndexedRecorder(
            facts, directory=directory, store=store, signing_key=key, recipient=recipient, node=name
        )

    return make
