"""Reading a JWT before and after its signature is checked: its shape and
size, its segments (strict JSON: no ``NaN``/``Infinity``), and its claims
(times, the subject, the groups), each refusal an :class:`IdentityError`
with its :class:`Reason`. Used by :mod:`limen.identity.oidc`."""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any, Final

from limen.identity.model import IdentityError, Reason

__all__ = [
    "JWT_SHAPE",
    "MAX_NAME_LENGTH",
    "MAX_TOKEN_SIZE",
    "ago",
    "check_shape",
    "claim_at",
    "claim_name",
    "decode_segment",
    "groups_of",
    "no_constants",
    "time_claim",
    "unverified_issuer",
]

MAX_TOKEN_SIZE: Final = 16 * 1024
MAX_NAME_LENGTH: Final = 256
_MAX_TIME: Final = 2.0**53
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
JWT_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The claim at a dotted path (``realm_access.roles``); a top-level
    claim whose name itself has dots (``https://example.com/groups``) wins.
    None when absent."""
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def time_claim(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdentityError(Reason.MALFORMED, f"the {name!r} claim is not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or abs(number) > _MAX_TIME:
        raise IdentityError(Reason.MALFORMED, f"the {name!r} claim is not a plausible time")
    return number


def claim_name(value: Any, what: str) -> str:
    """A subject or group name: a short string without control characters."""
    if not isinstance(value, str):
        raise IdentityError(Reason.BAD_CLAIM, f"{what} is not a string")
    if len(value) > MAX_NAME_LENGTH or _CONTROL.search(value):
        raise IdentityError(
            Reason.BAD_CLAIM,
            f"{what} is longer than {MAX_NAME_LENGTH} characters or has control characters",
        )
    return value


def no_constants(name: str) -> Any:
    """``parse_constant`` for :func:`json.loads`: ``NaN`` and ``Infinity`` are not JSON."""
    raise ValueError(f"{name} is not JSON")


def decode_segment(segment: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return json.loads(raw, parse_constant=no_constants)
    except ValueError:
        raise IdentityError(Reason.MALFORMED, "the token is not a well-formed JWT") from None


def check_shape(token: str) -> None:
    if len(token) > MAX_TOKEN_SIZE:
        raise IdentityError(Reason.MALFORMED, f"the token is longer than {MAX_TOKEN_SIZE} bytes")
    if not JWT_SHAPE.fullmatch(token):
        raise IdentityError(
            Reason.MALFORMED, "the token is not a JWT (three base64url parts separated by '.')"
        )


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, before any verification (for routing only)."""
    check_shape(token)
    claims = decode_segment(token.split(".")[1])
    if not isinstance(claims, dict):
        raise IdentityError(Reason.MALFORMED, "the token's claims are not a JSON object")
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


def groups_of(value: Any, claim: str) -> tuple[str, ...]:
    """The groups claim's names (a string or a list of strings), once each."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (claim_name(value, f"the groups claim {claim!r}"),)
    if isinstance(value, list):
        names = [claim_name(g, f"an entry of the groups claim {claim!r}") for g in value]
        return tuple(dict.fromkeys(names))
    raise IdentityError(
        Reason.BAD_CLAIM, f"the groups claim {claim!r} is not a string or a list of strings"
    )


def ago(seconds: float) -> str:
    """A duration for a refusal's message (``90s``, ``5m00s``, ``2h00m``)."""
    whole = max(0, round(seconds))
    if whole < 120:
        return f"{whole}s"
    if whole < 7200:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"
