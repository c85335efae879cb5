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
import threading
import time
from collections.abc import Callable
from pathlib import Path

from limen import _native
from limen.config import Config
from limen.config.schema import STATE_COPY
from limen.recording.keys import load_or_create_recording_key
from limen.recording.log import Kind, SessionWriter
from limen.recording.recorder import SessionInfo
from limen.recording.shipping import CopyTarget, DirectoryTarget, LogCopy, Shipper, StoreTarget
from limen.store import SessionRecord, Store, open_store

__all__ = [
    "IndexBacklog",
    "IndexedRecorder",
    "configured_recorder_factory",
    "configured_shipper",
    "recorder_factory",
]


class IndexBacklog:
    """Session ends the state store did not take (it did not answer), kept
    until it does: :meth:`flush` writes them (the node's sweeper, after each
    heartbeat that got through). Written over a sweep's ``node_lost``: the
    real end time and reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ends: dict[str, tuple[float, int, str]] = {}

    def add(self, session_id: str, *, ended_at: float, statements: int, reason: str) -> None:
        with self._lock:
            self._ends[session_id] = (ended_at, statements, reason)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ends)

    def flush(self, store: Store) -> int:
        """Writes every kept end (raises, keeping the rest, when the store
        fails again); how many it wrote."""
        with self._lock:
            ends = list(self._ends.items())
        for session_id, (ended_at, statements, reason) in ends:
            store.session_ended(session_id, ended_at=ended_at, statements=statements, reason=reason)
            with self._lock:
                self._ends.pop(session_id, None)
        return len(ends)


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
        shipper: Shipper | None = None,
        log: Callable[..., None] | None = None,
        backlog: IndexBacklog | None = None,
    ) -> None:
        self._shipper = shipper
        self._backlog = backlog
        """Where the session's end waits when the store does not take it
        (None: the error goes to the caller)."""
        self._log = log
        """``[gateway] recordings_copy``: copies the log as it grows."""
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
        self.copy: LogCopy | None = None
        if shipper is not None:
            self.copy = LogCopy(info.session_id, self.path, directory, shipper.target, log)
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
        if shipper is not None:
            shipper.add(self)

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

    def ship(self) -> bool:
        """Writes the pending records and copies the log's new bytes (the
        :class:`~limen.recording.shipping.Shipper`, every interval). False
        when the copy failed; True when there is nothing to copy (no copy
        configured, or the log closed meanwhile: its close copies the rest)."""
        if self.copy is None:
            return True
        try:
            self._writer.flush()
        except (OSError, ValueError) as exc:
            return True if self._writer.closed else self.copy.failed(exc)
        return self.copy.ship()

    def close(self, reason: str = "closed") -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
            if self._shipper is not None and self.copy is not None:
                self._shipper.remove(self)
                self._shipper.closed(self.copy)
        finally:
            self._index_end(reason)

    def _index_end(self, reason: str) -> None:
        ended_at = time.time()
        try:
            self._store.session_ended(
                self._id, ended_at=ended_at, statements=self.statements, reason=reason
            )
        except Exception as exc:
            if self._backlog is None:
                raise
            self._backlog.add(
                self._id, ended_at=ended_at, statements=self.statements, reason=reason
            )
            if self._log is not None:
                self._log("session_index_deferred", session=self._id, error=type(exc).__name__)


def recorder_factory(
    config: Config,
    store: Store,
    *,
    node: str | None = None,
    log: Callable[..., None] | None = None,
    shipper: Shipper | None = None,
    backlog: IndexBacklog | None = None,
) -> Callable[[SessionInfo], IndexedRecorder]:
    """A factory the gateway calls once per session: logs under ``[gateway]
    recordings``, indexed in ``store``, copied by ``shipper`` (by default
    :func:`configured_shipper`'s, whose closed logs are copied but whose
    live ones only when its :meth:`~limen.recording.shipping.Shipper.run`
    runs). Loads (or creates) the recording key now, so that a key that
    cannot be read stops the gateway at start."""
    key = load_or_create_recording_key(config)
    recipient = config.recording_recipient_key()
    directory = config.path(config.gateway.recordings)
    name = node or f"{socket.gethostname()}:{os.getpid()}"
    if shipper is None:
        shipper = configured_shipper(config, store, node=name, log=log)

    def make(info: SessionInfo) -> IndexedRecorder:
        return IndexedRecorder(
            info,
            directory=directory,
            store=store,
            signing_key=key,
            recipient=recipient,
            node=name,
            shipper=shipper,
            log=log,
            backlog=backlog,
        )

    return make


def configured_shipper(
    config: Config, store: Store, *, node: str, log: Callable[..., None] | None = None
) -> Shipper | None:
    """The :class:`~limen.recording.shipping.Shipper` of ``[gateway]
    recordings_copy`` (None without one)."""
    gw = config.gateway
    if gw.recordings_copy is None:
        return None
    target: CopyTarget
    if gw.recordings_copy == STATE_COPY:
        target = StoreTarget(store, node)
    else:
        target = DirectoryTarget(config.path(gw.recordings_copy))
    return Shipper(target, interval=gw.recordings_copy_interval.seconds, log=log)


def configured_recorder_factory(config: Config) -> Callable[[SessionInfo], IndexedRecorder]:
    """:func:`recorder_factory` over the configured state store (``[gateway]
    state``), opened here. Raises :class:`~limen.store.StoreError` when it
    cannot be opened."""
    store = open_store(config.gateway.state, Path(config.base_dir))
    return recorder_factory(config, store)
