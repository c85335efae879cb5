//! Packet framing: a 3-byte little-endian payload length, a 1-byte sequence
//! id, the payload. A payload of 2^24-1 bytes or more is split into packets
//! of exactly 0xff_ffff bytes followed by a shorter one (possibly empty);
//! [`PacketDecoder`] joins them into one logical packet.
//!
//! Reference: MariaDB "0 - Packet" (Protocol Packets / Standard packet) and
//! MySQL `page_protocol_basic_packets` ("Sending More Than 16Mb").
//!
//! The decoder keeps one buffer whose size never passes
//! [`Limits::max_buffer`]; each physical length is checked against the cap
//! (the lower unauthenticated cap until [`PacketDecoder::set_authenticated`])
//! as soon as its header is buffered. Sequence ids are checked: each packet
//! must carry the id after the previous one, from what the caller set with
//! [`PacketDecoder::set_sequence`] (a new command starts at 0).
use crate::error::{Error, ErrorKind};

/// Largest payload of one physical packet; a packet this long is continued.
pub const MAX_PHYSICAL: usize = 0xff_ffff;

/// Size limits for one decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest logical payload (all continuation packets joined). Default
    /// 64 MiB, MySQL's default `max_allowed_packet`.
    pub max_packet_size: usize,
    /// Largest chunk fed in one `receive_data`. Default 1 MiB.
    pub max_chunk: usize,
    /// Largest payload before the peer is authenticated. Default 64 KiB.
    pub max_unauthenticated_size: usize,
}

impl Limits {
    /// The most bytes a decoder buffer will ever hold: the payload cap, a
    /// header per physical packet, one chunk.
    pub fn max_buffer(&self) -> usize {
        let headers = (self.max_packet_size / MAX_PHYSICAL + 1).saturating_mul(4);
        self.max_packet_size
            .saturating_add(headers)
            .saturating_add(self.max_chunk)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_packet_size: 64 << 20,
            max_chunk: 1 << 20,
            max_unauthenticated_size: 64 << 10,
        }
    }
}

/// One logical packet as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    raw: &'a [u8],
    payload: &'a [u8],
    seq: u8,
    last_seq: u8,
    parts: usize,
    offset: u64,
}

impl<'a> Packet<'a> {
    /// Every physical packet exactly as received: forward this untouched.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The payload, continuation packets joined.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Sequence id of the first physical packet.
    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// Sequence id of the last physical packet (differs from [`Self::seq`]
    /// only for payloads of 16 MiB or more).
    pub fn last_seq(&self) -> u8 {
        self.last_seq
    }

    /// Number of physical packets.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// Stream offset of the first header byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// Where a complete logical packet was found: raw length, payload length,
/// physical packets, first and last sequence ids.
#[derive(Clone, Copy)]
struct Found {
    total: usize,
    payload: usize,
    parts: usize,
    seq: u8,
    last_seq: u8,
}

/// Incremental decoder of one direction of a MySQL connection.
#[derive(Debug)]
pub struct PacketDecoder {
    buf: Vec<u8>,
    pos: usize,
    base: u64,
    limits: Limits,
    expected: Option<u8>,
    authenticated: bool,
    joined: Vec<u8>,
    failed: bool,
}

impl PacketDecoder {
    /// A decoder expecting sequence id 0 first, with the unauthenticated cap.
    pub fn new(limits: Limits) -> Self {
        PacketDecoder {
            buf: Vec::new(),
            pos: 0,
            base: 0,
            limits,
            expected: Some(0),
            authenticated: false,
            joined: Vec::new(),
            failed: false,
        }
    }

    /// The limits of this decoder.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Lifts the unauthenticated cap.
    pub fn set_authenticated(&mut self) {
        self.authenticated = true;
    }

    /// The next packet must carry `seq` (e.g. 0 at the start of a command).
    pub fn set_sequence(&mut self, seq: u8) {
        self.expected = Some(seq);
    }

    /// Stops checking sequence ids (e.g. to resync after a relay renumbers).
    pub fn ignore_sequence(&mut self) {
        self.expected = None;
    }

    /// The id the next packet must carry, if checked.
    pub fn sequence(&self) -> Option<u8> {
        self.expected
    }

