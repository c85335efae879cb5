"""The ``limen`` command.

Each subcommand lives in its own module of this package with a
``register(subparsers)`` function; ``main`` wires them together. Exit status:
0 success, 1 a failed check or operation, 2 bad usage or bad config.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from limen import __version__

# Order is the order of `limen --help`.
COMMANDS: tuple[str, ...] = (
    "serve",
    "demo",
    "mask",
    "sessions",
    "approvals",
    "config",
    "identity",
    "keys",
    "token",
    "policy",
    "ssh",
    "kubeconfig",
)


class UsageError(Exception):
    """Bad usage or bad configuration: exit status 2."""


class CheckFailed(Exception):
    """A check or operation failed: exit status 1."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` one command's (each command module
    imports what it needs, some of it heavy: Trio, psycopg, pglast; running
    one command imports that one alone)."""
    parser = argparse.ArgumentParser(
        prog="limen",
        description=(
            "limen: an access gateway for AI agents, CI jobs and bots. "
            "Verified identity, statement policy, approvals, inline masking, "
            "tamper-evident recording."
        ),
    )
    parser.add_argument("--version", action="version", version=f"limen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS if only is None else (only,):
        module = importlib.import_module(f"limen.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    first = next((w for w in words if not w.startswith("-")), None)
    leading = words[: words.index(first)] if first is not None else words
    # `limen COMMAND ...` builds that command's parser alone; `limen --help`,
    # a typo or no command builds them all (the full list, "did you mean").
    only = first if first in COMMANDS and not leading else None
    parser = build_parser(only)
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
    except UsageError as exc:
        print(f"limen: {exc}", file=sys.stderr)
        return 2
    except CheckFailed as exc:
        print(f"limen: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `limen mask | head`); not an error of ours.
        return 0
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
