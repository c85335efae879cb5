"""``limen identity``: check what limen makes of a token.

``limen identity verify`` is what an operator runs when a bot cannot get in.
It goes through the same code as the gateway: static keys, then the OIDC
verifier of the token's issuer (discovery and JWKS over HTTP). When the
config enables the dev IdP, this command serves it in-process on an
ephemeral loopback port for the duration of the check and points the dev
verifier's discovery there; the issuer identifier stays the configured one,
so tokens minted by ``limen token`` verify, and no running gateway is needed.
"""

from __future__ import annotations

import argparse
import json

import trio

from limen.cli import CheckFailed
from limen.cli._configfile import add_config_argument, load_config_arg, read_secret_input
from limen.config import Config
from limen.identity import Authenticator, DevIdP, DevIdPError, Identity, IdentityError
from limen.identity.oidc import MAX_TOKEN_SIZE


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "identity",
        help="verify tokens; manage the dev IdP's keys",
        description="Check identities the way the gateway does.",
    )
    sub = parser.add_subparsers(dest="identity_command", metavar="ACTION", required=True)
    verify = sub.add_parser(
        "verify",
        help="read a token (or static key) on stdin and show the identity or the refusal",
        description=(
            "Read a token or static key on stdin and verify it like the gateway would. "
            "Prints the identity as JSON (subject, groups, issuer, expiry, token id), or "
            'a JSON refusal {"refused": true, "reason": ..., "message": ...} and exit 1. '
            "With the dev IdP enabled, it is served on an ephemeral loopback port for the "
            "check. The token is never printed."
        ),
    )
    add_config_argument(verify)
    verify.set_defaults(func=run_verify)
    rotate = sub.add_parser(
        "rotate-dev-key",
        help="add a new dev IdP signing key (older keys keep verifying)",
        description=(
            "Add a new signing key to the dev IdP; new tokens are signed with it, and the "
            "previous keys stay in the JWKS so tokens already issued keep verifying. "
            "Prints the new key id."
        ),
    )
    add_config_argument(rotate)
    rotate.set_defaults(func=run_rotate)


async def verify_credential(config: Config, credential: str) -> Identity | IdentityError:
    """Verify ``credential`` against every identity source of ``config``:
    the identity, or the refusal (returned, not raised, so that it does not
    come out of the nursery wrapped in an exception group)."""
    outcome: Identity | IdentityError
    async with trio.open_nursery() as nursery:
        discovery: str | None = None
        if config.identity.dev.enabled:
            dev = DevIdP.from_config(config)
            discovery = await nursery.start(dev.serve, "127.0.0.1", 0)
        try:
            auth = Authenticator.from_config(config, dev_discovery_url=discovery)
            outcome = await auth.authenticate(credential)
        except IdentityError as exc:
            outcome = exc
        nursery.cancel_scope.cancel()
    return outcome


def run_verify(args: argparse.Namespace) -> int:
    config = load_config_arg(args)
    credential = read_secret_input("token: ", MAX_TOKEN_SIZE)
    try:
        outcome = trio.run(verify_credential, config, credential)
    except* (DevIdPError, OSError) as group:
        raise CheckFailed("; ".join(str(e) for e in group.exceptions)) from None
    if isinstance(outcome, IdentityError):
        print(json.dumps(outcome.to_json()))
        raise CheckFailed(f"refused ({outcome.reason.value}): {outcome.message}")
    identity = outcome
    print(json.dumps(identity.to_json(), indent=2))
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    config = load_config_arg(args)
    try:
        key = DevIdP.from_config(config).store.rotate()
    except (DevIdPError, OSError) as exc:
        raise CheckFailed(str(exc)) from None
    print(key.kid)
    return 0
