"""limen's SSH user certificate authority.

A bot trades a valid token (OIDC, the dev IdP, client credentials) and its
SSH public key for an OpenSSH user certificate (``limen ssh cert``, ``POST
/v1/ssh/cert``), then runs plain ``ssh -o CertificateFile=…``. The
certificate is signed by limen's CA key (ed25519, ``[gateway]
ssh_ca_key``, default ``STATE_DIR/ssh-user-ca.key``, created on first use,
mode 0600), valid from issue until the token expires (never longer, and at
most ``[identity] max_token_lifetime``), its only principal the token's
subject, its key id ``limen:SUBJECT:serial=N``. The token's groups, issuer
and id travel in the signed extension ``limen-identity@limen`` so the
gateway rebuilds the same :class:`Identity` (a revocation of the token or
its subject covers the certificate's sessions too).

Decoding is the ``cryptography`` package's (``load_ssh_public_identity``);
:func:`SshCa.verify` then fails closed: a certificate of another CA, a host
certificate, one outside its validity window, one with critical options,
principals other than its subject, or a missing or malformed identity
extension is refused with a :class:`CertError`.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    SSHCertificate,
    SSHCertificateBuilder,
    SSHCertificateType,
)

from limen.identity.model import Identity

__all__ = ["CERT_EXTENSION", "CertError", "IssuedCert", "SshCa", "load_or_create_ca"]

CERT_EXTENSION = b"limen-identity@limen"
"""The certificate extension holding the identity (JSON)."""
MAX_CERT_BYTES = 16384
"""The longest certificate blob limen decodes."""
MAX_PUBLIC_KEY_LINE = 8192
#: Extensions an OpenSSH server grants a normal user certificate.
_STANDARD = (b"permit-pty", b"permit-X11-forwarding", b"permit-agent-forwarding")


class CertError(ValueError):
    """A public key or certificate refused (the message says why)."""


class _Embedded(msgspec.Struct, forbid_unknown_fields=True):
    sub: str
    groups: list[str]
    iss: str
    exp: int
    jti: str | None = None


@dataclass(frozen=True)
class IssuedCert:
    line: str
    """The certificate as an OpenSSH ``-cert.pub`` line."""
    serial: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int


def load_or_create_ca(path: Path) -> Ed25519PrivateKey:
    """The CA key at ``path``; generated (ed25519, 0600) when missing.
    A key readable by others is refused."""
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
            pass  # another process created it first
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
    if path.stat().st_mode & 0o077:
        raise CertError(f"the SSH CA key {path} is readable by others; run: chmod 600 {path}")
    key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CertError(f"the SSH CA key {path} is not an ed25519 key")
    return key


class SshCa:
    """Issues and verifies limen's SSH user certificates."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.public = key.public_key()
        self.public_openssh = self.public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )

    def public_line(self) -> str:
        """The CA's public key as an OpenSSH line (``ssh-ed25519 AAAA…``)."""
        return self.public_openssh.decode("ascii") + " limen-ssh-user-ca"

    def issue(
        self, identity: Identity, public_key: str, *, now: float, max_lifetime: float
    ) -> IssuedCert:
        """A certificate for ``public_key`` (an OpenSSH public key line),
        valid from ``now`` until the identity's credential expires."""
        if identity.expires_at is None:
            raise CertError("a certificate needs a credential that expires (a token)")
        if len(public_key) > MAX_PUBLIC_KEY_LINE:
            raise CertError("the public key line is too long")
        try:
            loaded = serialization.load_ssh_public_identity(public_key.strip().encode("ascii"))
        except (ValueError, UnicodeError, TypeError, UnsupportedAlgorithm) as exc:
            raise CertError(f"not an OpenSSH public key: {exc}") from None
        if isinstance(loaded, SSHCertificate):
            raise CertError("send the public key, not a certificate")
        if isinstance(loaded, dsa.DSAPublicKey):
            raise CertError("DSA keys are not accepted")
        start = int(now)
        end = min(int(identity.expires_at), int(now + max_lifetime))
        if end <= start:
            raise CertError("the token has expired")
        serial = secrets.randbits(63)
        key_id = f"limen:{identity.subject}:serial={serial}"
        embedded = _Embedded(
            sub=identity.subject,
            groups=list(identity.groups),
            iss=identity.issuer,
            exp=end,
            jti=identity.token_id,
        )
        builder = (
            SSHCertificateBuilder()
            .public_key(loaded)
            .serial(serial)
            .type(SSHCertificateType.USER)
            .key_id(key_id.encode("utf-8"))
            .valid_principals([identity.subject.encode("utf-8")])
            .valid_after(start)
            .valid_before(end)
        )
        for name in _STANDARD:
            builder = builder.add_extension(name, b"")
        builder = builder.add_extension(CERT_EXTENSION, msgspec.json.encode(embedded))
        cert = builder.sign(self.key)
        line = cert.public_bytes().decode("ascii") + f" {identity.subject}"
        return IssuedCert(line, serial, key_id, (identity.subject,), start, end)

    def verify(self, key_type: str, blob: bytes, *, now: float) -> Identity:
        """The identity of a certificate (its wire blob, ``key_type`` as the
        client named it) that this CA signed and that is valid at ``now``."""
        if not key_type.endswith("-cert-v01@openssh.com") or len(blob) > MAX_CERT_BYTES:
            raise CertError("not a certificate")
        try:
            line = key_type.encode("ascii") + b" " + base64.b64encode(blob)
            cert = serialization.load_ssh_public_identity(line)
        except (ValueError, UnicodeError, TypeError, UnsupportedAlgorithm) as exc:
            raise CertError(f"unreadable certificate: {exc}") from None
        if not isinstance(cert, SSHCertificate):
            raise CertError("not a certificate")
        if cert.type != SSHCertificateType.USER:
            raise CertError("not a user certificate")
        try:  # the signature key is decoded lazily
            signer = cert.signature_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise CertError("unreadable certificate: its signature key") from None
        if not secrets.compare_digest(signer, self.public_openssh):
            raise CertError("not signed by limen's CA")
        try:
            cert.verify_cert_signature()
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            raise CertError("the certificate's signature is bad") from None
        if not cert.valid_after <= now < cert.valid_before:
            raise CertError("the certificate is expired or not yet valid")
        if cert.critical_options:
            raise CertError("the certificate has critical options limen does not enforce")
        data = cert.extensions.get(CERT_EXTENSION)
        if data is None:
            raise CertError("the certificate carries no limen identity")
        try:
            embedded = msgspec.json.decode(data, type=_Embedded)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise CertError("the certificate's limen identity is malformed") from None
        if cert.valid_principals != [embedded.sub.encode("utf-8")]:
            raise CertError("the certificate's principals are not its identity")
        if embedded.exp != cert.valid_before:
            raise CertError("the certificate's validity does not match its identity")
        return Identity(
            subject=embedded.sub,
            groups=tuple(embedded.groups),
            issuer=embedded.iss,
            expires_at=embedded.exp,
            token_id=embedded.jti,
            method="ssh_cert",
        )
