"""The URL a bot connects through limen with: the token's subject (read
from the JWT's ``sub`` claim, not verified here: limen verifies it) as the
user name, the token as the password, the limen resource as the database.
Used by :class:`limen.client.ClientCredentials`; re-exported by
:mod:`limen.client`."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["connection_url", "jwt_claims", "token_subject"]


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, not verified (limen verifies; this only reads)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, TypeError):
        raise ValueError("not a JWT") from None
    if not isinstance(claims, dict):
        raise ValueError("not a JWT")
    return claims


def token_subject(token: str) -> str:
    """The ``sub`` claim of a JWT (not verified). Raises ValueError when the
    token is not a JWT with a subject (pass the user name yourself then)."""
    sub = jwt_claims(token).get("sub")
    if not isinstance(sub, str) or not sub:
        raise ValueError("the token has no subject")
    return sub


def connection_url(
    token: str,
    resource: str,
    *,
    host: str = "127.0.0.1",
    port: int = 6432,
    user: str | None = None,
    scheme: str = "postgresql",
    params: Mapping[str, str] | None = None,
) -> str:
    """``postgresql://USER:TOKEN@host:port/RESOURCE[?params]``: the user is the
    token's subject unless given, the database names the limen resource."""
    name = user if user is not None else token_subject(token)
    netloc_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    url = (
        f"{scheme}://{quote(name, safe='')}:{quote(token, safe='')}@{netloc_host}:{port}/"
        f"{quote(resource, safe='')}"
    )
    if params:
        url += "?" + urlencode(dict(params))
    return url
