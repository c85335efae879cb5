"""The gateway's recorder: one signed session log per session
(:mod:`limen.recording.log`) under ``[gateway] recordings``, signed with the
gateway's recording key, optionally encrypted to an auditor's key
(``[gateway] recording_recipient``), and indexed in the state store so that
``limen sessions list/replay/verify --config`` find it by id.

:func:`recorder_factory` makes :class:`IndexedRecorder` s for a store the
caller opened (``limen serve`` shares it with the approvals);
:func:`configured_recorder_factory` opens the configured store itself (the
default of a gateway built without a recorder factory).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from limen import _native
from limen.config import Config
from limen.recording.keys import load_or_create_recording_key
from limen.recording.log import Kind, SessionWriter
from limen.recording.recorder import SessionInfo
from limen.recording.shipping import start_copy
from limen.store import SessionRecord, Store, open_store

__all__ = ["IndexedRecorder", "configured_recorder_factory", "recorder_factory"]


class IndexedRecorder:
    """Writes one session's log and keeps its row in the session index.
    A :class:`~limen.recording.recorder.NativeRecorder`: the native pump
    appends to its log directly."""

    def __init__(
        self,
        info: SessionInfo,
        *,
        directory: Path,
        store: Store,
        signing_key: bytes,
        recipient: bytes | None,
        node: str,
        groups: list[str] | None = None,
        copy_to: Path | None = None,
        log: Callable[..., None] | None = None,
    ) -> None:
        self._root = directory
        self._copy_to = copy_to
        """``[gateway] recordings_copy``: where the closed log is copied."""
        self._log = log
        day = dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d")
        self.path = directory / day / f"{info.session_id}.limenlog"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._store = store
        self._id = info.session_id
        self._writer = SessionWriter(
            self.path,
            session_id=info.session_id,
            identity=info.subject,
            resource=info.resource,
            protocol=info.protocol,
            signing_key=signing_key,
            recipient=recipient,
        )
        self.statements = 0
        self._closed = False
        store.session_started(
            SessionRecord(
                id=info.session_id,
                subject=info.subject,
                groups=list(groups or []),
                resource=info.resource,
                protocol=info.protocol,
                started_at=time.time(),
                recording=str(self.path),
                node=node,
            )
        )

    def append(self, kind: str, payload: bytes, *, masked: bool = False) -> None:
        self._writer.append(kind, payload, masked=masked)
        if kind == Kind.C2U:
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
            if self._copy_to is not None:
                start_copy(self.path, self._root, self._copy_to, self._log)
        finally:
            self._store.session_ended(
                self._id, ended_at=time.time(), statements=self.statements, reason=reason
            )


def recorder_factory(
    config: Config,
    store: Store,
    *,
    node: str | None = None,
    log: Callable[..., None] | None = None,
) -> Callable[[SessionInfo], IndexedRecorder]:
    """A factory the gateway calls once per session: logs under ``[gateway]
    recordings``, indexed in ``store``. Loads (or creates) the recording key
    now, so that a key that cannot be read stops the gateway at start."""
    key = load_or_create_recording_key(config)
    recipient = config.recording_recipient_key()
    directory = config.path(config.gateway.recordings)
    name = node or f"{socket.gethostname()}:{os.getpid()}"
    shared = config.gateway.recordings_copy
    copy_to = None if shared is None else config.path(shared)

    def make(info: SessionInfo) -> IndexedRecorder:
        return IndexedRecorder(
            info,
            directory=directory,
            store=store,
            signing_key=key,
            recipient=recipient,
            node=name,
            copy_to=copy_to,
            log=log,
        )

    return make


def configured_recorder_factory(config: Config) -> Callable[[SessionInfo], IndexedRecorder]:
    """:func:`recorder_factory` over the configured state store (``[gateway]
    state``), opened here. Raises :class:`~limen.store.StoreError` when it
    cannot be opened."""
    store = open_store(config.gateway.state, Path(config.base_dir))
    return recorder_factory(config, store)
