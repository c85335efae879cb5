//! Reading and verifying a session log.
//!
//! [`LogReader`] pulls frames from any `Read` through one bounded buffer
//! (it never holds more than one frame plus a read chunk, and it only grows
//! the buffer as bytes actually arrive, so a forged length cannot make it
//! allocate), and checks every frame as it goes: check word, checksum,
//! sequence number, kind, hash chain, and at the end the trailer's counts,
//! chain and Ed25519 signature. [`Records`] turns frames into the records a
//! caller appended (decrypting batches, joining split payloads), and
//! [`try_verify`] runs the checks to the end and classifies the log.
//!
//! Truncation versus tampering: a log that ends at a frame boundary without
//! a trailer, inside a frame whose header is sound, or in bytes that are all
//! zero (a file extended but not written before a power loss) is truncated.
//! Anything else that fails a check is tampering, reported at the first
//! record that cannot be trusted.

use std::io::Read;

use crate::error::{Error, Problem, Result};
use crate::format::{
    frame_checksum, try_parse_frame_header, try_parse_header, try_parse_trailer, u32_at, u64_at,
    FrameHeader, Header, HeaderParse, Kind, CHECKSUM_LEN, FRAME_HEADER_LEN, INNER_HEADER_LEN,
    MAX_RECORD_LIMIT, SEALED_PREFIX_LEN, TAG_LEN, TRAILER_BODY_LEN, TRAILER_SIGNED_LEN,
};
use crate::keys::{key_id, verify_signature, Key32};

const READ_CHUNK: usize = 64 << 10;

/// Caps a reader applies on top of the ones the header declares.
#[derive(Clone, Debug)]
pub struct ReaderLimits {
    /// Refuse logs whose header declares larger records.
    pub max_record: u32,
    /// Refuse encrypted logs whose header declares larger batches.
    pub max_batch: u32,
    /// Largest payload [`Records`] rejoins from split records.
    pub max_message: usize,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        ReaderLimits {
            max_record: MAX_RECORD_LIMIT,
            max_batch: MAX_RECORD_LIMIT,
            max_message: 256 << 20,
        }
    }
}

/// How a log ended, once the reader got there without finding tampering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A trailer that matches the records, signed by the log's key.
    Intact,
    /// No trailer; `torn_bytes` of an incomplete frame follow the last
    /// complete one.
    Truncated { torn_bytes: u64 },
}

/// A frame that passed every check.
#[derive(Debug)]
pub struct FrameView<'a> {
    pub header: FrameHeader,
    pub payload: &'a [u8],
    pub offset: u64,
}

/// Pulls and checks frames. See the module docs.
pub struct LogReader<R: Read> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    base: u64,
    eof: bool,
    header: Header,
    max_payload: usize,
    trusted: Option<Key32>,
    chain: [u8; 32],
    next_seq: u64,
    records: u64,
    payload_bytes: u64,
    ending: Option<Ending>,
    trailer_seen: bool,
    scanned: u64,
}

fn read_some(src: &mut impl Read, buf: &mut Vec<u8>, eof: &mut bool) -> Result<()> {
    let old = buf.len();
    buf.resize(old + READ_CHUNK, 0);
    loop {
        match src.read(&mut buf[old..]) {
            Ok(n) => {
                buf.truncate(old + n);
                if n == 0 {
                    *eof = true;
                }
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                buf.truncate(old);
                return Err(Error::io(e));
            }
        }
    }
}

