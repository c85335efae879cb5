//! SSH binary packets under AES-GCM (RFC 4253 section 6, RFC 5647 as
//! OpenSSH's `aes128-gcm@openssh.com` / `aes256-gcm@openssh.com`).
//!
//! One [`Gcm`] per direction of a transport: the key, the 4-byte fixed
//! part of the nonce and the 64-bit invocation counter, which goes up by
//! one per packet (sealed or opened). A packet on the wire is
//!
//! ```text
//! uint32 packet_length        (clear, the AEAD's associated data)
//! byte   padding_length       \
//! byte[] payload               > encrypted, packet_length bytes, a multiple of 16
//! byte[] padding (4..=255)    /
//! byte[16] tag
//! ```
//!
//! Sans-IO: the caller reads the 4 length bytes, asks [`Gcm::body_len`]
//! how many more to read (checked against a cap before anything is read or
//! allocated), then [`Gcm::open_in_place`]. No panic on peer bytes; a
//! packet that does not authenticate is an error and the counter does not
//! move (the connection is dead anyway).
//!
//! ```
//! use limen_wire::ssh::{Gcm, MAX_PACKET};
//!
//! let key = [7u8; 16];
//! let iv = [1u8; 12];
//! let mut seal = Gcm::new(&key, &iv)?;
//! let mut open = Gcm::new(&key, &iv)?;
//! let mut wire = vec![0u8; Gcm::sealed_len(2 + 5)];
//! seal.seal_into(&[94, 0], b"hello", &[0; 19], &mut wire)?;
//! let first: [u8; 4] = wire[..4].try_into()?;
//! let n = Gcm::body_len(first, MAX_PACKET)?;
//! let body = &mut wire[4..4 + n];
//! assert_eq!(open.open_in_place(first, body)?, b"\x5e\x00hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`channel_data`] reads an opened payload that is channel data (where
//! its data lies), so the caller hands the data on without a copy of the
//! whole payload.
use core::fmt;
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_128_GCM, AES_256_GCM};

mod data;
pub use data::{channel_data, ChannelData, MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA};

/// The AES-GCM tag after every packet.
pub const TAG_LEN: usize = 16;
/// AES's block: `packet_length` is a multiple of it.
pub const BLOCK: usize = 16;
/// The fewest padding bytes a packet carries (RFC 4253).
pub const MIN_PADDING: usize = 4;
/// The most padding [`Gcm::seal_into`] adds (`MIN_PADDING + BLOCK - 1`).
pub const MAX_SEAL_PADDING: usize = MIN_PADDING + BLOCK - 1;
/// The largest `packet_length` accepted by default: OpenSSH's own limit
/// (256 KiB). Callers may pass a smaller cap.
pub const MAX_PACKET: usize = 256 * 1024;

/// Why a packet (or a key) was refused. Messages never quote packet bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SshError {
    /// The key is not 16 or 32 bytes, or the IV not 12.
    BadKey,
    /// `packet_length` is not a multiple of 16, or too small for the
    /// padding length byte, a payload byte and the least padding.
    BadLength,
    /// `packet_length` is over the cap.
    TooLarge,
    /// The tag does not authenticate the packet.
    BadTag,
    /// The padding length is under 4 or leaves no payload.
    BadPadding,
    /// The caller's output buffer is not [`Gcm::sealed_len`] bytes, or the
    /// padding source too short, or the payload too large.
    BadBuffer,
}

impl fmt::Display for SshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SshError::BadKey => "AES-GCM key must be 16 or 32 bytes and the IV 12",
            SshError::BadLength => "SSH packet length is not a whole number of blocks",
            SshError::TooLarge => "SSH packet larger than the cap",
            SshError::BadTag => "SSH packet does not authenticate (AES-GCM tag mismatch)",
            SshError::BadPadding => "SSH packet padding length out of range",
            SshError::BadBuffer => "SSH packet buffer of the wrong size",
        })
    }
}

impl std::error::Error for SshError {}

/// One direction's AES-GCM state: key, fixed nonce part, invocation counter.
pub struct Gcm {
    key: LessSafeKey,
    fixed: [u8; 4],
    counter: u64,
}