    /// Bytes received and not yet handed out.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Stream offset of the next byte to decode.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes received but not yet decoded (e.g. a TLS ClientHello that
    /// followed an SSL request in the same read).
    pub fn take_pending(&mut self) -> Vec<u8> {
        let out = self.buf[self.pos..].to_vec();
        self.base += self.buf.len() as u64;
        self.buf.clear();
        self.pos = 0;
        out
    }

    fn cap(&self) -> usize {
        if self.authenticated {
            self.limits.max_packet_size
        } else {
            self.limits
                .max_unauthenticated_size
                .min(self.limits.max_packet_size)
        }
    }

    /// Feeds bytes. A chunk over `max_chunk` or past the buffer bound is a
    /// local error: drain packets first.
    pub fn receive_data(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.failed {
            return Err(Error::local(ErrorKind::Poisoned, "receive_data"));
        }
        if data.is_empty() {
            return Ok(());
        }
        if data.len() > self.limits.max_chunk {
            return Err(Error::local(ErrorKind::BufferFull, "receive_data"));
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        let bound = self.limits.max_buffer();
        let needed = self.buf.len() + data.len();
        if needed > bound {
            return Err(Error::local(ErrorKind::BufferFull, "receive_data"));
        }
        if needed > self.buf.capacity() {
            let target = needed.max(self.buf.capacity().saturating_mul(2)).min(bound);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete logical packet, or `None` until more bytes come.
    /// After an error the decoder stays failed.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, Error> {
        if self.failed {
            return Err(Error::local(ErrorKind::Poisoned, "next_packet"));
        }
        match self.scan() {
            Ok(Some(found)) => Ok(Some(self.take(found))),
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Finds a complete logical packet at `pos`.
    fn scan(&self) -> Result<Option<Found>, Error> {
        let cap = self.cap();
        let mut at = self.pos;
        let mut payload = 0usize;
        let mut parts = 0usize;
        let mut expected = self.expected;
        let mut first = None;
        loop {
            let Some(h) = self.buf.get(at..at + 4) else {
                return Ok(None);
            };
            let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
            let seq = h[3];
            let offset = self.base + at as u64;
            if let Some(e) = expected {
                if seq != e {
                    return Err(Error::remote(ErrorKind::BadSequence, offset + 3, "packet"));
                }
            }
            payload = payload.saturating_add(len);
            if payload > cap {
                return Err(Error::remote(ErrorKind::MessageTooLarge, offset, "packet"));
            }
            first.get_or_insert(seq);
            parts += 1;
            expected = Some(seq.wrapping_add(1));
            at += 4;
            if self.buf.len() < at + len {
                return Ok(None);
            }
            at += len;
            if len < MAX_PHYSICAL {
                return Ok(Some(Found {
                    total: at - self.pos,
                    payload,
                    parts,
                    seq: first.unwrap_or(seq),
                    last_seq: seq,
                }));
            }
        }
    }

    fn take(&mut self, found: Found) -> Packet<'_> {
        let Found {
            total,
            payload: payload_len,
            parts,
            seq,
            last_seq,
        } = found;
        let start = self.pos;
        let offset = self.base + start as u64;
        self.pos += total;
        if self.expected.is_some() {
            self.expected = Some(last_seq.wrapping_add(1));
        }
        let raw = &self.buf[start..start + total];
        let payload = if parts == 1 {
            &raw[4..]
        } else {
            self.joined.clear();
            self.joined.reserve(payload_len);
            let mut rest = raw;
            while let Some((h, body)) = rest.split_at_checked(4) {
                let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
                let (part, next) = body.split_at(len.min(body.len()));
                self.joined.extend_from_slice(part);
                rest = next;
            }
            &self.joined[..]
        };
        Packet {
            raw,
            payload,
            seq,
            last_seq,
            parts,
            offset,
        }
    }
}

/// Appends `payload` framed as packets starting at sequence id `seq`
/// (continuation packets for 16 MiB and more, ending with a shorter one,
/// possibly empty); returns the sequence id for the next packet.
pub fn write_packet(out: &mut Vec<u8>, seq: u8, payload: &[u8]) -> u8 {
    let mut seq = seq;
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_PHYSICAL);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        out.push(seq);
        out.extend_from_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_PHYSICAL {
            return seq;
        }
    }
}

/// Number of physical packets `write_packet` uses for a payload of `len`.
pub fn packet_count(len: usize) -> usize {
    len / MAX_PHYSICAL + 1
}
