//! The password proofs limen computes as a client of the upstream.
//!
//! - `mysql_native_password`: `SHA1(pw) XOR SHA1(nonce || SHA1(SHA1(pw)))`
//!   (MariaDB "mysql_native_password plugin"; MySQL
//!   `page_protocol_connection_phase_authentication_methods_native_password_authentication`).
//! - `caching_sha2_password`: `SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || nonce)`
//!   for the fast path; the full path sends the password NUL-terminated,
//!   in clear over TLS or XORed with the nonce and RSA-OAEP encrypted with
//!   the server's public key (MySQL "caching_sha2_password information";
//!   MariaDB "caching_sha2_password" client plugin page). The RSA step is
//!   left to Python `cryptography` (OAEP with SHA-1 MGF1, as MySQL uses):
//!   [`xor_with_nonce`] gives the bytes to encrypt.
//! - MariaDB `client_ed25519`: an Ed25519 signature of the 32-byte nonce
//!   whose secret is the password itself: `az = SHA512(password)` (of any
//!   length, where RFC 8032 hashes a 32-byte seed), clamp `az[..32]` to the
//!   scalar `a`, `A = aB`, `r = SHA512(az[32..] || M)`, `R = rB`,
//!   `S = r + SHA512(R || A || M) a` (MariaDB "Authentication Plugin -
//!   ed25519", plugin/auth_ed25519/ref10 `crypto_sign`). With a 32-byte
//!   password this is RFC 8032 Ed25519 with that password as the seed.
//! - `mysql_clear_password`: the password, NUL-terminated (over TLS only).
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// Plugin names.
pub const MYSQL_NATIVE_PASSWORD: &[u8] = b"mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &[u8] = b"caching_sha2_password";
pub const CLIENT_ED25519: &[u8] = b"client_ed25519";
pub const MYSQL_CLEAR_PASSWORD: &[u8] = b"mysql_clear_password";

/// The 20-byte nonce: greeting and AuthSwitch data end with a NUL that is
/// not part of it.
pub fn nonce(data: &[u8]) -> &[u8] {
    match data.split_last() {
        Some((0, rest)) => rest,
        _ => data,
    }
}

/// mysql_native_password proof (empty for an empty password).
pub fn native_password(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(stage2);
    let mix = h.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// caching_sha2_password fast-path proof (empty for an empty password).
pub fn caching_sha2(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha256::digest(password);
    let stage2 = Sha256::digest(stage1);
    let mut h = Sha256::new();
    h.update(stage2);
    h.update(nonce);
    let mix = h.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// The password NUL-terminated, XORed with the nonce repeated: what
/// caching_sha2_password (and sha256_password) encrypt with the server's
/// RSA public key. An empty nonce leaves the bytes as they are.
pub fn xor_with_nonce(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut out = password.to_vec();
    out.push(0);
    if !nonce.is_empty() {
        for (b, k) in out.iter_mut().zip(nonce.iter().cycle()) {
            *b ^= k;
        }
    }
    out
}

/// The password NUL-terminated (clear-text full authentication; TLS only).
pub fn clear_password(password: &[u8]) -> Vec<u8> {
    let mut out = password.to_vec();
    out.push(0);
    out
}

/// MariaDB client_ed25519: the 64-byte signature of `nonce`.
pub fn ed25519(password: &[u8], nonce: &[u8]) -> [u8; 64] {
    let az: [u8; 64] = Sha512::digest(password).into();
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&az[..32]);
    let public = EdwardsPoint::mul_base_clamped(secret).compress();
    // The clamped scalar, as mul_base_clamped used it.
    secret[0] &= 248;
    secret[31] &= 127;
    secret[31] |= 64;
    let a = Scalar::from_bytes_mod_order(secret);
    let mut h = Sha512::new();
    h.update(&az[32..]);
    h.update(nonce);
    let r = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let big_r = EdwardsPoint::mul_base(&r).compress();
    let mut h = Sha512::new();
    h.update(big_r.as_bytes());
    h.update(public.as_bytes());
    h.update(nonce);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// The Ed25519 public key of a password (what MariaDB stores for
/// `IDENTIFIED VIA ed25519`, base64 without padding).
pub fn ed25519_public(password: &[u8]) -> [u8; 32] {
    let az: [u8; 64] = Sha512::digest(password).into();
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&az[..32]);
    EdwardsPoint::mul_base_clamped(secret).compress().to_bytes()
}
