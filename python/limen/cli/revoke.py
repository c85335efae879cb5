"""``limen identity revoke``, ``revocations`` and ``lift``: refuse a
credential on every gateway that shares the state store, and end its live
sessions there within about two seconds (each gateway polls the store
every second, :mod:`limen.gateway.revocations`)."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import secrets
import time

from limen.cli import CheckFailed, UsageError
from limen.cli._configfile import add_config_argument, open_state_store
from limen.store import Revocation, StoreError

__all__ = ["register_revocation_commands"]

MAX_REASON = 1000


def register_revocation_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    revoke = sub.add_parser(
        "revoke",
        help="refuse a credential everywhere and end its live sessions",
        description=(
            "Revoke every token of a subject (--sub, optionally of one --issuer), one token "
            "by its id (--token-id, the jti), or a static key (--key, by name). Every gateway "
            "sharing the config's state store refuses it from the next second and ends its "
            "live sessions with 28P01. A token revocation lasts as long as the tokens it "
            "covers can (max_token_lifetime plus leeway); a key's lasts until lifted. Prints "
            "the revocation as JSON."
        ),
    )
    add_config_argument(revoke)
    what = revoke.add_mutually_exclusive_group(required=True)
    what.add_argument("--sub", metavar="SUBJECT", help="every token of this subject")
    what.add_argument("--token-id", metavar="JTI", help="one token, by its jti claim")
    what.add_argument("--key", metavar="NAME", help="a static key ([[identity.keys]] name)")
    revoke.add_argument("--issuer", metavar="URL", help="with --sub: only this issuer's tokens")
    revoke.add_argument("--reason", default="", metavar="TEXT", help="why (kept in the store)")
    revoke.set_defaults(func=run_revoke)

    listing = sub.add_parser(
        "revocations",
        help="list the revocations in force",
        description="List the revocations in force in the config's state store, as JSON lines.",
    )
    add_config_argument(listing)
    listing.set_defaults(func=run_list)

    lift = sub.add_parser(
        "lift",
        help="lift a revocation (the credential works again)",
        description="Remove a revocation by id; new sessions with the credential are let in.",
    )
    add_config_argument(lift)
    lift.add_argument("revocation_id", metavar="ID", help="the id revoke printed")
    lift.set_defaults(func=run_lift)


def _when(at: float | None) -> str | None:
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).isoformat(timespec="seconds")


def _json(rev: Revocation) -> str:
    return json.dumps(
        {
            "id": rev.id,
            "kind": rev.kind,
            "value": rev.value,
            "issuer": rev.issuer,
            "reason": rev.reason,
            "revoked_by": rev.revoked_by,
            "revoked_at": _when(rev.revoked_at),
            "expires_at": _when(rev.expires_at),
        }
    )


def run_revoke(args: argparse.Namespace) -> int:
    if args.issuer is not None and args.sub is None:
        raise UsageError("--issuer goes with --sub")
    if len(args.reason) > MAX_REASON:
        raise UsageError(f"--reason is at most {MAX_REASON} characters")
    kind, value = (
        ("subject", args.sub)
        if args.sub is not None
        else ("token", args.token_id)
        if args.token_id is not None
        else ("key", args.key)
    )
    if not value:
        raise UsageError(f"the {kind} to revoke cannot be empty")
    config, store = open_state_store(args)
    now = time.time()
    lasts = config.identity.max_token_lifetime.seconds + config.identity.leeway.seconds
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    rev = Revocation(
        id="rev_" + secrets.token_hex(6),
        kind=kind,
        value=value,
        issuer=args.issuer,
        reason=args.reason,
        revoked_by=user,
        revoked_at=now,
        expires_at=None if kind == "key" else now + lasts,
    )
    try:
        store.revoke(rev)
        store.audit("revoked", {"id": rev.id, "kind": kind, "value": value}, at=now)
    except StoreError as exc:
        raise CheckFailed(str(exc)) from None
    finally:
        store.close()
    print(_json(rev))
    return 0


def run_list(args: argparse.Namespace) -> int:
    _config, store = open_state_store(args)
    try:
        for rev in store.revocations(now=time.time()):
            print(_json(rev))
    finally:
        store.close()
    return 0


def run_lift(args: argparse.Namespace) -> int:
    _config, store = open_state_store(args)
    try:
        rev = store.lift_revocation(args.revocation_id)
        store.audit("revocation_lifted", {"id": rev.id}, at=time.time())
    except StoreError as exc:
        raise CheckFailed(str(exc)) from None
    finally:
        store.close()
    print(_json(rev))
    return 0
