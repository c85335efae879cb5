//! Keys and the cryptography around them: Ed25519 signing keys for the
//! trailer, X25519 key pairs for encryption to an auditor, key ids, and the
//! per-log payload key. Keys are raw 32-byte strings everywhere.
//!
//! Payload key: the writer draws an ephemeral X25519 secret per log, and
//! derives `k = BLAKE3-derive_key("limen-record v2 payload key",
//! shared || ephemeral_public || recipient_public)`; only the holder of the
//! recipient's private key can recompute it. Batches are sealed with
//! AES-256-GCM under `k` (format version 2; AES-NI and carry-less multiply
//! when the CPU has them), nonce = the sealed frame's seq (unique per log,
//! and `k` is unique per log).

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::error::{Error, Result};
use crate::format::TAG_LEN;

/// A 32-byte key.
pub type Key32 = [u8; 32];

fn random32() -> Result<Key32> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|_| Error::crypto("the OS random source failed"))?;
    Ok(k)
}

/// A fresh Ed25519 signing key (the 32-byte seed).
pub fn try_generate_signing_key() -> Result<Key32> {
    random32()
}

/// The Ed25519 public key of a signing key.
pub fn signing_public_key(signing_key: &Key32) -> Key32 {
    SigningKey::from_bytes(signing_key)
        .verifying_key()
        .to_bytes()
}

/// A fresh X25519 key pair for an auditor: `(private, public)`.
pub fn try_generate_recipient_key() -> Result<(Key32, Key32)> {
    let private = random32()?;
    let public = recipient_public_key(&private);
    Ok((private, public))
}

/// The X25519 public key of a recipient private key.
pub fn recipient_public_key(private: &Key32) -> Key32 {
    PublicKey::from(&StaticSecret::from(*private)).to_bytes()
}

/// Short key id shown to humans: the first 8 bytes of
/// BLAKE3-derive_key("limen-record v1 key id", public key).
pub fn key_id(public: &Key32) -> [u8; 8] {
    let d = blake3::derive_key("limen-record v1 key id", public);
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    id
}

/// Key id as 16 lowercase hex digits.
pub fn key_id_hex(public: &Key32) -> String {
    key_id(public).iter().map(|b| format!("{b:02x}")).collect()
}

fn payload_key(shared: &[u8; 32], ephemeral: &Key32, recipient: &Key32) -> Key32 {
    let mut m = [0u8; 96];
    m[..32].copy_from_slice(shared);
    m[32..64].copy_from_slice(ephemeral);
    m[64..].copy_from_slice(recipient);
    blake3::derive_key("limen-record v2 payload key", &m)
}

/// Writer side: a fresh ephemeral key agreed with `recipient`.
/// Returns the sealer and the ephemeral public key for the header.
pub(crate) fn try_sealer_for(recipient: &Key32) -> Result<(Sealer, Key32)> {
    let eph = StaticSecret::from(random32()?);
    let eph_pub = PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&PublicKey::from(*recipient));
    if !shared.was_contributory() {
        return Err(Error::config(
            "the recipient public key is invalid (low order)",
        ));
    }
    let k = payload_key(shared.as_bytes(), &eph_pub, recipient);
    Ok((Sealer::new(&k), eph_pub))
}

/// Reader side: the sealer for a log, from the recipient's private key.
pub(crate) fn try_opener_for(
    private: &Key32,
    ephemeral: &Key32,
    recipient: &Key32,
) -> Result<Sealer> {
    if &recipient_public_key(private) != recipient {
        return Err(Error::config(format!(
            "this private key does not match the log's recipient (key id {})",
            key_id_hex(recipient)
        )));
    }
    let shared = StaticSecret::from(*private).diffie_hellman(&PublicKey::from(*ephemeral));
    if !shared.was_contributory() {
        return Err(Error::config(
            "the log's ephemeral key is invalid (low order)",
        ));
    }
    Ok(Sealer::new(&payload_key(
        shared.as_bytes(),
        ephemeral,
        recipient,
    )))
}

/// AES-256-GCM under one log's payload key.
pub(crate) struct Sealer {
    aead: Aes256Gcm,
}

fn nonce_for(frame_seq: u64) -> aes_gcm::Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&frame_seq.to_le_bytes());
    n.into()
}

impl Sealer {
    fn new(k: &Key32) -> Self {
        Sealer {
            aead: Aes256Gcm::new(&(*k).into()),
        }
    }

    /// Encrypt `buf` in place; returns the tag.
    pub(crate) fn try_seal(
        &self,
        frame_seq: u64,
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let tag = self
            .aead
            .encrypt_inout_detached(&nonce_for(frame_seq), aad, buf.into())
            .map_err(|_| Error::crypto("batch too large to encrypt"))?;
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&tag);
        Ok(t)
    }

    /// Decrypt `buf` in place; false when the tag does not authenticate.
    pub(crate) fn open(
        &self,
        frame_seq: u64,
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> bool {
        let tag = aes_gcm::Tag::from(*tag);
        self.aead
            .decrypt_inout_detached(&nonce_for(frame_seq), aad, buf.into(), &tag)
            .is_ok()
    }
}

/// Ed25519 signer for trailers.
pub(crate) struct TrailerSigner {
    key: SigningKey,
}

impl TrailerSigner {
    pub(crate) fn new(seed: &Key32) -> Self {
        TrailerSigner {
            key: SigningKey::from_bytes(seed),
        }
    }
    pub(crate) fn public(&self) -> Key32 {
        self.key.verifying_key().to_bytes()
    }
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// Strict Ed25519 verification; false on a bad key or a bad signature.
pub(crate) fn verify_signature(public: &Key32, msg: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(public) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(sig);
    vk.verify_strict(msg, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let (private, public) = try_generate_recipient_key().unwrap();
        let (sealer, eph) = try_sealer_for(&public).unwrap();
        let mut buf = b"hello world".to_vec();
        let tag = sealer.try_seal(3, b"aad", &mut buf).unwrap();
        assert_ne!(buf, b"hello world");
        let opener = try_opener_for(&private, &eph, &public).unwrap();
        let mut c = buf.clone();
        assert!(opener.open(3, b"aad", &mut c, &tag));
        assert_eq!(c, b"hello world");
        let mut c = buf.clone();
        assert!(!opener.open(4, b"aad", &mut c, &tag));
        let (other, _) = try_generate_recipient_key().unwrap();
        assert!(try_opener_for(&other, &eph, &public).is_err());
    }

    #[test]
    fn signatures_verify_only_under_their_key() {
        let a = try_generate_signing_key().unwrap();
        let b = try_generate_signing_key().unwrap();
        let s = TrailerSigner::new(&a).sign(b"m");
        assert!(verify_signature(&signing_public_key(&a), b"m", &s));
        assert!(!verify_signature(&signing_public_key(&b), b"m", &s));
        assert!(!verify_signature(&signing_public_key(&a), b"n", &s));
        assert_ne!(
            key_id(&signing_public_key(&a)),
            key_id(&signing_public_key(&b))
        );
    }
}
