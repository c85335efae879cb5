"""Legacy static keys, ingested as SHA-256 hashes (``[[identity.keys]]``).

The config never holds a key, only its hash; a presented key is hashed and
compared against every entry with :func:`hmac.compare_digest`, all entries
every time, so neither the comparison nor the loop leaks where a match is.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from limen.config import StaticKey
from limen.identity.model import Identity

__all__ = ["STATIC_KEY_ISSUER", "StaticKeys", "hash_key"]

STATIC_KEY_ISSUER = "limen:static-key"


def hash_key(key: str) -> str:
    """The ``sha256`` value to put in ``[[identity.keys]]`` for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class StaticKeys:
    def __init__(self, entries: Sequence[StaticKey]) -> None:
        self._entries = [(bytes.fromhex(e.sha256), e) for e in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def match(self, key: str) -> Identity | None:
        """The identity of the entry ``key`` hashes to, or None."""
        if not self._entries:
            return None
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found: StaticKey | None = None
        for stored, entry in self._entries:
            if hmac.compare_digest(stored, digest) and found is None:
                found = entry
        if found is None:
            return None
        return Identity(
            subject=found.name,
            groups=tuple(found.groups),
            issuer=STATIC_KEY_ISSUER,
            expires_at=None,
            token_id=None,
            method="static_key",
        )
