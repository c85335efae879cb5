"""Completed session logs copied to a shared directory (``[gateway]
recordings_copy``: a shared filesystem the operator chooses), so a
node's recordings outlive the node.

A log is copied once it is closed and signed, in a background thread (the
session's end never waits for it), to the same ``DAY/ID.limenlog`` path
under the shared directory: written as ``ID.limenlog.part`` there, flushed
to disk, then renamed, so a reader of the shared directory never sees half
a log. A copy that fails is logged (``recording_copy_failed``: the path and
the error's kind) and the local log stays.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["copy_log", "start_copy"]


def copy_log(path: Path, root: Path, shared: Path) -> Path:
    """Copies the closed log ``path`` (under ``root``) to the same relative
    path under ``shared``; returns the copy's path."""
    target = shared / path.relative_to(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    with path.open("rb") as src, part.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    part.replace(target)
    return target


def start_copy(
    path: Path, root: Path, shared: Path, log: Callable[..., None] | None = None
) -> threading.Thread:
    """:func:`copy_log` in a (non-daemon: the process waits for it at exit)
    thread."""

    def run() -> None:
        try:
            copy_log(path, root, shared)
        except OSError as exc:
            if log is not None:
                log("recording_copy_failed", path=str(path), error=type(exc).__name__)

    thread = threading.Thread(target=run, name="limen-recording-copy")
    thread.start()
    return thread
