//! The session log writer.
//!
//! Appends are framed straight into one batch buffer (the payload is copied
//! once, from the caller's buffer into the batch; no intermediate copy),
//! hashed there, chained, and written with one `write` per flush. A payload
//! of at least [`WriterConfig::direct_write_min`] bytes in a plaintext log is
//! not copied at all: the pending batch, its frame header, the borrowed
//! payload and its checksum go out in one vectored write.
//!
//! The writer owns its sink (a `File` in production) but no clock: every
//! append carries the caller's `t_us` (microseconds since the session start),
//! and the time-based flush policy compares those values.

use crate::error::{Error, Result};
use crate::format::{
    chain_seed, encode_frame_header, encode_header, frame_checksum, trailer_signed_message,
    HeaderFields, Kind, CHECKSUM_LEN, FLAG_MASKED, FLAG_MORE, FRAME_HEADER_LEN, INNER_HEADER_LEN,
    MAX_RECORD_LIMIT, MIN_RECORD,
};
use crate::keys::{try_sealer_for, Key32, Sealer, TrailerSigner};
struct OpenBatch {
    start: usize,
    first_record: u64,
    count: u32,
    t_us: u64,
}

/// Writes one session log. Create with [`Writer::try_create`], append, then
/// [`Writer::try_close`] (which writes the signed trailer and fsyncs).
/// Dropping without closing writes the pending records but no trailer: the
/// log then reads as truncated, like after a crash.
pub struct Writer<W: Sink> {
    sink: W,
    out: Vec<u8>,
    cfg: WriterConfig,
    header_checksum: [u8; 32],
    chain: [u8; 32],
    next_frame: u64,
    records: u64,
    payload_bytes: u64,
    file_bytes: u64,
    last_flush_us: u64,
    last_t_us: u64,
    signer: TrailerSigner,
    sealer: Option<Sealer>,
    batch: Option<OpenBatch>,
    /// Deferred mode: frames of `out` whose checksums the sink fills.
    spans: Option<Vec<FrameSpan>>,
    /// Deferred mode: spreads [`WriterConfig::inline_digests`] evenly.
    digest_turn: u8,
    chainer_taken: bool,
    failed: bool,
    closed: bool,
}

mod frame;
mod sink;

pub use sink::{Chainer, FlushPolicy, FrameSpan, Sink, Source, Summary, WriterConfig};

impl<W: Sink> Writer<W> {
    /// Start a log on `sink`: validates the configuration, writes the header
    /// at once (so even a crash right after leaves a readable log).
    pub fn try_create(
        mut sink: W,
        fields: &HeaderFields<'_>,
        signing_key: &Key32,
        recipient: Option<&Key32>,
        cfg: WriterConfig,
    ) -> Result<Self> {
        if !(MIN_RECORD..=MAX_RECORD_LIMIT).contains(&cfg.max_record) {
            return Err(Error::config(format!(
                "max_record must be between {MIN_RECORD} and {MAX_RECORD_LIMIT}"
            )));
        }
        let signer = TrailerSigner::new(signing_key);
        let (sealer, header) = match recipient {
            Some(r) => {
                let min = cfg.max_record as usize + INNER_HEADER_LEN;
                if (cfg.max_batch as usize) < min || cfg.max_batch > MAX_RECORD_LIMIT {
                    return Err(Error::config(format!(
                        "max_batch must be between max_record + {INNER_HEADER_LEN} and {MAX_RECORD_LIMIT}"
                    )));
                }
                let (sealer, eph) = try_sealer_for(r)?;
                let h = encode_header(
                    fields,
                    cfg.max_record,
                    cfg.max_batch,
                    &signer.public(),
                    Some((r, &eph)),
                )
                .map_err(Error::config)?;
                (Some(sealer), h)
            }
            None => {
                let h = encode_header(fields, cfg.max_record, 0, &signer.public(), None)
                    .map_err(Error::config)?;
                (None, h)
            }
        };
        let mut header_checksum = [0u8; 32];
        header_checksum.copy_from_slice(&header[header.len() - CHECKSUM_LEN..]);
        sink.write_all(&header)?;
        sink.flush()?;
        let cap = cfg
            .flush
            .bytes
            .saturating_add(FRAME_HEADER_LEN + CHECKSUM_LEN + 64)
            .min(64 << 20);
        Ok(Writer {
            sink,
            out: Vec::with_capacity(cap),
            chain: chain_seed(&header),
            header_checksum,
            next_frame: 0,
            records: 0,
            payload_bytes: 0,
            file_bytes: header.len() as u64,
            last_flush_us: 0,
            last_t_us: 0,
            signer,
            sealer,
            batch: None,
            spans: cfg.defer_checksums.then(Vec::new),
            digest_turn: 0,
            chainer_taken: false,
            cfg,
            failed: false,
            closed: false,
        })
    }

    fn check_usable(&self) -> Result<()> {
        if self.closed {
            return Err(Error::closed());
        }
        if self.failed {
            return Err(Error::config(
                "an earlier write failed; the log is unusable",
            ));
        }
        Ok(())
    }

    /// Append one payload of `kind` at `t_us` (microseconds since the start;
    /// a value below the previous one is raised to it).
    pub fn try_append(&mut self, kind: Kind, t_us: u64, payload: &[u8]) -> Result<()> {
        self.try_append_from(kind, t_us, payload)
    }

