//! The byte layout: file header, frame header, trailer body, and the small
//! pure functions that encode and decode them. No I/O, no clock, no crypto
//! state; see `docs/recording-format.md` for the tables.
//!
//! All integers are little-endian. Every decoder here takes a slice, checks
//! each length before it reads, and returns a [`Problem`] instead of
//! panicking.

use crate::error::Problem;

mod header;

pub(crate) use header::{encode_header, u32_at, u64_at};
use header::{rd_32, rd_u32, rd_u64};
pub use header::{try_parse_header, Header, HeaderFields, HeaderParse};

/// First eight bytes of every log.
pub const MAGIC: &[u8; 8] = b"LIMENREC";
/// Format version written by this crate. Version 3 adds the record flag
/// [`FLAG_MASKED`]; version 2 seals batches with AES-256-GCM (version 1
/// used ChaCha20-Poly1305).
pub const VERSION: u16 = 3;
/// The oldest version this crate reads (version 2 logs read as before:
/// their records never carry [`FLAG_MASKED`]).
pub const MIN_VERSION: u16 = 2;
/// Header flag: payloads are encrypted to the recipient key.
pub const FLAG_ENCRYPTED: u16 = 1;
/// Length of the fixed part of the header (before the strings).
pub const HEADER_FIXED_LEN: usize = 128;
/// Cap on each header string (session id, identity, resource, protocol).
pub const MAX_TEXT: usize = 4096;
/// Cap on the whole header.
pub const MAX_HEADER_LEN: usize = HEADER_FIXED_LEN + 4 * (2 + MAX_TEXT) + 32;
/// Frame header: len, seq, t_us, kind, flags, reserved, check word.
pub const FRAME_HEADER_LEN: usize = 28;
/// BLAKE3 checksum after each frame's payload.
pub const CHECKSUM_LEN: usize = 32;
/// Bytes a frame adds around its payload.
pub const FRAME_OVERHEAD: usize = FRAME_HEADER_LEN + CHECKSUM_LEN;
/// Frame flag: this record's payload continues in the next record.
pub const FLAG_MORE: u8 = 1;
/// Record flag (version 3): the payload went through limen's masking before
/// it was written (the secrets it found are replaced; a `masking` record
/// after it names the detectors). Set on every part of a split payload.
pub const FLAG_MASKED: u8 = 2;

/// The record flags a log of `version` may carry.
pub fn record_flags(version: u16) -> u8 {
    if version >= 3 {
        FLAG_MORE | FLAG_MASKED
    } else {
        FLAG_MORE
    }
}
/// Smallest allowed `max_record`.
pub const MIN_RECORD: u32 = 16;
/// Largest allowed `max_record` and `max_batch` (16 MiB).
pub const MAX_RECORD_LIMIT: u32 = 16 << 20;
/// Inner record header inside an encrypted batch: t_us, kind, flags, len.
pub const INNER_HEADER_LEN: usize = 14;
/// Sealed batch body prefix: first record seq, record count.
pub const SEALED_PREFIX_LEN: usize = 12;
/// AEAD tag length (AES-256-GCM).
pub const TAG_LEN: usize = 16;
/// Trailer body: frames, records, payload bytes, chain hash, signature.
pub const TRAILER_BODY_LEN: usize = 8 + 8 + 8 + 32 + 64;
/// Length of the signed part of the trailer body.
pub const TRAILER_SIGNED_LEN: usize = 8 + 8 + 8 + 32;

/// What a record holds. Values 1..=7 are records a caller appends; the two
/// high values are structural frames written by the writer itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Bytes the client (the bot) sent towards the upstream.
    ClientToUpstream = 1,
    /// Bytes the upstream sent back towards the client.
    UpstreamToClient = 2,
    /// A policy decision (allow / deny / hold and the rule).
    Decision = 3,
    /// An approval granted, denied or timed out.
    Approval = 4,
    /// A masking finding (which detector fired where).
    Masking = 5,
    /// An error the session hit.
    Error = 6,
    /// Any other event (JSON or text chosen by the caller).
    Event = 7,
    /// An encrypted batch of records (encrypted logs only).
    Sealed = 0x80,
    /// The signed trailer, last frame of a closed log.
    Trailer = 0xFF,
}

