"""Where ``limen sessions verify|replay|export`` read a log: a file's path,
or with ``--config`` a session id looked up in the session index, whose log
is read where the node wrote it or, when that file is gone (its node's disk
was lost, or this is another machine), from its copy (``[gateway]
recordings_copy``): the shared directory, or the state store's segments,
written to a private temporary file first. A copy verifies like the log:
truncated when its node died before the log closed, never tampered."""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
from pathlib import Path

from limen import recording
from limen.cli import CheckFailed, UsageError
from limen.cli._configfile import load_config_arg, open_state_store
from limen.config import Config
from limen.config.schema import STATE_COPY
from limen.store import SessionRecord, Store, StoreError

__all__ = ["gateway_public_key", "load_key", "log_path"]


def log_path(args: argparse.Namespace) -> Path:
    """The log ``args.target`` names (a path, or a session id with
    ``args.config``)."""
    if args.config is not None:
        config, store = open_state_store(args)
        try:
            rec = store.session(args.target)
            path = config.path(rec.recording)
            if path.is_file():
                return path
            copy = _copied(config, store, rec, path)
        except StoreError as exc:
            raise CheckFailed(str(exc)) from None
        finally:
            store.close()
        if copy is None:
            raise CheckFailed(f"session {rec.id}: its log {path} is missing")
        print(
            f"limen: session {rec.id}: its log {path} is missing; reading {copy[0]}",
            file=sys.stderr,
        )
        return copy[1]
    path = Path(args.target)
    if not path.is_file():
        raise UsageError(f"{path}: no such log file")
    return path


def _copied(
    config: Config, store: Store, rec: SessionRecord, path: Path
) -> tuple[str, Path] | None:
    """Where the session's copy was read from, and the file that holds it."""
    shared = config.gateway.recordings_copy
    if shared is None:
        return None
    if shared == STATE_COPY:
        if store.segment_size(rec.id) == 0:
            return None
        out = _private_dir() / path.name
        with out.open("xb") as f:
            store.segment_read(rec.id, f)
        return "its copy in the state store", out
    try:
        rel = path.relative_to(config.path(config.gateway.recordings))
    except ValueError:  # recorded under another recordings directory
        rel = Path(path.parent.name, path.name)
    copy = config.path(shared) / rel
    return (f"its copy {copy}", copy) if copy.is_file() else None


def _private_dir() -> Path:
    """A directory only this user can read, removed when the process exits."""
    d = Path(tempfile.mkdtemp(prefix="limen-log-"))
    atexit.register(shutil.rmtree, d, True)
    return d


def load_key(path: Path | None, key_type: recording.KeyType) -> bytes | None:
    if path is None:
        return None
    try:
        return recording.load_key(path, key_type)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def gateway_public_key(args: argparse.Namespace) -> bytes:
    """The public half of the recording key the configured gateway signs with."""
    key_path = load_config_arg(args).recording_key_path()
    private = load_key(key_path, "signing")
    if private is None:  # pragma: no cover - load_key returns bytes for a path
        raise UsageError(f"{key_path}: no recording key")
    return recording.signing_public_key(private)
