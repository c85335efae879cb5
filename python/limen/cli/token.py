"""``limen token``: mint a short-lived token from the dev IdP."""

from __future__ import annotations

import argparse

from limen.cli import CheckFailed, UsageError
from limen.cli._configfile import add_config_argument, load_config_arg
from limen.config import Duration
from limen.identity.devidp import DevIdP, DevIdPError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "token",
        help="mint a short-lived token from the dev IdP",
        description=(
            "Mint a token from the built-in dev IdP (only where the config sets "
            "[identity.dev] enabled = true) and print it alone on stdout. Signs with the "
            "key persisted under the state folder; no server needs to run."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--sub", required=True, metavar="NAME", help="the token's subject")
    parser.add_argument(
        "--group", action="append", default=[], metavar="G", help="a group (repeatable)"
    )
    parser.add_argument(
        "--ttl",
        metavar="DURATION",
        help=(
            "how long the token is valid, e.g. 15m (default: [identity.dev] default_ttl; "
            "at most [identity] max_token_lifetime)"
        ),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config_arg(args)
    if not config.identity.dev.enabled:
        raise UsageError(
            f"{args.config}: the dev IdP is not enabled; set [identity.dev] enabled = true "
            "(tokens from a real provider come from that provider)"
        )
    ttl = config.identity.dev.default_ttl
    if args.ttl is not None:
        try:
            ttl = Duration.parse(args.ttl)
        except ValueError as exc:
            raise UsageError(f"--ttl: {exc}") from None
    limit = config.identity.max_token_lifetime
    if ttl.seconds > limit.seconds:
        raise UsageError(f"--ttl {ttl} is longer than the maximum token lifetime ({limit})")
    if ttl.seconds < 1:
        raise UsageError("--ttl must be at least 1s")
    try:
        token = DevIdP.from_config(config).mint(args.sub, args.group, ttl.seconds)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except (DevIdPError, OSError) as exc:
        raise CheckFailed(str(exc)) from None
    print(token)
    return 0