impl Kind {
    /// Every kind a caller may append, in code order.
    pub const APPENDABLE: [Kind; 7] = [
        Kind::ClientToUpstream,
        Kind::UpstreamToClient,
        Kind::Decision,
        Kind::Approval,
        Kind::Masking,
        Kind::Error,
        Kind::Event,
    ];

    /// The kind for a byte, if it is one.
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::ClientToUpstream,
            2 => Kind::UpstreamToClient,
            3 => Kind::Decision,
            4 => Kind::Approval,
            5 => Kind::Masking,
            6 => Kind::Error,
            7 => Kind::Event,
            0x80 => Kind::Sealed,
            0xFF => Kind::Trailer,
            _ => return None,
        })
    }

    /// Short name used by the Python API and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ClientToUpstream => "c2u",
            Kind::UpstreamToClient => "u2c",
            Kind::Decision => "decision",
            Kind::Approval => "approval",
            Kind::Masking => "masking",
            Kind::Error => "error",
            Kind::Event => "event",
            Kind::Sealed => "sealed",
            Kind::Trailer => "trailer",
        }
    }

    /// The appendable kind with this name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::APPENDABLE.into_iter().find(|k| k.name() == name)
    }

    /// True for kinds a caller may append.
    pub fn is_appendable(self) -> bool {
        (self as u8) >= 1 && (self as u8) <= 7
    }
}

/// A cheap non-cryptographic check word over the first 24 frame-header bytes.
/// It tells a damaged length field apart from a torn tail; the BLAKE3
/// checksum is what protects the content.
pub fn header_check(h: &[u8; 24]) -> u32 {
    let w = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&h[i..i + 8]);
        u64::from_le_bytes(a)
    };
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ w(0);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ w(8);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB) ^ w(16);
    x = (x ^ (x >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 32)) as u32
}

/// Encode a frame header.
pub fn encode_frame_header(len: u32, seq: u64, t_us: u64, kind: Kind, flags: u8) -> [u8; 28] {
    let mut h = [0u8; FRAME_HEADER_LEN];
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[4..12].copy_from_slice(&seq.to_le_bytes());
    h[12..20].copy_from_slice(&t_us.to_le_bytes());
    h[20] = kind as u8;
    h[21] = flags;
    let mut first = [0u8; 24];
    first.copy_from_slice(&h[..24]);
    h[24..28].copy_from_slice(&header_check(&first).to_le_bytes());
    h
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: u32,
    pub seq: u64,
    pub t_us: u64,
    pub kind: Kind,
    pub flags: u8,
}

/// Decode a frame header; `max_payload` caps the length field, `allowed`
/// are the flags the log's version knows ([`record_flags`]).
pub fn try_parse_frame_header(
    h: &[u8; 28],
    max_payload: usize,
    allowed: u8,
) -> Result<FrameHeader, Problem> {
    let mut first = [0u8; 24];
    first.copy_from_slice(&h[..24]);
    let check = u32::from_le_bytes([h[24], h[25], h[26], h[27]]);
    if header_check(&first) != check {
        return Err(Problem::MalformedFrame("frame header check word mismatch"));
    }
    let len = rd_u32(h, 0).ok_or(Problem::MalformedFrame("short"))?;
    let seq = rd_u64(h, 4).ok_or(Problem::MalformedFrame("short"))?;
    let t_us = rd_u64(h, 12).ok_or(Problem::MalformedFrame("short"))?;
    let kind = Kind::from_u8(h[20]).ok_or(Problem::MalformedFrame("unknown record kind"))?;
    let flags = h[21];
    if flags & !allowed != 0 || h[22] != 0 || h[23] != 0 {
        return Err(Problem::MalformedFrame("reserved bits set"));
    }
    if len as usize > max_payload {
        return Err(Problem::MalformedFrame("length over the log's cap"));
    }
    Ok(FrameHeader {
        len,
        seq,
        t_us,
        kind,
        flags,
    })
}