    /// Append from any [`Source`].
    pub fn try_append_from(
        &mut self,
        kind: Kind,
        t_us: u64,
        src: &(impl Source + ?Sized),
    ) -> Result<()> {
        self.try_append_flagged(kind, t_us, false, src)
    }

    /// Append, saying whether the payload went through limen's masking
    /// ([`crate::format::FLAG_MASKED`] on every part).
    pub fn try_append_flagged(
        &mut self,
        kind: Kind,
        t_us: u64,
        masked: bool,
        src: &(impl Source + ?Sized),
    ) -> Result<()> {
        self.check_usable()?;
        let mask_flag = if masked { FLAG_MASKED } else { 0 };
        if !kind.is_appendable() {
            return Err(Error::config(format!(
                "{} records are written by the writer itself",
                kind.name()
            )));
        }
        let t_us = t_us.max(self.last_t_us);
        self.last_t_us = t_us;
        let total = src.len();
        let max = self.cfg.max_record as usize;
        let mut off = 0usize;
        loop {
            let n = max.min(total - off);
            let flags = mask_flag | if off + n < total { FLAG_MORE } else { 0 };
            let r = if self.sealer.is_some() {
                self.try_inner_record(kind, t_us, flags, src, off, n)
            } else {
                match src.contiguous() {
                    Some(bytes) if n >= self.cfg.direct_write_min && self.spans.is_none() => {
                        self.try_direct_frame(kind, t_us, flags, &bytes[off..off + n])
                    }
                    _ => self.try_plain_frame(kind, t_us, flags, src, off, n),
                }
            };
            if let Err(e) = r {
                self.failed = true;
                return Err(e);
            }
            self.records += 1;
            off += n;
            if off >= total {
                break;
            }
        }
        self.payload_bytes += total as u64;
        self.try_maybe_flush(t_us)
    }

    /// Write every pending record now (sealing the open batch).
    pub fn try_flush(&mut self) -> Result<()> {
        self.check_usable()?;
        self.try_flush_at(self.last_t_us)
    }

    /// Deferred mode: the [`Chainer`] for the sink, once, before any append.
    pub fn take_chainer(&mut self) -> Option<Chainer> {
        if self.spans.is_none() || self.chainer_taken || self.next_frame > 0 {
            return None;
        }
        self.chainer_taken = true;
        Some(Chainer { chain: self.chain })
    }

    /// Records appended so far (a split payload counts each part).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes waiting in the batch buffer.
    pub fn pending_bytes(&self) -> usize {
        self.out.len()
    }

    /// Write the signed trailer at `t_us` (the session end), flush and fsync.
    pub fn try_close(&mut self, t_us: u64) -> Result<Summary> {
        self.check_usable()?;
        let t_us = t_us.max(self.last_t_us);
        self.try_flush_at(t_us)?;
        if self.spans.is_some() {
            self.chain = match self.sink.deferred_chain() {
                Ok(c) => c,
                Err(e) => {
                    self.failed = true;
                    return Err(e.into());
                }
            };
        }
        let mut body = Vec::with_capacity(crate::format::TRAILER_BODY_LEN);
        body.extend_from_slice(&self.next_frame.to_le_bytes());
        body.extend_from_slice(&self.records.to_le_bytes());
        body.extend_from_slice(&self.payload_bytes.to_le_bytes());
        body.extend_from_slice(&self.chain);
        let h = encode_frame_header(
            crate::format::TRAILER_BODY_LEN as u32,
            self.next_frame,
            t_us,
            Kind::Trailer,
            0,
        );
        let sig = self
            .signer
            .sign(&trailer_signed_message(&self.header_checksum, &h, &body));
        body.extend_from_slice(&sig);
        let start = self.out.len();
        self.out.extend_from_slice(&h);
        self.out.extend_from_slice(&body);
        let sum = frame_checksum(&self.chain, &self.out[start..], &[]);
        self.out.extend_from_slice(&sum);
        let frames = self.next_frame;
        let r = (|| -> Result<()> {
            self.file_bytes += self.out.len() as u64;
            self.sink.write_batch(&mut self.out)?;
            self.sink.flush()?;
            self.sink.sync()?;
            Ok(())
        })();
        self.closed = true;
        r?;
        Ok(Summary {
            frames,
            records: self.records,
            payload_bytes: self.payload_bytes,
            chain: self.chain,
            file_bytes: self.file_bytes,
        })
    }

    /// Borrow the sink (tests read an in-memory log back through this).
    pub fn sink(&self) -> &W {
        &self.sink
    }

    /// Borrow the sink mutably (e.g. to hand it the [`Chainer`]). Bytes
    /// written to it directly end up in the log unframed: don't.
    pub fn sink_mut(&mut self) -> &mut W {
        &mut self.sink
    }
}

impl Writer<Vec<u8>> {
    /// The in-memory log so far, pending records written, no trailer.
    pub fn try_into_bytes(mut self) -> Result<Vec<u8>> {
        if !self.closed && !self.failed {
            self.try_flush_at(self.last_t_us)?;
        }
        self.closed = true;
        Ok(std::mem::take(&mut self.sink))
    }
}

impl<W: Sink> Drop for Writer<W> {
    fn drop(&mut self) {
        if !self.closed && !self.failed {
            // Best effort: what was appended reaches the file; no trailer.
            let _ = self.try_flush_at(self.last_t_us);
        }
    }
}

pub(crate) fn sealed_aad(header_checksum: &[u8; 32], prefix: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(32 + prefix.len());
    a.extend_from_slice(header_checksum);
    a.extend_from_slice(prefix);
    a
}
