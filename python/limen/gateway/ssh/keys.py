"""SSH keys: limen's own host key (created on first use under the state
folder, mode 0600, like the dev IdP key), the resource's private key, and
the pinned upstream host key (a ``known_hosts`` line)."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from limen.config import Config, Resource

__all__ = ["PinnedKey", "SshKeyError", "host_key", "host_key_path", "pinned_key", "private_key"]

_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)


class SshKeyError(ValueError):
    """A key that cannot be read (the message names it, never its bytes)."""


def host_key_path(config: Config) -> Path:
    return config.state_dir() / "ssh-host-ed25519.key"


def host_key(config: Config) -> paramiko.PKey:
    """limen's SSH host key; generated (ed25519, 0600) when missing."""
    path = host_key_path(config)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another gateway process created it first
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
    mode = path.stat().st_mode & 0o077
    if mode:
        raise SshKeyError(f"the SSH host key {path} is readable by others; run: chmod 600 {path}")
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def private_key(config: Config, resource: Resource) -> paramiko.PKey:
    """The resource's upstream private key (file or env)."""
    secret = resource.resolve_private_key(Path(config.base_dir))
    if secret is None:
        raise SshKeyError(f"resource {resource.name!r} has no private_key_file or private_key_env")
    text = secret.reveal()
    if not text.endswith("\n"):
        text += "\n"
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise SshKeyError(
        f"resource {resource.name!r}: the private key ({secret.source}) is unreadable"
    )


class PinnedKey:
    """The upstream host key a resource pins: its type and blob."""

    def __init__(self, key_type: str, blob: bytes) -> None:
        self.key_type = key_type
        self.blob = blob

    def matches(self, key: paramiko.PKey) -> bool:
        return key.get_name() == self.key_type and key.asbytes() == self.blob


def pinned_key(resource: Resource) -> PinnedKey:
    """The resource's ``host_key`` line (``[host]:port type base64`` or
    ``type base64``, an optional comment after)."""
    line = resource.host_key
    if line is None:
        raise SshKeyError(f"resource {resource.name!r} pins no host_key")
    fields = line.split()
    if fields and not _is_key_type(fields[0]):
        fields = fields[1:]
    if len(fields) < 2 or not _is_key_type(fields[0]):
        raise SshKeyError(f"resource {resource.name!r}: host_key is not a known_hosts line")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except ValueError:
        raise SshKeyError(f"resource {resource.name!r}: host_key has bad base64") from None
    return PinnedKey(fields[0], blob)


def _is_key_type(field: str) -> bool:
    return field.startswith(("ssh-", "ecdsa-", "sk-"))
