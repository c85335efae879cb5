"""Legacy static keys, ingested as SHA-256 hashes (``[[identity.keys]]``).

The config never holds a key, only its hash; a presented key is hashed and
compared against every entry with :func:`hmac.compare_digest`, all entries
every time, so neither the comparison nor the loop leaks where a match is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

from limen.config import StaticKey
from limen.identity.model import Identity

__all__ = ["STATIC_KEY_ISSUER", "SshPublicKeys", "StaticKeys", "hash_key", "ssh_fingerprint"]

STATIC_KEY_ISSUER = "limen:static-key"


def hash_key(key: str) -> str:
    """The ``sha256`` value to put in ``[[identity.keys]]`` for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class StaticKeys:
    def __init__(self, entries: Sequence[StaticKey]) -> None:
        self._entries = [(bytes.fromhex(e.sha256), e) for e in entries if e.sha256 is not None]

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
        return _identity(found, time.time())


def _identity(entry: StaticKey, now: float) -> Identity | None:
    """The entry's identity, or None once it expired."""
    expires = None if entry.expires is None else int(entry.expires.timestamp())
    if expires is not None and now >= expires:
        return None
    return Identity(
        subject=entry.name,
        groups=tuple(entry.groups),
        issuer=STATIC_KEY_ISSUER,
        expires_at=expires,
        token_id=None,
        method="static_key",
    )


def ssh_fingerprint(blob: bytes) -> str:
    """An SSH public key's fingerprint as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class SshPublicKeys:
    """``[[identity.keys]]`` entries with an ``ssh_fingerprint``: SSH public
    keys limen knows (public values: a dictionary lookup is fine)."""

    def __init__(self, entries: Sequence[StaticKey]) -> None:
        self._by_fingerprint = {
            e.ssh_fingerprint: e for e in entries if e.ssh_fingerprint is not None
        }

    def __len__(self) -> int:
        return len(self._by_fingerprint)

    def match(self, blob: bytes, now: float) -> Identity | None:
        """The identity of the key whose wire blob is ``blob``; None when
        unknown or expired."""
        entry = self._by_fingerprint.get(ssh_fingerprint(blob))
        return None if entry is None else _identity(entry, now)
