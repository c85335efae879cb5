"""Checks of ``[identity]``: the leeway and token limits, the dev IdP and its
clients, the OIDC provider, static keys, and whether anyone can connect."""

from __future__ import annotations

import re
from typing import Final

from limen.config.checks.common import HEX64, Report, check_names, check_url
from limen.config.schema import Config

_MAX_LEEWAY: Final = 300.0
SSH_FINGERPRINT: Final = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


def check_identity(config: Config, err: Report, warn: Report) -> None:
    ident = config.identity
    if ident.leeway.seconds > _MAX_LEEWAY:
        err("$.identity.leeway", "at most 5m: a large leeway defeats token expiry")
    if ident.max_token_lifetime.seconds <= 0:
        err("$.identity.max_token_lifetime", "must be longer than zero")
    if ident.token_cache_size < 0:
        err("$.identity.token_cache_size", "cannot be negative")
    dev = ident.dev
    if dev.enabled:
        if not dev.listen.is_loopback:
            err("$.identity.dev.listen", "the dev IdP only listens on loopback")
        if dev.issuer is not None:
            check_url("$.identity.dev.issuer", dev.issuer, err, "the dev issuer")
        if dev.default_ttl.seconds > ident.max_token_lifetime.seconds:
            err("$.identity.dev.default_ttl", "longer than identity.max_token_lifetime")
        if dev.default_ttl.seconds <= 0:
            err("$.identity.dev.default_ttl", "must be longer than zero")
    check_dev_clients(config, err, warn)
    oidc = ident.oidc
    if oidc is not None:
        check_url("$.identity.oidc.issuer", oidc.issuer, err, "the issuer")
        for field in ("discovery_url", "jwks_uri"):
            value = getattr(oidc, field)
            if value is not None:
                check_url(f"$.identity.oidc.{field}", value, err, field)
        if not oidc.audiences() or any(not a for a in oidc.audiences()):
            err("$.identity.oidc.audience", "name at least one non-empty audience")
        if not oidc.algorithms:
            err("$.identity.oidc.algorithms", "allow at least one algorithm")
        if not oidc.groups_claim:
            err("$.identity.oidc.groups_claim", "cannot be empty")
        if oidc.jwks_max_age.seconds < oidc.jwks_refresh.seconds:
            err("$.identity.oidc.jwks_max_age", "shorter than jwks_refresh")
        if dev.enabled and oidc.issuer == dev.issuer_url():
            err("$.identity.oidc.issuer", "the same issuer as the dev IdP")
    check_names([k.name for k in ident.keys], "$.identity.keys", err)
    hashes: dict[str, int] = {}
    for i, key in enumerate(ident.keys):
        path = f"$.identity.keys[{i}]"
        if (key.sha256 is None) == (key.ssh_fingerprint is None):
            err(path, "give one of sha256 (a static key) or ssh_fingerprint (an SSH key)")
            continue
        if key.expires is not None and key.expires.tzinfo is None:
            err(f"{path}.expires", "give a time zone (e.g. 2027-01-31T00:00:00Z)")
        if key.ssh_fingerprint is not None:
            if not SSH_FINGERPRINT.fullmatch(key.ssh_fingerprint):
                err(
                    f"{path}.ssh_fingerprint",
                    "must be SHA256:… as `ssh-keygen -lf KEY.pub` prints it",
                )
            elif key.ssh_fingerprint in hashes:
                err(
                    f"{path}.ssh_fingerprint",
                    f"the same key as keys[{hashes[key.ssh_fingerprint]}]",
                )
            hashes.setdefault(key.ssh_fingerprint, i)
            continue
        assert key.sha256 is not None
        if not HEX64.fullmatch(key.sha256):
            err(
                f"{path}.sha256",
                "must be 64 lowercase hex digits (the output of `limen keys hash`)",
            )
        elif key.sha256 in hashes:
            err(f"{path}.sha256", f"the same key as keys[{hashes[key.sha256]}]")
        hashes.setdefault(key.sha256, i)
    if not dev.enabled and oidc is None and not ident.keys:
        warn("$.identity", "no identity source (dev IdP, OIDC or static keys): nobody can connect")


def check_dev_clients(config: Config, err: Report, warn: Report) -> None:
    dev = config.identity.dev
    limit = config.identity.max_token_lifetime
    if dev.clients and not dev.enabled:
        warn("$.identity.dev.clients", "the dev IdP is not enabled: these clients get no token")
    first: dict[str, int] = {}
    for i, client in enumerate(dev.clients):
        path = f"$.identity.dev.clients[{i}]"
        if not client.client_id:
            err(f"{path}.client_id", "cannot be empty")
        elif not re.fullmatch(r"[\x21-\x7e]+", client.client_id) or ":" in client.client_id:
            err(f"{path}.client_id", "printable ASCII without spaces or ':'")
        elif client.client_id in first:
            other = first[client.client_id]
            err(
                f"{path}.client_id",
                f"duplicate client id {client.client_id!r} (also clients[{other}])",
            )
        first.setdefault(client.client_id, i)
        if not HEX64.fullmatch(client.secret_sha256):
            err(
                f"{path}.secret_sha256",
                "must be 64 lowercase hex digits (the output of `limen identity add-client`)",
            )
        if client.subject is not None and not client.subject:
            err(f"{path}.subject", "cannot be empty (leave it out to use the client id)")
        if client.ttl is not None:
            if client.ttl.seconds <= 0:
                err(f"{path}.ttl", "must be longer than zero")
            elif client.ttl.seconds > limit.seconds:
                err(f"{path}.ttl", f"longer than identity.max_token_lifetime ({limit})")
