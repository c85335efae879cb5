"""``limen identity``: check what limen makes of a token.

``limen identity verify`` is what an operator runs when a bot cannot get in.
It goes through the same code as the gateway: static keys, then the OIDC
verifier of the token's issuer (discovery and JWKS over HTTP). When the
config enables the dev IdP, this command serves it in-process on an
ephemeral loopback port for the duration of the check and points the dev
verifier's discovery there; the issuer identifier stays the configured one,
so tokens minted by ``limen token`` verify, and no running gateway is needed.

``limen identity add-client`` registers a bot client of the dev IdP's token
endpoint: it makes a random secret, prints the ``[[identity.dev.clients]]``
lines to paste (or append) into the config on stdout — the secret's SHA-256
only — and the secret itself once, on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import secrets
import sys

import trio

from limen.cli import CheckFailed, UsageError
from limen.cli._configfile import add_config_argument, load_config_arg, read_secret_input
from limen.cli.revoke import register_revocation_commands
from limen.config import Config, Duration
from limen.identity import Authenticator, DevIdP, DevIdPError, Identity, IdentityError
from limen.identity.oidc import MAX_TOKEN_SIZE


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "identity",
        help="verify and revoke tokens; manage the dev IdP's keys and clients",
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
    add = sub.add_parser(
        "add-client",
        help="register a bot client of the dev IdP's token endpoint (client credentials)",
        description=(
            "Make a random client secret and print the [[identity.dev.clients]] entry for "
            "it on stdout (only the secret's SHA-256), the secret itself once on stderr. "
            "Append stdout to the config (`>> limen.toml`) and hand the secret to the bot: "
            "it gets tokens from the dev IdP's token endpoint with the OAuth2 "
            "client-credentials grant (see limen.client)."
        ),
    )
    add.add_argument("--client-id", required=True, metavar="ID", help="the client id")
    add.add_argument(
        "--group", action="append", default=[], metavar="G", help="a group (repeatable)"
    )
    add.add_argument(
        "--subject", metavar="NAME", help="the tokens' subject (default: the client id)"
    )
    add.add_argument(
        "--ttl", metavar="DURATION", help="token lifetime, e.g. 15m (default: default_ttl)"
    )
    add.set_defaults(func=run_add_client)
    register_revocation_commands(sub)


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


def run_add_client(args: argparse.Namespace) -> int:
    client_id: str = args.client_id
    if not re.fullmatch(r"[\x21-\x7e]+", client_id) or ":" in client_id:
        raise UsageError(
            f"--client-id {client_id!r}: a client id is printable ASCII without spaces or ':'"
        )
    if args.subject is not None and not args.subject:
        raise UsageError("--subject cannot be empty")
    ttl: Duration | None = None
    if args.ttl is not None:
        try:
            ttl = Duration.parse(args.ttl)
        except ValueError as exc:
            raise UsageError(f"--ttl: {exc}") from None
        if ttl.seconds < 1:
            raise UsageError("--ttl must be at least 1s")
    secret = secrets.token_urlsafe(32)
    lines = [
        "",
        "[[identity.dev.clients]]",
        f"client_id = {json.dumps(client_id)}",
        f'secret_sha256 = "{hashlib.sha256(secret.encode()).hexdigest()}"',
        f"groups = [{', '.join(json.dumps(g) for g in args.group)}]",
    ]
    if args.subject is not None:
        lines.append(f"subject = {json.dumps(args.subject)}")
    if ttl is not None:
        lines.append(f'ttl = "{ttl}"')
    print("\n".join(lines))
    print(
        f"client secret: {secret}\n"
        "(shown once and stored nowhere: give it to the bot now, e.g. as an environment "
        "variable)",
        file=sys.stderr,
    )
    return 0