/// The message the trailer signature covers.
pub(crate) fn trailer_signed_message(
    header_checksum: &[u8; 32],
    frame_header: &[u8; 28],
    body_signed: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(24 + 32 + 17 + TRAILER_SIGNED_LEN);
    m.extend_from_slice(b"limen-record v1 trailer\0");
    m.extend_from_slice(header_checksum);
    // seq, t_us and kind of the trailer frame: the end time is signed too.
    m.extend_from_slice(&frame_header[4..21]);
    m.extend_from_slice(body_signed);
    m
}

/// Decoded trailer body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub frames: u64,
    pub records: u64,
    pub payload_bytes: u64,
    pub chain: [u8; 32],
    pub signature: [u8; 64],
}

pub(crate) fn try_parse_trailer(body: &[u8]) -> Result<Trailer, Problem> {
    if body.len() != TRAILER_BODY_LEN {
        return Err(Problem::MalformedFrame("trailer has the wrong length"));
    }
    let bad = Problem::MalformedFrame("trailer");
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&body[TRAILER_SIGNED_LEN..]);
    Ok(Trailer {
        frames: rd_u64(body, 0).ok_or(bad.clone())?,
        records: rd_u64(body, 8).ok_or(bad.clone())?,
        payload_bytes: rd_u64(body, 16).ok_or(bad.clone())?,
        chain: rd_32(body, 24).ok_or(bad)?,
        signature,
    })
}

/// A frame payload's content digest: `d_i = BLAKE3(payload)`. It does not
/// depend on any other record, so it can be computed on any thread, in any
/// order; [`chain_link`] then binds it into the chain.
pub fn payload_digest(payload: &[u8]) -> [u8; 32] {
    *blake3::hash(payload).as_bytes()
}

/// A frame's checksum, which is also the next link of the hash chain:
/// `c_i = BLAKE3-keyed(key = c_{i-1}, frame header (28 bytes) || d_i)`.
/// One BLAKE3 block (60 bytes), so the serial part of the chain is cheap.
pub fn chain_link(prev: &[u8; 32], header: &[u8; FRAME_HEADER_LEN], digest: &[u8; 32]) -> [u8; 32] {
    let mut m = [0u8; FRAME_HEADER_LEN + 32];
    m[..FRAME_HEADER_LEN].copy_from_slice(header);
    m[FRAME_HEADER_LEN..].copy_from_slice(digest);
    *blake3::keyed_hash(prev, &m).as_bytes()
}

/// The checksum of the frame whose bytes (frame header, then payload; the
/// 32 checksum bytes not included) are `first || rest`, split anywhere:
/// [`chain_link`] of the first 28 bytes and the [`payload_digest`] of the
/// others. (A frame is never shorter than its header; if it were, the
/// missing header bytes would count as zeros.)
pub fn frame_checksum(prev: &[u8; 32], first: &[u8], rest: &[u8]) -> [u8; 32] {
    let mut header = [0u8; FRAME_HEADER_LEN];
    let a = first.len().min(FRAME_HEADER_LEN);
    header[..a].copy_from_slice(&first[..a]);
    let b = (FRAME_HEADER_LEN - a).min(rest.len());
    header[a..a + b].copy_from_slice(&rest[..b]);
    let digest = if first.len() > a {
        let mut h = blake3::Hasher::new();
        h.update(&first[a..]);
        h.update(rest);
        *h.finalize().as_bytes()
    } else {
        payload_digest(&rest[b..])
    };
    chain_link(prev, &header, &digest)
}

/// Chain seed: BLAKE3 derive_key over the whole header (checksum included).
pub fn chain_seed(header_bytes: &[u8]) -> [u8; 32] {
    blake3::derive_key("limen-record v1 chain seed", header_bytes)
}

#[cfg(test)]
mod tests;
