"""limen.mysql_rsa against PyMySQL's own caching_sha2_password RSA step (a
real client's code): what PyMySQL encrypts, limen decrypts, and what limen
encrypts for an upstream, an RSA key holder decrypts."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from pymysql import _auth

from limen.mysql_rsa import decrypt_password, encrypt_password, encrypt_prepared, new_server_key

KEY, PEM = new_server_key()


@given(
    password=st.binary(min_size=0, max_size=100).filter(lambda b: b"\0" not in b),
    nonce=st.binary(min_size=20, max_size=21),
)
@settings(max_examples=25, deadline=None)
def test_pymysql_client_to_limen_server(password: bytes, nonce: bytes) -> None:
    ciphertext = _auth.sha2_rsa_encrypt(password, nonce, PEM)
    assert decrypt_password(KEY, ciphertext, nonce) == password


def test_limen_client_matches_what_a_server_decrypts() -> None:
    nonce = bytes(range(1, 21))
    ct = encrypt_password(PEM, b"s3cret token", nonce)
    assert decrypt_password(KEY, ct, nonce) == b"s3cret token"
    # encrypt_prepared takes ClientAuth's XORed bytes (see the Rust vectors:
    # pymysql._auth._xor_password(b"secret\0", bytes(range(1, 21)))).
    ct = encrypt_prepared(PEM, bytes.fromhex("72676076607207"))
    assert decrypt_password(KEY, ct, nonce) == b"secret"


def test_failures_say_nothing_secret() -> None:
    nonce = bytes(20)
    with pytest.raises(ValueError, match="does not decrypt") as e:
        decrypt_password(KEY, b"\x00" * 256, nonce)
    assert "\\x" not in str(e.value)
    # A plaintext without its NUL is refused.
    public = serialization.load_pem_public_key(PEM)

    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    with pytest.raises(ValueError, match="NUL"):
        decrypt_password(KEY, public.encrypt(b"no-nul", oaep), nonce)
    not_rsa = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="not an RSA key"):
        encrypt_password(not_rsa, b"x", nonce)
