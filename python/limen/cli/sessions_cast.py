"""``limen sessions export --format asciicast`` and ``limen sessions replay
--play``: an SSH session as a terminal recording, checked first.

The log is verified before anything is written: signed by the gateway's
recording key (``--config``) or by ``--public-key``, else for integrity
alone (said on stderr). A tampered log, or one in a format this limen does
not read, is refused (exit 1); a truncated one (no signed trailer: the
session is still open or the writer crashed) is exported with a warning.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from limen import recording
from limen.cli import CheckFailed, UsageError
from limen.cli.sessions_locate import gateway_public_key, load_key, log_path
from limen.recording.asciicast import cast_lines, play
from limen.recording.kubecast import kube_cast_lines

__all__ = ["add_play_arguments", "cmd_export_cast", "cmd_play"]


def add_play_arguments(replay: argparse.ArgumentParser) -> None:
    replay.add_argument(
        "--play",
        action="store_true",
        help="play an SSH session in this terminal at its pace (its output, as the bot saw it)",
    )
    replay.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="with --play: X times faster"
    )
    replay.add_argument(
        "--idle-limit",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="with --play: cap every pause at SECONDS (default 2)",
    )


def _checked(args: argparse.Namespace, path: Path, public: bytes | None) -> None:
    res = recording.verify(path, public)
    if res.code == "version":
        raise CheckFailed(f"{path}: UNSUPPORTED: {res.reason}")
    if res.tampered:
        where = f"record {res.first_bad}" if res.first_bad is not None else "header"
        raise CheckFailed(f"{path}: TAMPERED at {where}: {res.reason}; not exported")
    if res.truncated:
        print(
            f"limen: {path}: TRUNCATED (no signed trailer: still open, or the writer "
            f"crashed); the {res.records} complete records are intact",
            file=sys.stderr,
        )
    elif public is None:
        print(
            f"limen: {path}: intact (integrity only: pass --config or --public-key to check "
            "who signed it)",
            file=sys.stderr,
        )
    if res.header is not None and res.header.protocol not in ("ssh", "kubernetes"):
        raise UsageError(
            f"{path}: a {res.header.protocol} session; asciicast is for SSH sessions "
            "and Kubernetes exec streams (use --format jsonl)"
        )


def _lines(args: argparse.Namespace) -> Iterator[str]:
    path = log_path(args)
    if getattr(args, "public_key", None) is not None:
        public = load_key(args.public_key, "signing-public")
    elif args.config is not None:
        public = gateway_public_key(args)
    else:
        public = None
    _checked(args, path, public)
    key = load_key(args.key, "recipient")
    try:
        log = recording.open_log(path, key)
    except recording.LogError as exc:
        raise CheckFailed(f"{path}: {exc}") from None
    try:
        if log.header.protocol == "kubernetes":  # its exec streams (recording/kubecast.py)
            yield from kube_cast_lines(log.header, log)
        else:
            yield from cast_lines(log.header, log)
    except recording.LogError as exc:
        raise CheckFailed(f"{path}: stopped: {exc}") from None


def cmd_export_cast(args: argparse.Namespace) -> int:
    for line in _lines(args):
        sys.stdout.write(line + "\n")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    if args.speed <= 0 or args.idle_limit < 0:
        raise UsageError("--speed must be above 0 and --idle-limit at least 0")
    play(_lines(args), speed=args.speed, idle_limit=args.idle_limit)
    return 0
