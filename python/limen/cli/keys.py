"""``limen keys hash``: ingest a legacy static key as a SHA-256 hash."""

from __future__ import annotations

import argparse
import json
import sys

from limen.cli._configfile import read_secret_input
from limen.identity.statickeys import hash_key

MAX_KEY_LENGTH = 4096
SHORT_KEY = 16


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="ingest legacy static keys",
        description="Manage legacy static keys (kept in the config only as hashes).",
    )
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    hsh = sub.add_parser(
        "hash",
        help="print the config lines that ingest a key read on stdin",
        description=(
            "Read a static key on stdin (without echo on a terminal; a trailing newline "
            "is not part of the key) and print the [[identity.keys]] entry to paste into "
            "the config. The key itself is never printed or stored."
        ),
    )
    hsh.add_argument("--name", default="legacy", help="name of the entry (default: legacy)")
    hsh.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="G",
        help="a group the key grants (repeatable)",
    )
    hsh.set_defaults(func=run_hash)


def run_hash(args: argparse.Namespace) -> int:
    key = read_secret_input("static key: ", MAX_KEY_LENGTH)
    if len(key) < SHORT_KEY:
        print(
            f"warning: the key is only {len(key)} characters long; rotate it soon",
            file=sys.stderr,
        )
    groups = ", ".join(json.dumps(g) for g in args.group)
    print("[[identity.keys]]")
    print(f"name = {json.dumps(args.name)}")
    print(f'sha256 = "{hash_key(key)}"')
    print(f"groups = [{groups}]")
    return 0
