//! [`Records`]: the records a caller appended, out of a log's frames
//! (batches decrypted, split payloads rejoined).

use std::io::Read;

use crate::error::{Error, Problem, Result};
use crate::format::{
    u32_at, u64_at, Header, Kind, FLAG_MASKED, FLAG_MORE, INNER_HEADER_LEN, SEALED_PREFIX_LEN,
    TAG_LEN,
};
use crate::keys::{try_opener_for, Key32, Sealer};
use crate::writer::sealed_aad;

use super::{Ending, LogReader, ReaderLimits};

/// One record as appended (split payloads rejoined).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Sequence number of the record (of its first part when split).
    pub seq: u64,
    /// Microseconds since the session start.
    pub t_us: u64,
    pub kind: Kind,
    pub payload: Vec<u8>,
    /// The payload went through limen's masking before it was written
    /// ([`crate::format::FLAG_MASKED`]; always false in version 2 logs).
    pub masked: bool,
}

/// Iterates the records of a log (see the module docs).
pub struct Records<R: Read> {
    reader: LogReader<R>,
    opener: Option<Sealer>,
    batch: Vec<u8>,
    batch_pos: usize,
    batch_left: u32,
    batch_seq: u64,
    batch_frame: u64,
    partial: Option<Record>,
    max_message: usize,
}

impl<R: Read> Records<R> {
    /// Open a log for reading. `private_key`: the recipient's X25519 key,
    /// needed for encrypted logs. `trusted`: see [`LogReader::try_open`].
    pub fn try_open(
        src: R,
        private_key: Option<&Key32>,
        trusted: Option<&Key32>,
        limits: &ReaderLimits,
    ) -> Result<Self> {
        let reader = LogReader::try_open(src, trusted, limits)?;
        let h = reader.header();
        let opener = if h.encrypted {
            let Some(k) = private_key else {
                return Err(Error::config(format!(
                    "this log is encrypted to recipient key id {}; its private key is needed to read it",
                    crate::keys::key_id_hex(&h.recipient_public)
                )));
            };
            Some(try_opener_for(k, &h.ephemeral_public, &h.recipient_public)?)
        } else {
            None
        };
        Ok(Records {
            reader,
            opener,
            batch: Vec::new(),
            batch_pos: 0,
            batch_left: 0,
            batch_seq: 0,
            batch_frame: 0,
            partial: None,
            max_message: limits.max_message,
        })
    }

    /// The log's header.
    pub fn header(&self) -> &Header {
        self.reader.header()
    }

    /// How the log ended, once iteration returned `None`.
    pub fn ending(&self) -> Option<Ending> {
        self.reader.ending()
    }

    fn try_next_part(&mut self) -> Result<Option<Record>> {
        loop {
            if self.batch_left > 0 {
                return self.try_inner_part().map(Some);
            }
            let Some(f) = self.reader.try_next_frame()? else {
                return Ok(None);
            };
            match f.header.kind {
                Kind::Trailer => continue,
                Kind::Sealed => {
                    let (seq, off) = (f.header.seq, f.offset);
                    let p = f.payload;
                    let n = p.len();
                    self.batch.clear();
                    self.batch.extend_from_slice(p);
                    let Some(opener) = &self.opener else {
                        return Err(Error::config("encrypted batch without a key"));
                    };
                    let aad = sealed_aad(
                        &self.reader.header().checksum,
                        &self.batch[..SEALED_PREFIX_LEN],
                    );
                    let mut tag = [0u8; TAG_LEN];
                    tag.copy_from_slice(&self.batch[n - TAG_LEN..]);
                    if !opener.open(
                        seq,
                        &aad,
                        &mut self.batch[SEALED_PREFIX_LEN..n - TAG_LEN],
                        &tag,
                    ) {
                        return Err(Error::problem(Problem::DecryptFailed, off, Some(seq)));
                    }
                    self.batch.truncate(n - TAG_LEN);
                    self.batch_seq = u64_at(&self.batch, 0).unwrap_or(0);
                    self.batch_left = u32_at(&self.batch, 8).unwrap_or(0);
                    self.batch_pos = SEALED_PREFIX_LEN;
                    self.batch_frame = seq;
                }
                kind => {
                    let mut seq = f.header.seq;
                    if f.header.flags & FLAG_MORE != 0 {
                        seq |= MORE_MARK;
                    }
                    return Ok(Some(Record {
                        seq,
                        t_us: f.header.t_us,
                        kind,
                        payload: f.payload.to_vec(),
                        masked: f.header.flags & FLAG_MASKED != 0,
                    }));
                }
            }
        }
    }

