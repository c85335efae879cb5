"""``limen config check``: validate a configuration file."""

from __future__ import annotations

import argparse
import sys

from limen.cli import UsageError
from limen.cli._configfile import add_config_argument, load_config_arg
from limen.config import SecretError, check


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config",
        help="validate a configuration",
        description="Work with limen configuration files.",
    )
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    chk = sub.add_parser(
        "check",
        help="validate a config file",
        description=(
            "Validate a config file: its shape (unknown fields, types, durations, "
            "addresses) and its meaning (unknown resources in rules, duplicate names, "
            "plain passwords, listeners without TLS off loopback, ...). Prints OK and a "
            "one-line summary (exit 0), warnings on stderr, or every error with the path "
            "of the value at fault, e.g. $.rules[2].hold (exit 2)."
        ),
    )
    add_config_argument(chk)
    chk.add_argument(
        "--strict", action="store_true", help="treat warnings as errors (exit 2 if any)"
    )
    chk.add_argument(
        "--secrets",
        action="store_true",
        help=(
            "also read every resource's password (environment variable or file) to check "
            "it is there; values are never printed"
        ),
    )
    chk.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    config = load_config_arg(args)
    warnings = [issue for issue in check(config) if issue.severity == "warning"]
    problems: list[str] = []
    if args.secrets:
        for i, resource in enumerate(config.resources):
            try:
                config.resolve_password(resource)
            except SecretError as exc:
                problems.append(f"  $.resources[{i}]: {exc}")
    for issue in warnings:
        print(f"warning: {issue}", file=sys.stderr)
    if args.strict and warnings:
        problems.extend(f"  {issue} (warning, --strict)" for issue in warnings)
    if problems:
        raise UsageError(f"{args.config}: invalid configuration\n" + "\n".join(problems))
    print(f"OK: {args.config}: {config.summary()}")
    return 0
