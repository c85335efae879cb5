"""Recording keys: the gateway's Ed25519 signing key and an auditor's
X25519 recipient key pair.

Keys are raw 32-byte strings: an Ed25519 signing key (its seed) and its
public key; an X25519 recipient private key and its public key.
:func:`save_key` / :func:`load_key` keep them in small text files
(``limen <type> <base64>``); private keys are created with mode 0600.
:func:`load_or_create_recording_key` is the gateway's own key, at
``[gateway] recording_key``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from limen import _native

if TYPE_CHECKING:
    from limen.config import Config

__all__ = [
    "KeyType",
    "RecipientKeyPair",
    "generate_recipient_key",
    "generate_signing_key",
    "key_id",
    "load_key",
    "load_or_create_recording_key",
    "recipient_public_key",
    "save_key",
    "signing_public_key",
]

PathLike = str | os.PathLike[str]


def generate_signing_key() -> bytes:
    """A fresh Ed25519 signing key (32 raw bytes; keep it secret)."""
    return _native.record_generate_signing_key()


def signing_public_key(signing_key: bytes) -> bytes:
    """The Ed25519 public key (32 bytes) that verifies ``signing_key``'s logs."""
    return _native.record_signing_public_key(signing_key)


@dataclass(frozen=True, slots=True)
class RecipientKeyPair:
    """An auditor's X25519 key pair: give ``public`` to the gateway
    (``recipient=``), keep ``private`` to read the logs (``key=``)."""

    private: bytes
    public: bytes

    def __repr__(self) -> str:
        return f"RecipientKeyPair(key_id={key_id(self.public)!r})"


def generate_recipient_key() -> RecipientKeyPair:
    """A fresh X25519 key pair for encrypting logs to an auditor."""
    private, public = _native.record_generate_recipient_key()
    return RecipientKeyPair(private, public)


def recipient_public_key(private: bytes) -> bytes:
    """The X25519 public key of a recipient private key."""
    return _native.record_recipient_public_key(private)


def key_id(public_key: bytes) -> str:
    """Short id (16 hex digits) of a public key, as logs and the CLI show it."""
    return _native.record_key_id(public_key)


KeyType = Literal["signing", "signing-public", "recipient", "recipient-public"]

_TAGS: dict[str, str] = {
    "signing": "limen-ed25519-private",
    "signing-public": "limen-ed25519-public",
    "recipient": "limen-x25519-private",
    "recipient-public": "limen-x25519-public",
}


def save_key(path: PathLike, key: bytes, key_type: KeyType) -> None:
    """Write ``key`` as one line ``<tag> <base64>``. Private keys get mode
    0600. Refuses to overwrite an existing file."""
    if len(key) != 32:
        raise ValueError(f"a {key_type} key is 32 bytes, got {len(key)}")
    mode = 0o600 if key_type in ("signing", "recipient") else 0o644
    line = f"{_TAGS[key_type]} {base64.b64encode(key).decode()}\n".encode()
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(line)


def load_key(path: PathLike, key_type: KeyType) -> bytes:
    """Read a key written by :func:`save_key` (or a raw 32-byte file).
    The tag must match ``key_type``, so a private key is never taken for a
    public one or a signing key for a recipient key."""
    data = Path(path).read_bytes()
    if len(data) == 32:
        return data
    try:
        tag, b64 = data.decode("ascii").split()
        key = base64.b64decode(b64, validate=True)
    except (UnicodeDecodeError, ValueError, binascii.Error):
        raise ValueError(f"{path}: not a limen key file") from None
    if tag != _TAGS[key_type]:
        found = next((k for k, t in _TAGS.items() if t == tag), "unknown")
        raise ValueError(f"{path}: holds a {found} key, a {key_type} key is needed")
    if len(key) != 32:
        raise ValueError(f"{path}: the key is not 32 bytes")
    return key


def load_or_create_recording_key(config: Config) -> bytes:
    """The gateway's Ed25519 recording key; created (mode 0600) on first use."""
    path = config.recording_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Another gateway process may have created it first: then use theirs.
        with contextlib.suppress(FileExistsError):
            save_key(path, generate_signing_key(), "signing")
    return load_key(path, "signing")