    fn try_inner_part(&mut self) -> Result<Record> {
        let bad = |what| Error::problem(Problem::MalformedFrame(what), 0, Some(self.batch_frame));
        let at = self.batch_pos;
        let t_us = u64_at(&self.batch, at).ok_or_else(|| bad("inner record header"))?;
        let kind = self
            .batch
            .get(at + 8)
            .copied()
            .and_then(Kind::from_u8)
            .filter(|k| k.is_appendable());
        let kind = kind.ok_or_else(|| bad("inner record kind"))?;
        let flags = self.batch.get(at + 9).copied().unwrap_or(0xFF);
        if flags & !crate::format::record_flags(self.reader.header().version) != 0 {
            return Err(bad("inner record flags"));
        }
        let len = u32_at(&self.batch, at + 10).ok_or_else(|| bad("inner record header"))?;
        if len > self.reader.header().max_record {
            return Err(bad("inner record over max_record"));
        }
        let start = at + INNER_HEADER_LEN;
        let payload = self
            .batch
            .get(start..start + len as usize)
            .ok_or_else(|| bad("inner record length"))?;
        let mut seq = self.batch_seq;
        if flags & FLAG_MORE != 0 {
            seq |= MORE_MARK;
        }
        let r = Record {
            seq,
            t_us,
            kind,
            payload: payload.to_vec(),
            masked: flags & FLAG_MASKED != 0,
        };
        self.batch_pos = start + len as usize;
        self.batch_seq += 1;
        self.batch_left -= 1;
        if self.batch_left == 0 && self.batch_pos != self.batch.len() {
            return Err(bad("bytes after the last inner record"));
        }
        Ok(r)
    }

    /// The next record, `None` at the end (intact or truncated: see
    /// [`Records::ending`]). Parts of a split payload that a crash cut off
    /// are dropped with the torn tail.
    pub fn try_next(&mut self) -> Result<Option<Record>> {
        loop {
            let Some(mut part) = self.try_next_part()? else {
                if self.partial.is_some() && self.reader.ending() == Some(Ending::Intact) {
                    return Err(Error::problem(
                        Problem::BrokenSplit("the log ends inside a split payload"),
                        0,
                        None,
                    ));
                }
                self.partial = None;
                return Ok(None);
            };
            let more = part.seq & MORE_MARK != 0;
            part.seq &= !MORE_MARK;
            match &mut self.partial {
                Some(p) => {
                    if p.kind != part.kind || p.masked != part.masked {
                        return Err(Error::problem(
                            Problem::BrokenSplit("a split payload is interrupted"),
                            0,
                            Some(part.seq),
                        ));
                    }
                    if p.payload.len() + part.payload.len() > self.max_message {
                        return Err(Error::problem(
                            Problem::BrokenSplit("rejoined payload over the reader's limit"),
                            0,
                            Some(p.seq),
                        ));
                    }
                    p.payload.extend_from_slice(&part.payload);
                    if !more {
                        return Ok(self.partial.take());
                    }
                }
                None if more => self.partial = Some(part),
                None => return Ok(Some(part)),
            }
        }
    }
}

// Internal marker on `Record::seq` between `try_next_part` and `try_next`:
// "this part continues". Sequence numbers never reach 2^63.
const MORE_MARK: u64 = 1 << 63;

impl<R: Read> Iterator for Records<R> {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Self::Item> {
        self.try_next().transpose()
    }
}