impl Gcm {
    /// `key` is 16 bytes (aes128-gcm) or 32 (aes256-gcm); `iv` the 12 bytes
    /// the key exchange derived (fixed part, then the counter's start).
    pub fn new(key: &[u8], iv: &[u8]) -> Result<Self, SshError> {
        let alg = match key.len() {
            16 => &AES_128_GCM,
            32 => &AES_256_GCM,
            _ => return Err(SshError::BadKey),
        };
        let (fixed, counter) = match iv {
            [a, b, c, d, rest @ ..] if rest.len() == 8 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(rest);
                ([*a, *b, *c, *d], u64::from_be_bytes(n))
            }
            _ => return Err(SshError::BadKey),
        };
        let key = UnboundKey::new(alg, key).map_err(|_| SshError::BadKey)?;
        Ok(Gcm {
            key: LessSafeKey::new(key),
            fixed,
            counter,
        })
    }

    /// The nonce of the next packet (the counter is not moved).
    fn nonce(&self) -> Nonce {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.fixed);
        n[4..].copy_from_slice(&self.counter.to_be_bytes());
        Nonce::assume_unique_for_key(n)
    }

    /// The padding [`Gcm::seal_into`] gives a payload of `len` bytes:
    /// 4 to 19, so that `1 + len + padding` is a multiple of 16.
    pub fn padding_for(len: usize) -> usize {
        MIN_PADDING + BLOCK - 1 - (len + MIN_PADDING) % BLOCK
    }

    /// Bytes on the wire for a payload of `len` bytes.
    pub fn sealed_len(len: usize) -> usize {
        4 + 1 + len + Self::padding_for(len) + TAG_LEN
    }

    /// Seals the payload `prefix ++ data` into `out` (exactly
    /// [`Gcm::sealed_len`] of the payload's length), the padding bytes taken
    /// from the front of `pad` (random bytes from the caller; at least
    /// [`MAX_SEAL_PADDING`]), and moves the counter.
    pub fn seal_into(
        &mut self,
        prefix: &[u8],
        data: &[u8],
        pad: &[u8],
        out: &mut [u8],
    ) -> Result<(), SshError> {
        let len = prefix.len() + data.len();
        if out.len() != Self::sealed_len(len) {
            return Err(SshError::BadBuffer);
        }
        out[5..5 + prefix.len()].copy_from_slice(prefix);
        out[5 + prefix.len()..5 + len].copy_from_slice(data);
        self.seal_in_place(len, pad, out)
    }

    /// [`Gcm::seal_into`] for a payload of `len` bytes the caller already
    /// put at `out[5..5 + len]` (saves a copy).
    pub fn seal_in_place(
        &mut self,
        len: usize,
        pad: &[u8],
        out: &mut [u8],
    ) -> Result<(), SshError> {
        let padding = Self::padding_for(len);
        let packet_length = 1 + len + padding;
        if out.len() != 4 + packet_length + TAG_LEN || pad.len() < padding {
            return Err(SshError::BadBuffer);
        }
        let length = u32::try_from(packet_length).map_err(|_| SshError::BadBuffer)?;
        let (head, rest) = out.split_at_mut(4);
        head.copy_from_slice(&length.to_be_bytes());
        let (body, tag_out) = rest.split_at_mut(packet_length);
        body[0] = padding as u8; // at most 19
        body[1 + len..].copy_from_slice(&pad[..padding]);
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(), Aad::from(&length.to_be_bytes()), body)
            .map_err(|_| SshError::BadBuffer)?;
        tag_out.copy_from_slice(tag.as_ref());
        self.counter = self.counter.wrapping_add(1);
        Ok(())
    }

    /// Wire bytes of `total` bytes of channel data cut into messages of
    /// `chunk` bytes (the last one shorter) by [`Gcm::seal_data_into`].
    pub fn sealed_data_len(extended: bool, total: usize, chunk: usize) -> usize {
        if chunk == 0 {
            return 0;
        }
        let head = if extended { 13 } else { 9 };
        let full = total / chunk;
        let rest = total % chunk;
        full * Self::sealed_len(head + chunk)
            + if rest > 0 {
                Self::sealed_len(head + rest)
            } else {
                0
            }
    }

    /// Seals `data` as `SSH_MSG_CHANNEL_DATA` messages to the channel
    /// `chanid` (`SSH_MSG_CHANNEL_EXTENDED_DATA` of type `ext` when given),
    /// `chunk` bytes each (the last one shorter), one packet each, one
    /// after another into `out` (exactly [`Gcm::sealed_data_len`] bytes);
    /// padding from `pad` ([`MAX_SEAL_PADDING`] bytes per packet). Returns
    /// the number of packets. The caller has taken the channel's window for
    /// all of `data` and chose `chunk` within the peer's packet size.
    pub fn seal_data_into(
        &mut self,
        chanid: u32,
        ext: Option<u32>,
        data: &[u8],
        chunk: usize,
        pad: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SshError> {
        let packets = data.len().div_ceil(chunk.max(1));
        if chunk == 0
            || data.is_empty()
            || out.len() != Self::sealed_data_len(ext.is_some(), data.len(), chunk)
            || pad.len() < packets * MAX_SEAL_PADDING
        {
            return Err(SshError::BadBuffer);
        }
        let mut at = 0;
        for (i, piece) in data.chunks(chunk).enumerate() {
            let n = u32::try_from(piece.len()).map_err(|_| SshError::BadBuffer)?;
            let mut head = [0u8; 13];
            let head_len = match ext {
                Some(code) => {
                    head[0] = 95;
                    head[1..5].copy_from_slice(&chanid.to_be_bytes());
                    head[5..9].copy_from_slice(&code.to_be_bytes());
                    head[9..13].copy_from_slice(&n.to_be_bytes());
                    13
                }
                None => {
                    head[0] = 94;
                    head[1..5].copy_from_slice(&chanid.to_be_bytes());
                    head[5..9].copy_from_slice(&n.to_be_bytes());
                    9
                }
            };
            let len = Self::sealed_len(head_len + piece.len());
            let pad = &pad[i * MAX_SEAL_PADDING..(i + 1) * MAX_SEAL_PADDING];
            self.seal_into(&head[..head_len], piece, pad, &mut out[at..at + len])?;
            at += len;
        }
        Ok(packets)
    }

    /// How many bytes follow the 4 length bytes `first` (the encrypted
    /// packet and its tag), refusing a length that is not whole blocks,
    /// too small, or over `cap` (at most [`MAX_PACKET`]).
    pub fn body_len(first: [u8; 4], cap: usize) -> Result<usize, SshError> {
        let n = u32::from_be_bytes(first) as usize;
        if n > cap.min(MAX_PACKET) {
            return Err(SshError::TooLarge);
        }
        if !n.is_multiple_of(BLOCK) || n < BLOCK {
            return Err(SshError::BadLength);
        }
        Ok(n + TAG_LEN)
    }

    /// Opens a packet in place: `body` is the [`Gcm::body_len`] bytes after
    /// the length bytes `first`. Returns the payload (its first byte is the
    /// message number) and moves the counter; on any error the counter
    /// stays.
    pub fn open_in_place<'a>(
        &mut self,
        first: [u8; 4],
        body: &'a mut [u8],
    ) -> Result<&'a [u8], SshError> {
        let n = Self::body_len(first, MAX_PACKET)?;
        if body.len() != n {
            return Err(SshError::BadBuffer);
        }
        let (cipher, tag) = body.split_at_mut(n - TAG_LEN);
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag);
        self.key
            .open_in_place_separate_tag(self.nonce(), Aad::from(&first), Tag::from(t), cipher, 0..)
            .map_err(|_| SshError::BadTag)?;
        self.counter = self.counter.wrapping_add(1);
        let padding = cipher[0] as usize;
        if padding < MIN_PADDING || padding + 2 > cipher.len() {
            return Err(SshError::BadPadding);
        }
        let end = cipher.len() - padding;
        Ok(&cipher[1..end])
    }
}

#[cfg(test)]
mod tests;
