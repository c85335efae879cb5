"""The RSA step of MySQL's caching_sha2_password (and sha256_password).

On a connection without TLS the password travels as
``RSA-OAEP(SHA-1, MGF1-SHA-1)(password || NUL XOR nonce)`` under the
server's public key (MySQL "caching_sha2_password information"; MariaDB
"caching_sha2_password" client plugin page). The rest of the exchange is
sans-IO Rust (``limen_wire::mysql::auth``); the RSA part is here, with
``cryptography`` (OpenSSL), for both sides limen plays:

- as the gateway's **server** side: :func:`new_server_key` makes the key
  whose PEM is sent on a public-key request (``AuthMoreData``), and
  :func:`decrypt_password` recovers the token a client sent;
- as a **client** of the upstream: :func:`encrypt_password` answers
  ``ClientAuth``'s ``RsaEncrypt`` step.

Errors never include the password or the ciphertext.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_NONCE_LEN = 20


def _oaep() -> padding.OAEP:
    # The protocol fixes OAEP with SHA-1 (RSA_PKCS1_OAEP_PADDING in MySQL).
    sha1 = hashes.SHA1()  # noqa: S303
    return padding.OAEP(mgf=padding.MGF1(algorithm=sha1), algorithm=sha1, label=None)


def _xor(data: bytes, nonce: bytes) -> bytes:
    key = nonce[:_NONCE_LEN]
    if not key:
        return data
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data))


def new_server_key(bits: int = 2048) -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh key pair and the public key's PEM (SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, pem


def encrypt_password(public_key_pem: bytes, password: bytes, nonce: bytes) -> bytes:
    """What a client sends: the password, NUL-terminated, XORed with the
    nonce, encrypted under the server's key."""
    key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the server's public key is not an RSA key")
    return key.encrypt(_xor(password + b"\0", nonce), _oaep())


def encrypt_prepared(public_key_pem: bytes, plaintext: bytes) -> bytes:
    """Encrypts the bytes ``ClientAuth`` already XORed (``RsaEncrypt``)."""
    key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the server's public key is not an RSA key")
    return key.encrypt(plaintext, _oaep())


def decrypt_password(key: rsa.RSAPrivateKey, ciphertext: bytes, nonce: bytes) -> bytes:
    """The password a client sent (without its NUL). A ciphertext that does
    not decrypt, or whose plaintext has no terminating NUL, raises
    ValueError."""
    try:
        plain = _xor(key.decrypt(ciphertext, _oaep()), nonce)
    except ValueError:
        raise ValueError("the encrypted password does not decrypt") from None
    if not plain.endswith(b"\0"):
        raise ValueError("the decrypted password is not NUL-terminated")
    return plain[:-1]
