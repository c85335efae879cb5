"""Who is connecting: OIDC tokens, ingested static keys, and a dev IdP.

- :class:`Verifier` verifies one OIDC provider's JWTs (discovery, JWKS cache,
  every claim check); :class:`Authenticator` routes a presented credential to
  the static keys or the verifier of the issuer it names.
- :class:`Identity` is the result; :class:`IdentityError` carries a
  machine-readable :class:`Reason` and a message that never echoes the token.
- :class:`DevIdP` mints tokens and serves discovery + JWKS on loopback.
"""

from limen.identity.devidp import DevIdP, DevIdPError, DevKeyStore
from limen.identity.model import Identity, IdentityError, Reason
from limen.identity.oidc import Authenticator, Verifier, VerifierSettings
from limen.identity.statickeys import StaticKeys, hash_key

__all__ = [
    "Authenticator",
    "DevIdP",
    "DevIdPError",
    "DevKeyStore",
    "Identity",
    "IdentityError",
    "Reason",
    "StaticKeys",
    "Verifier",
    "VerifierSettings",
    "hash_key",
]
