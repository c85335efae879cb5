"""``limen token``: mint a short-lived token from the dev IdP (or, with
``--exec-credential``, print one as a Kubernetes ExecCredential for
kubectl's exec plugin: minted, or read from ``--token-file``)."""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import time
from pathlib import Path

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
    parser.add_argument(
        "--sub", metavar="NAME", help="the token's subject (required unless --token-file)"
    )
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
    parser.add_argument(
        "--exec-credential",
        action="store_true",
        help=(
            "print a client.authentication.k8s.io/v1 ExecCredential (token and "
            "expirationTimestamp) for kubectl's exec plugin (see `limen kubeconfig`)"
        ),
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help=(
            "with --exec-credential: the token is read from FILE (written by your identity "
            "provider's client) instead of minted by the dev IdP"
        ),
    )
    parser.set_defaults(func=run)


def _expiry(token: str, fallback: float) -> float:
    """A JWT's ``exp`` (unverified: kubectl only uses it to know when to
    ask again; limen verifies the token itself), else ``fallback``."""
    parts = token.split(".")
    if len(parts) == 3:
        try:
            pad = "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + pad))
            if isinstance(claims, dict) and isinstance(claims.get("exp"), int | float):
                return float(claims["exp"])
        except (ValueError, UnicodeDecodeError):
            pass
    return fallback


def exec_credential(token: str, expires: float) -> str:
    """The ExecCredential kubectl reads from an exec plugin's stdout."""
    at = datetime.datetime.fromtimestamp(expires, tz=datetime.UTC)
    return json.dumps(
        {
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": {"token": token, "expirationTimestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }
    )


def run(args: argparse.Namespace) -> int:
    if args.token_file is not None:
        if not args.exec_credential:
            raise UsageError("--token-file goes with --exec-credential")
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise CheckFailed(f"--token-file: {exc.strerror}") from None
        if not token:
            raise CheckFailed(f"--token-file: {args.token_file} is empty")
        print(exec_credential(token, _expiry(token, time.time() + 60)))
        return 0
    if args.sub is None:
        raise UsageError("--sub is required (or --exec-credential --token-file FILE)")
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
    if args.exec_credential:
        print(exec_credential(token, _expiry(token, time.time() + ttl.seconds)))
    else:
        print(token)
    return 0
