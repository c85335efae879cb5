//! The file header: [`Header`] as read, [`HeaderFields`] as written,
//! and the little-endian readers the decoders share.

use crate::error::Problem;

use super::{
    CHECKSUM_LEN, FLAG_ENCRYPTED, HEADER_FIXED_LEN, INNER_HEADER_LEN, MAGIC, MAX_HEADER_LEN,
    MAX_RECORD_LIMIT, MAX_TEXT, MIN_RECORD, MIN_VERSION, VERSION,
};

/// The decoded log header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub encrypted: bool,
    /// Wall-clock start, microseconds since the Unix epoch (from the caller).
    pub start_unix_us: u64,
    /// Largest payload per record; larger payloads are split.
    pub max_record: u32,
    /// Largest plaintext batch (encrypted logs), else 0.
    pub max_batch: u32,
    /// Ed25519 public key of the writer (not trusted on its own).
    pub signing_public: [u8; 32],
    /// X25519 public key of the auditor the payloads are encrypted to.
    pub recipient_public: [u8; 32],
    /// This log's ephemeral X25519 public key.
    pub ephemeral_public: [u8; 32],
    pub session_id: String,
    pub identity: String,
    pub resource: String,
    pub protocol: String,
    /// BLAKE3 of the header bytes before it (the last 32 header bytes).
    pub checksum: [u8; 32],
}

pub(super) fn rd_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}
pub(super) fn rd_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}
pub(super) fn rd_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}
pub(super) fn rd_32(b: &[u8], at: usize) -> Option<[u8; 32]> {
    let s = b.get(at..at.checked_add(32)?)?;
    let mut a = [0u8; 32];
    a.copy_from_slice(s);
    Some(a)
}
pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    rd_u64(b, at)
}
pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    rd_u32(b, at)
}

/// Header fields a writer supplies.
#[derive(Clone, Debug)]
pub struct HeaderFields<'a> {
    pub session_id: &'a str,
    pub identity: &'a str,
    pub resource: &'a str,
    pub protocol: &'a str,
    pub start_unix_us: u64,
}

/// Encode a header; returns the bytes (checksum included).
pub(crate) fn encode_header(
    f: &HeaderFields<'_>,
    max_record: u32,
    max_batch: u32,
    signing_public: &[u8; 32],
    enc: Option<(&[u8; 32], &[u8; 32])>,
) -> Result<Vec<u8>, String> {
    let texts = [
        ("session_id", f.session_id),
        ("identity", f.identity),
        ("resource", f.resource),
        ("protocol", f.protocol),
    ];
    let mut len = HEADER_FIXED_LEN + CHECKSUM_LEN;
    for (name, t) in texts {
        if t.len() > MAX_TEXT {
            return Err(format!("{name} is longer than {MAX_TEXT} bytes"));
        }
        len += 2 + t.len();
    }
    let mut h = Vec::with_capacity(len);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    let flags = if enc.is_some() { FLAG_ENCRYPTED } else { 0 };
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&(len as u32).to_le_bytes());
    h.extend_from_slice(&f.start_unix_us.to_le_bytes());
    h.extend_from_slice(&max_record.to_le_bytes());
    h.extend_from_slice(&max_batch.to_le_bytes());
    h.extend_from_slice(signing_public);
    match enc {
        Some((recipient, ephemeral)) => {
            h.extend_from_slice(recipient);
            h.extend_from_slice(ephemeral);
        }
        None => h.extend_from_slice(&[0u8; 64]),
    }
    for (_, t) in texts {
        h.extend_from_slice(&(t.len() as u16).to_le_bytes());
        h.extend_from_slice(t.as_bytes());
    }
    let sum = blake3::hash(&h);
    h.extend_from_slice(sum.as_bytes());
    Ok(h)
}

/// Outcome of looking at the start of a file for a header.
pub enum HeaderParse {
    /// The header, and its length in bytes.
    Done(Box<Header>, usize),
    /// Not enough bytes yet; at least this many are needed.
    Need(usize),
}

