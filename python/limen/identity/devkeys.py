"""The dev IdP's signing keys: one JSON file under the state folder,
created with mode 0600 on first use (its folder 0700); a file readable by
others is refused. :meth:`DevKeyStore.rotate` adds a new key that signs
from then on and keeps the previous ones in the JWKS, so tokens signed
before a rotation still verify; the newest :data:`KEEP_KEYS` are kept."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

__all__ = ["KEEP_KEYS", "DevIdPError", "DevKey", "DevKeyStore"]

KEEP_KEYS: Final = 3
_FORMAT_VERSION: Final = 1

_PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


class DevIdPError(Exception):
    """The dev IdP cannot work (key file unreadable, too open, …)."""


@dataclass(frozen=True)
class DevKey:
    kid: str
    alg: str
    created: int
    private_key: _PrivateKey

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        jwk: dict[str, Any]
        if isinstance(public, ed25519.Ed25519PublicKey):
            jwk = dict(OKPAlgorithm.to_jwk(public, as_dict=True))
        else:
            jwk = dict(ECAlgorithm.to_jwk(public, as_dict=True))
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    @classmethod
    def generate(cls, alg: str) -> DevKey:
        key: _PrivateKey
        if alg == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
        elif alg == "ES256":
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            raise DevIdPError(f"the dev IdP cannot sign with {alg}")
        return cls(kid=_thumbprint(key), alg=alg, created=int(time.time()), private_key=key)


def _thumbprint(key: _PrivateKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of the public key: a stable ``kid``."""
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        jwk = dict(OKPAlgorithm.to_jwk(public, as_dict=True))
        members = {k: jwk[k] for k in ("crv", "kty", "x")}
    else:
        jwk = dict(ECAlgorithm.to_jwk(public, as_dict=True))
        members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


class DevKeyStore:
    """The dev IdP's signing keys in one JSON file (mode 0600)."""

    def __init__(self, path: Path, algorithm: str = "EdDSA") -> None:
        self.path = path
        self.algorithm = algorithm

    def load(self) -> list[DevKey]:
        """All keys, oldest first; creates the file with one key on first use."""
        try:
            return self._read()
        except FileNotFoundError:
            pass
        key = DevKey.generate(self.algorithm)
        try:
            self._write([key], exclusive=True)
        except FileExistsError:
            return self._read()  # someone else created it first
        return [key]

    def signing_key(self) -> DevKey:
        return self.load()[-1]

    def rotate(self) -> DevKey:
        """Add a new signing key; keep the newest :data:`KEEP_KEYS` in the JWKS."""
        keys = self.load()
        new = DevKey.generate(self.algorithm)
        self._write([*keys, new][-KEEP_KEYS:], exclusive=False)
        return new

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.load()]}

    def _read(self) -> list[DevKey]:
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise DevIdPError(
                    f"dev IdP key file {self.path} is accessible by others "
                    f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {self.path}"
                )
            raw = f.read(1024 * 1024)
        try:
            doc = json.loads(raw)
            if doc.get("version") != _FORMAT_VERSION:
                raise ValueError("unknown version")
            keys = []
            for entry in doc["keys"]:
                private = serialization.load_pem_private_key(
                    entry["private_key"].encode(), password=None
                )
                if not isinstance(private, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
                    raise ValueError("unsupported key type")
                keys.append(
                    DevKey(
                        kid=str(entry["kid"]),
                        alg=str(entry["alg"]),
                        created=int(entry["created"]),
                        private_key=private,
                    )
                )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DevIdPError(f"dev IdP key file {self.path} is damaged") from None
        if not keys:
            raise DevIdPError(f"dev IdP key file {self.path} holds no key")
        return keys

    def _write(self, keys: Sequence[DevKey], *, exclusive: bool) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        doc = {
            "version": _FORMAT_VERSION,
            "keys": [
                {
                    "kid": k.kid,
                    "alg": k.alg,
                    "created": k.created,
                    "private_key": k.private_key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    ).decode(),
                }
                for k in keys
            ],
        }
        data = json.dumps(doc, indent=2).encode()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        if exclusive:
            fd = os.open(self.path, flags, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
