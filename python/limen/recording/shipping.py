"""Session logs copied to a shared store (``[gateway] recordings_copy``), so
a node's recordings outlive the node: a directory (a shared filesystem the
operator chooses) or the PostgreSQL state store (``"state:"``).

A log is copied as it grows: every ``[gateway] recordings_copy_interval``
(3 s) the :class:`Shipper` flushes each live session's writer and copies
the bytes written since its last copy; when the session closes, the rest
(with the signed trailer) follows. Copies are byte ranges of the local
file, in order, so a copy is always a byte prefix of the log: while the
session lives, or when its node died, the copy verifies as *truncated*
(every record in it checks), and once the closed log is fully copied, as
*intact*. A node lost between two copies loses at most one interval of its
sessions' records.

- a directory (:class:`DirectoryTarget`): the same ``DAY/ID.limenlog`` path
  under it, appended at the copied offset and fsynced. A log closed before
  its first copy is written whole as ``ID.limenlog.part``, then renamed;
- the state store (:class:`StoreTarget`): rows of
  ``limen_recording_segments`` (:mod:`limen.store.segments`), one per
  copied byte range (at most :data:`SEGMENT_MAX` bytes each).

Copies run in worker threads (never on the session's path). A copy that
fails is logged once per log and outage (``recording_copy_failed``: the
path and the error's kind) and retried at the next interval from where the
last one stopped; the local log stays either way.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import trio

from limen.store import Store

__all__ = [
    "SEGMENT_MAX",
    "CopyTarget",
    "DirectoryTarget",
    "LogCopy",
    "Shipper",
    "StoreTarget",
    "copy_log",
]

#: The largest byte range one copy writes at once (a store row, a write).
SEGMENT_MAX = 4 << 20


class CopyTarget(Protocol):
    """Where copies go."""

    def write(self, session_id: str, rel: Path, offset: int, data: bytes) -> None:
        """Stores ``data`` at byte ``offset`` of the copy of log ``rel``
        (``DAY/ID.limenlog``); raises :class:`OSError` or
        :class:`~limen.store.StoreError` when it cannot."""

    def write_whole(self, session_id: str, rel: Path, path: Path) -> None:
        """Stores the closed log ``path`` whole (nothing of it copied yet)."""


def copy_log(path: Path, root: Path, shared: Path) -> Path:
    """Copies the closed log ``path`` (under ``root``) to the same relative
    path under ``shared`` through a ``.part`` file; returns the copy's path."""
    target = shared / path.relative_to(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    with path.open("rb") as src, part.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    part.replace(target)
    return target


class DirectoryTarget:
    """Copies under a shared directory, at the log's ``DAY/ID`` path."""

    def __init__(self, shared: Path) -> None:
        self.shared = shared

    def write(self, session_id: str, rel: Path, offset: int, data: bytes) -> None:
        target = self.shared / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o640)
        try:
            size = os.fstat(fd).st_size
            if size < offset:  # the copy lost bytes (removed, cut): refuse to leave a gap
                raise CopyGapError(f"{target} holds {size} bytes, {offset} were copied")
            written = 0
            while written < len(data):
                written += os.pwrite(fd, data[written:], offset + written)
            os.ftruncate(fd, offset + len(data))  # a failed earlier write's tail
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_whole(self, session_id: str, rel: Path, path: Path) -> None:
        copy_log(path, path.parents[len(rel.parts) - 1], self.shared)


class StoreTarget:
    """Copies in the state store's ``limen_recording_segments``."""

    def __init__(self, store: Store, node: str) -> None:
        self.store = store
        self.node = node

    def write(self, session_id: str, rel: Path, offset: int, data: bytes) -> None:
        self.store.segment_put(session_id, offset, data, node=self.node, at=time.time())

    def write_whole(self, session_id: str, rel: Path, path: Path) -> None:
        offset = 0
        with path.open("rb") as src:
            while chunk := src.read(SEGMENT_MAX):
                self.write(session_id, rel, offset, chunk)
                offset += len(chunk)


class CopyGapError(OSError):
    """The copy no longer holds what was copied to it."""


class LogCopy:
    """One log's copy: how far it got. :meth:`ship` is safe from any thread
    (one at a time per log)."""

    def __init__(
        self,
        session_id: str,
        path: Path,
        root: Path,
        target: CopyTarget,
        log: Callable[..., None] | None = None,
    ) -> None:
        self.session_id = session_id
        self.path = path
        self.rel = path.relative_to(root)
        self.target = target
        self.log = log
        self.copied = 0
        """Bytes of the log the copy holds."""
        self._lock = threading.Lock()
        self._failing = False

    def ship(self, *, closed: bool = False) -> bool:
        """Copies what the file holds beyond :attr:`copied`; ``closed``: the
        log is closed (a log with nothing copied yet goes whole). False
        when the copy failed (logged once until a copy succeeds)."""
        with self._lock:
            try:
                if closed and self.copied == 0:
                    self.target.write_whole(self.session_id, self.rel, self.path)
                    self.copied = self.path.stat().st_size
                else:
                    self._ship_tail()
            except CopyGapError as exc:
                self.copied = 0  # start the copy over at the next interval
                return self.failed(exc)
            except Exception as exc:  # a driver's error too: never the gateway's end
                return self.failed(exc)
            self._failing = False
            return True

    def _ship_tail(self) -> None:
        with self.path.open("rb") as src:
            src.seek(self.copied)
            while chunk := src.read(SEGMENT_MAX):
                self.target.write(self.session_id, self.rel, self.copied, chunk)
                self.copied += len(chunk)

    def failed(self, exc: Exception) -> bool:
        """Logs a failure (once until a copy succeeds); False."""
        if not self._failing and self.log is not None:
            self.log("recording_copy_failed", path=str(self.path), error=type(exc).__name__)
        self._failing = True
        return False


class Live(Protocol):
    """A live session's recorder, as the shipper sees it."""

    def ship(self) -> bool:
        """Flushes its log and copies the new bytes; False when that failed."""


class Shipper:
    """Copies every live log every ``interval`` seconds, and each closed log
    in a background thread."""

    def __init__(
        self,
        target: CopyTarget,
        *,
        interval: float,
        log: Callable[..., None] | None = None,
        in_thread: bool = True,
    ) -> None:
        self.target = target
        self.interval = interval
        self.log = log
        self.in_thread = in_thread
        """Copies in a worker thread (False: inline, for tests under a
        MockClock, whose autojump would move time while a thread works)."""
        self._live: dict[int, Live] = {}
        self._lock = threading.Lock()
        self.rounds = 0

    def add(self, recorder: Live) -> None:
        with self._lock:
            self._live[id(recorder)] = recorder

    def remove(self, recorder: Live) -> None:
        with self._lock:
            self._live.pop(id(recorder), None)

    def live(self) -> list[Live]:
        with self._lock:
            return list(self._live.values())

    def ship_all(self) -> int:
        """One round: every live log flushed and copied; how many failed."""
        failed = sum(1 for recorder in self.live() if not recorder.ship())
        self.rounds += 1
        return failed

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.interval)
            if self.in_thread:
                await trio.to_thread.run_sync(self.ship_all)
            else:
                self.ship_all()

    def closed(self, copy: LogCopy) -> threading.Thread | None:
        """The rest of a closed log, in a (non-daemon: the process waits for
        it at exit) thread; inline (None) when not :attr:`in_thread`."""
        if not self.in_thread:
            copy.ship(closed=True)
            return None
        thread = threading.Thread(
            target=copy.ship, kwargs={"closed": True}, name="limen-recording-copy"
        )
        thread.start()
        return thread