/// Decode a header from the start of `b`.
pub fn try_parse_header(b: &[u8]) -> Result<HeaderParse, Problem> {
    if b.len() < 16 {
        if !MAGIC.starts_with(&b[..b.len().min(8)]) {
            return Err(Problem::NotALog);
        }
        return Ok(HeaderParse::Need(16));
    }
    if &b[..8] != MAGIC {
        return Err(Problem::NotALog);
    }
    let version = rd_u16(b, 8).ok_or(Problem::HeaderIncomplete)?;
    if !(MIN_VERSION..=VERSION).contains(&version) {
        return Err(Problem::UnsupportedVersion(version));
    }
    let flags = rd_u16(b, 10).ok_or(Problem::HeaderIncomplete)?;
    let len = rd_u32(b, 12).ok_or(Problem::HeaderIncomplete)? as usize;
    if !(HEADER_FIXED_LEN + 8 + CHECKSUM_LEN..=MAX_HEADER_LEN).contains(&len) {
        return Err(Problem::HeaderDamaged("header length out of range"));
    }
    if b.len() < len {
        return Ok(HeaderParse::Need(len));
    }
    let body = &b[..len - CHECKSUM_LEN];
    let checksum = rd_32(b, len - CHECKSUM_LEN).ok_or(Problem::HeaderIncomplete)?;
    if blake3::hash(body).as_bytes() != &checksum {
        return Err(Problem::HeaderDamaged("checksum mismatch"));
    }
    if flags & !FLAG_ENCRYPTED != 0 {
        return Err(Problem::HeaderDamaged("unknown flags"));
    }
    let encrypted = flags & FLAG_ENCRYPTED != 0;
    let bad = Problem::HeaderDamaged("truncated field");
    let start_unix_us = rd_u64(b, 16).ok_or(bad.clone())?;
    let max_record = rd_u32(b, 24).ok_or(bad.clone())?;
    let max_batch = rd_u32(b, 28).ok_or(bad.clone())?;
    if !(MIN_RECORD..=MAX_RECORD_LIMIT).contains(&max_record) {
        return Err(Problem::HeaderDamaged("max_record out of range"));
    }
    if encrypted {
        let min_batch = max_record as usize + INNER_HEADER_LEN;
        if (max_batch as usize) < min_batch || max_batch > MAX_RECORD_LIMIT {
            return Err(Problem::HeaderDamaged("max_batch out of range"));
        }
    } else if max_batch != 0 {
        return Err(Problem::HeaderDamaged("max_batch set on a plaintext log"));
    }
    let signing_public = rd_32(b, 32).ok_or(bad.clone())?;
    let recipient_public = rd_32(b, 64).ok_or(bad.clone())?;
    let ephemeral_public = rd_32(b, 96).ok_or(bad.clone())?;
    let mut at = HEADER_FIXED_LEN;
    let mut texts: [String; 4] = Default::default();
    for t in texts.iter_mut() {
        let n = rd_u16(body, at).ok_or(bad.clone())? as usize;
        if n > MAX_TEXT {
            return Err(Problem::HeaderDamaged("text field too long"));
        }
        let s = body.get(at + 2..at + 2 + n).ok_or(bad.clone())?;
        *t = String::from_utf8(s.to_vec())
            .map_err(|_| Problem::HeaderDamaged("text field is not UTF-8"))?;
        at += 2 + n;
    }
    if at != body.len() {
        return Err(Problem::HeaderDamaged("length does not match its fields"));
    }
    let [session_id, identity, resource, protocol] = texts;
    Ok(HeaderParse::Done(
        Box::new(Header {
            version,
            encrypted,
            start_unix_us,
            max_record,
            max_batch,
            signing_public,
            recipient_public,
            ephemeral_public,
            session_id,
            identity,
            resource,
            protocol,
            checksum,
        }),
        len,
    ))
}