impl<R: Read> LogReader<R> {
    /// Read and check the header. `trusted`: the signing public key the
    /// trailer must be signed by; `None` checks only that the log is
    /// consistent with the key it names itself (integrity, not authenticity).
    pub fn try_open(mut src: R, trusted: Option<&Key32>, limits: &ReaderLimits) -> Result<Self> {
        let mut buf = Vec::new();
        let mut eof = false;
        let (header, hlen) = loop {
            match try_parse_header(&buf) {
                Ok(HeaderParse::Done(h, n)) => break (*h, n),
                Ok(HeaderParse::Need(_)) if eof => {
                    return Err(Error::problem(
                        Problem::HeaderIncomplete,
                        buf.len() as u64,
                        None,
                    ));
                }
                Ok(HeaderParse::Need(_)) => read_some(&mut src, &mut buf, &mut eof)?,
                Err(p) => return Err(Error::problem(p, 0, None)),
            }
        };
        if header.max_record > limits.max_record || header.max_batch > limits.max_batch {
            return Err(Error::problem(
                Problem::HeaderDamaged("declared record or batch size over this reader's limit"),
                0,
                None,
            ));
        }
        let max_payload = if header.encrypted {
            SEALED_PREFIX_LEN + header.max_batch as usize + TAG_LEN
        } else {
            header.max_record as usize
        }
        .max(TRAILER_BODY_LEN);
        let chain = crate::format::chain_seed(&buf[..hlen]);
        Ok(LogReader {
            src,
            buf,
            pos: hlen,
            base: 0,
            eof,
            header,
            max_payload,
            trusted: trusted.copied(),
            chain,
            next_seq: 0,
            records: 0,
            payload_bytes: 0,
            ending: None,
            trailer_seen: false,
            scanned: 0,
        })
    }

