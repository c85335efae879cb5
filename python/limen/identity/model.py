"""What identity verification produces: an :class:`Identity`, or an
:class:`IdentityError` carrying a machine-readable :class:`Reason`.

Messages are written for the operator and the bot alike; they never contain
the token or key that was presented.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

import msgspec

__all__ = ["Identity", "IdentityError", "Method", "Reason"]


class Reason(StrEnum):
    """Why a credential was refused."""

    MALFORMED = "malformed"
    """Not a well-formed JWT (or a header/claim of the wrong type)."""
    ALG_NOT_ALLOWED = "alg_not_allowed"
    """``none``, an HMAC algorithm, or one this provider is not allowed to use."""
    UNKNOWN_KEY = "unknown_key"
    """The ``kid`` is in no key the provider publishes (after a refresh)."""
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    """``nbf`` or ``iat`` lies in the future (beyond the leeway)."""
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    NO_EXPIRY = "no_expiry"
    LIFETIME_TOO_LONG = "lifetime_too_long"
    MISSING_CLAIM = "missing_claim"
    BAD_CLAIM = "bad_claim"
    """A claim limen reads (subject, groups) has the wrong type."""
    JWKS_UNAVAILABLE = "jwks_unavailable"
    """The provider's keys could not be fetched and none usable are cached."""
    UNKNOWN_CREDENTIAL = "unknown_credential"
    """Neither a JWT nor a registered static key."""


class IdentityError(Exception):
    """A credential was refused: ``reason`` for machines, ``message`` for people."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"refused": True, "reason": self.reason.value, "message": self.message}


Method = Literal["oidc", "dev", "static_key", "ssh_cert"]


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    """A verified caller."""

    subject: str
    groups: tuple[str, ...]
    issuer: str
    expires_at: int | None
    """Unix time the credential stops being valid; None for static keys."""
    token_id: str | None
    """The token's ``jti``, if it has one (static keys: None)."""
    method: Method
    """How the caller authenticated."""

    def expiry(self) -> str | None:
        if self.expires_at is None:
            return None
        return (
            dt.datetime.fromtimestamp(self.expires_at, tz=dt.UTC).isoformat().replace("+00:00", "Z")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "groups": list(self.groups),
            "issuer": self.issuer,
            "expiry": self.expiry(),
            "expires_at": self.expires_at,
            "token_id": self.token_id,
            "method": self.method,
        }