    /// The log's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// How the log ended, once [`LogReader::try_next_frame`] returned `None`.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// Frames and records read so far (records: logical, split parts each).
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.next_seq, self.records, self.payload_bytes)
    }

    fn avail(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn try_fill(&mut self, need: usize) -> Result<()> {
        while self.avail() < need && !self.eof {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.base += self.pos as u64;
                self.pos = 0;
            }
            read_some(&mut self.src, &mut self.buf, &mut self.eof)?;
        }
        Ok(())
    }

    /// Whether every byte from `self.pos + skip` to the end of input is zero.
    /// Reads past the buffer into a scratch chunk (the reader stops after
    /// this, so those bytes are only counted, in `self.scanned`).
    fn try_rest_is_zero(&mut self, skip: usize) -> Result<bool> {
        let from = (self.pos + skip).min(self.buf.len());
        if self.buf[from..].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        let mut scratch = vec![0u8; READ_CHUNK];
        while !self.eof {
            let n = match self.src.read(&mut scratch) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(e)),
            };
            if n == 0 {
                self.eof = true;
            }
            self.scanned += n as u64;
            if scratch[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn bad(&self, p: Problem) -> Error {
        Error::problem(p, self.offset(), Some(self.next_seq))
    }

    fn truncated(&mut self) -> Result<Option<FrameView<'_>>> {
        let torn = self.avail() as u64 + self.scanned;
        self.ending = Some(Ending::Truncated { torn_bytes: torn });
        Ok(None)
    }

    /// The next checked frame (the trailer included), or `None` at the end
    /// (see [`LogReader::ending`]). An error names the first bad record.
    pub fn try_next_frame(&mut self) -> Result<Option<FrameView<'_>>> {
        if self.ending.is_some() {
            return Ok(None);
        }
        if self.trailer_seen {
            self.try_fill(1)?;
            if self.avail() > 0 {
                return Err(Error::problem(Problem::TrailingData, self.offset(), None));
            }
            self.ending = Some(Ending::Intact);
            return Ok(None);
        }
        self.try_fill(FRAME_HEADER_LEN)?;
        if self.avail() < FRAME_HEADER_LEN {
            return self.truncated();
        }
        let mut hb = [0u8; FRAME_HEADER_LEN];
        hb.copy_from_slice(&self.buf[self.pos..self.pos + FRAME_HEADER_LEN]);
        let allowed = crate::format::record_flags(self.header.version);
        let h = match try_parse_frame_header(&hb, self.max_payload, allowed) {
            Ok(h) => h,
            Err(p) => {
                if self.try_rest_is_zero(0)? {
                    return self.truncated();
                }
                return Err(self.bad(p));
            }
        };
        // A crash cannot produce a sound frame header with the wrong number.
        if h.seq > self.next_seq {
            return Err(self.bad(Problem::Missing {
                expected: self.next_seq,
                found: h.seq,
            }));
        }
        if h.seq < self.next_seq {
            return Err(self.bad(Problem::OutOfOrder {
                expected: self.next_seq,
                found: h.seq,
            }));
        }
        let total = FRAME_HEADER_LEN + h.len as usize + CHECKSUM_LEN;
        self.try_fill(total)?;
        if self.avail() < total {
            return self.truncated();
        }
        let frame = &self.buf[self.pos..self.pos + total];
        let (body, sum) = frame.split_at(total - CHECKSUM_LEN);
        let checksum = frame_checksum(&self.chain, body, &[]);
        if checksum[..] != sum[..] {
            if self.try_rest_is_zero(FRAME_HEADER_LEN)? {
                return self.truncated();
            }
            return Err(self.bad(Problem::ChecksumMismatch));
        }
        self.try_check(&h, &hb)?;
        let offset = self.offset();
        let start = self.pos + FRAME_HEADER_LEN;
        self.pos += total;
        if h.kind != Kind::Trailer {
            self.chain = checksum;
            self.next_seq += 1;
        }
        Ok(Some(FrameView {
            header: h,
            payload: &self.buf[start..start + h.len as usize],
            offset,
        }))
    }

    /// Kind, batch and trailer checks for a frame whose checksum holds.
    fn try_check(&mut self, h: &FrameHeader, hb: &[u8; 28]) -> Result<()> {
        let payload =
            &self.buf[self.pos + FRAME_HEADER_LEN..self.pos + FRAME_HEADER_LEN + h.len as usize];
        match h.kind {
            Kind::Trailer => {
                let t = try_parse_trailer(payload).map_err(|p| self.bad(p))?;
                if t.frames != self.next_seq
                    || t.records != self.records
                    || t.payload_bytes != self.payload_bytes
                {
                    return Err(self.bad(Problem::CountsMismatch));
                }
                if t.chain != self.chain {
                    return Err(self.bad(Problem::ChainMismatch));
                }
                let msg = crate::format::trailer_signed_message(
                    &self.header.checksum,
                    hb,
                    &payload[..TRAILER_SIGNED_LEN],
                );
                let embedded = self.header.signing_public;
                let valid = verify_signature(&embedded, &msg, &t.signature);
                match self.trusted {
                    Some(k) if k != embedded => {
                        if valid {
                            return Err(self.bad(Problem::WrongSigner {
                                found: key_id(&embedded),
                                expected: key_id(&k),
                            }));
                        }
                        return Err(self.bad(Problem::BadSignature));
                    }
                    _ if !valid => return Err(self.bad(Problem::BadSignature)),
                    _ => {}
                }
                self.trailer_seen = true;
            }
            Kind::Sealed if self.header.encrypted => {
                let first = u64_at(payload, 0);
                let count = u32_at(payload, 8);
                let (Some(first), Some(count)) = (first, count) else {
                    return Err(self.bad(Problem::MalformedFrame("sealed batch too short")));
                };
                if payload.len() < SEALED_PREFIX_LEN + TAG_LEN {
                    return Err(self.bad(Problem::MalformedFrame("sealed batch too short")));
                }
                if first != self.records {
                    return Err(self.bad(Problem::BatchSequence {
                        expected: self.records,
                        found: first,
                    }));
                }
                let inner = (payload.len() - SEALED_PREFIX_LEN - TAG_LEN) as u64;
                let heads = u64::from(count) * INNER_HEADER_LEN as u64;
                if count == 0 || inner < heads {
                    return Err(self.bad(Problem::MalformedFrame("sealed batch count")));
                }
                self.records += u64::from(count);
                self.payload_bytes += inner - heads;
            }
            k if k.is_appendable() && !self.header.encrypted => {
                self.records += 1;
                self.payload_bytes += u64::from(h.len);
            }
            _ => {
                return Err(self.bad(Problem::MalformedFrame(
                    "record kind not allowed in this log",
                )));
            }
        }
        Ok(())
    }
}

mod records;
mod verify;

pub use records::{Record, Records};
pub use verify::{try_verify, Report, Status};
