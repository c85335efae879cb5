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

use std::io::{IoSlice, Write};

use crate::error::{Error, Result};
use crate::format::{
    chain_link, chain_seed, encode_frame_header, encode_header, frame_checksum, payload_digest,
    trailer_signed_message, HeaderFields, Kind, CHECKSUM_LEN, FLAG_MASKED, FLAG_MORE,
    FRAME_HEADER_LEN, INNER_HEADER_LEN, MAX_RECORD_LIMIT, MIN_RECORD, SEALED_PREFIX_LEN,
};
use crate::keys::{try_sealer_for, Key32, Sealer, TrailerSigner};

/// Where a log goes: a `Write` that can also be made durable.
pub trait Sink: Write {
    /// Make everything written so far durable (fsync for files).
    fn sync(&mut self) -> std::io::Result<()>;

    /// Write a whole batch and leave `batch` empty. A sink may take the
    /// buffer and swap in another one (e.g. to hand it to an I/O thread);
    /// the default writes it and clears it.
    fn write_batch(&mut self, batch: &mut Vec<u8>) -> std::io::Result<()> {
        self.write_all(batch)?;
        batch.clear();
        Ok(())
    }

    /// Deferred checksums ([`WriterConfig::defer_checksums`]): write a batch
    /// whose frames' checksums must first be filled in, in order, by the
    /// [`Chainer`] from [`Writer::take_chainer`]; leave both vectors empty.
    fn write_deferred(
        &mut self,
        batch: &mut Vec<u8>,
        spans: &mut Vec<FrameSpan>,
    ) -> std::io::Result<()> {
        let _ = (batch, spans);
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this sink cannot fill deferred checksums",
        ))
    }

    /// Deferred checksums: the chain after every batch handed over so far
    /// (waits for them).
    fn deferred_chain(&mut self) -> std::io::Result<[u8; 32]> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this sink cannot fill deferred checksums",
        ))
    }
}

/// Where a frame lies in a batch with deferred checksums: `start..end` is
/// its header and payload; its 32 checksum bytes follow `end`. `digest` is
/// the payload's [`payload_digest`] when the writer computed it already
/// ([`WriterConfig::inline_digests`]); the [`Chainer`] computes the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSpan {
    pub start: usize,
    pub end: usize,
    pub digest: Option<[u8; 32]>,
}

/// Fills deferred frame checksums (and so carries the hash chain) for a
/// writer created with [`WriterConfig::defer_checksums`]: lets whoever moves
/// the bytes hash them on its own thread. Batches must be filled in order.
pub struct Chainer {
    chain: [u8; 32],
}

impl Chainer {
    /// Fill the checksum after each span, in order (computing the payload
    /// digests the writer left out, then linking); false (nothing more
    /// trustworthy in `batch`) if a span is out of bounds.
    pub fn fill(&mut self, batch: &mut [u8], spans: &[FrameSpan]) -> bool {
        for &FrameSpan { start, end, digest } in spans {
            let Some((header, payload)) = batch
                .get(start..end)
                .and_then(|b| b.split_first_chunk::<FRAME_HEADER_LEN>())
            else {
                return false;
            };
            let digest = digest.unwrap_or_else(|| payload_digest(payload));
            let sum = chain_link(&self.chain, header, &digest);
            let Some(dst) = batch.get_mut(end..end + CHECKSUM_LEN) else {
                return false;
            };
            dst.copy_from_slice(&sum);
            self.chain = sum;
        }
        true
    }

    /// The chain after the last frame filled.
    pub fn chain(&self) -> [u8; 32] {
        self.chain
    }
}

impl Sink for std::fs::File {
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_all()
    }
}

impl Sink for Vec<u8> {
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// When pending records are written out.
#[derive(Clone, Debug)]
pub struct FlushPolicy {
    /// Write once this many bytes are pending.
    pub bytes: usize,
    /// Write on an append that comes at least this many microseconds (by the
    /// caller's timestamps) after the previous write. `None`: only on bytes
    /// and at close.
    pub interval_us: Option<u64>,
    /// fsync after every write, not only at close.
    pub fsync_each: bool,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy {
            bytes: 256 << 10,
            interval_us: Some(200_000),
            fsync_each: false,
        }
    }
}

/// Writer limits and policy.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Largest payload per record; larger payloads are split.
    pub max_record: u32,
    /// Largest plaintext per encrypted batch (encrypted logs).
    pub max_batch: u32,
    /// Plaintext payloads at least this large are written straight from the
    /// caller's buffer (vectored write) instead of being copied. Keep it at
    /// or above `flush.bytes`: below that, one syscall per record costs more
    /// than the copy it saves (measured: 64 KiB records, 0.5x vs 0.8x raw).
    pub direct_write_min: usize,
    pub flush: FlushPolicy,
    /// Leave frame checksums to the sink ([`Sink::write_deferred`] with the
    /// [`Chainer`] from [`Writer::take_chainer`]), so that hashing can run on
    /// the thread that writes. Disables direct writes.
    pub defer_checksums: bool,
    /// Deferred checksums: of every 8 frames, how many payload digests the
    /// writer computes itself as it frames them (0..=8; more count as 8).
    /// The [`Chainer`] computes the rest and every chain link, so the two
    /// threads can share the hashing.
    pub inline_digests: u8,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_record: 1 << 20,
            max_batch: (1 << 20) + INNER_HEADER_LEN as u32,
            direct_write_min: 256 << 10,
            flush: FlushPolicy::default(),
            defer_checksums: false,
            inline_digests: 0,
        }
    }
}

/// A payload to append: contiguous bytes, or something that can copy itself
/// into the batch buffer (e.g. a Python buffer seen through cells).
pub trait Source {
    /// Total length in bytes.
    fn len(&self) -> usize;
    /// True when empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copy `dst.len()` bytes starting at `offset` into `dst`; false when
    /// the source cannot (the append then fails rather than record zeros).
    fn copy_to(&self, offset: usize, dst: &mut [u8]) -> bool;
    /// The bytes as one slice, when they are one.
    fn contiguous(&self) -> Option<&[u8]>;
}

impl Source for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn copy_to(&self, offset: usize, dst: &mut [u8]) -> bool {
        match self.get(offset..offset + dst.len()) {
            Some(s) => {
                dst.copy_from_slice(s);
                true
            }
            None => false,
        }
    }
    fn contiguous(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// What a closed log contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub frames: u64,
    pub records: u64,
    pub payload_bytes: u64,
    pub chain: [u8; 32],
    pub file_bytes: u64,
}

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

    fn finish_frame(&mut self, start: usize) {
        if let Some(spans) = &mut self.spans {
            self.digest_turn += self.cfg.inline_digests.min(8);
            let digest = if self.digest_turn >= 8 {
                self.digest_turn -= 8;
                self.out.get(start + FRAME_HEADER_LEN..).map(payload_digest)
            } else {
                None
            };
            spans.push(FrameSpan {
                start,
                end: self.out.len(),
                digest,
            });
            self.out.extend_from_slice(&[0u8; CHECKSUM_LEN]);
            self.next_frame += 1;
            return;
        }
        let sum = frame_checksum(&self.chain, &self.out[start..], &[]);
        self.out.extend_from_slice(&sum);
        self.chain = sum;
        self.next_frame += 1;
    }

    fn try_plain_frame(
        &mut self,
        kind: Kind,
        t_us: u64,
        flags: u8,
        src: &(impl Source + ?Sized),
        off: usize,
        n: usize,
    ) -> Result<()> {
        let start = self.out.len();
        let h = encode_frame_header(n as u32, self.next_frame, t_us, kind, flags);
        self.out.extend_from_slice(&h);
        if let Err(e) = self.try_push_payload(src, off, n) {
            self.out.truncate(start);
            return Err(e);
        }
        self.finish_frame(start);
        Ok(())
    }

    /// Copy `n` payload bytes from `src` at `off` onto the batch buffer.
    fn try_push_payload(
        &mut self,
        src: &(impl Source + ?Sized),
        off: usize,
        n: usize,
    ) -> Result<()> {
        match src.contiguous() {
            Some(b) => self.out.extend_from_slice(&b[off..off + n]),
            None => {
                let at = self.out.len();
                self.out.resize(at + n, 0);
                if !src.copy_to(off, &mut self.out[at..]) {
                    return Err(Error::config("the payload buffer could not be read"));
                }
            }
        }
        Ok(())
    }

    fn try_direct_frame(&mut self, kind: Kind, t_us: u64, flags: u8, payload: &[u8]) -> Result<()> {
        let h = encode_frame_header(payload.len() as u32, self.next_frame, t_us, kind, flags);
        let sum = frame_checksum(&self.chain, &h, payload);
        self.chain = sum;
        self.next_frame += 1;
        let total = self.out.len() + h.len() + payload.len() + CHECKSUM_LEN;
        write_all_vectored(&mut self.sink, &[&self.out, &h, payload, &sum])?;
        self.file_bytes += total as u64;
        self.out.clear();
        self.last_flush_us = self.last_t_us;
        if self.cfg.flush.fsync_each {
            self.sink.sync()?;
        }
        Ok(())
    }

    fn try_inner_record(
        &mut self,
        kind: Kind,
        t_us: u64,
        flags: u8,
        src: &(impl Source + ?Sized),
        off: usize,
        n: usize,
    ) -> Result<()> {
        let need = INNER_HEADER_LEN + n;
        if let Some(b) = &self.batch {
            let used = self.out.len() - b.start - FRAME_HEADER_LEN - SEALED_PREFIX_LEN;
            if used + need > self.cfg.max_batch as usize {
                self.try_seal()?;
            }
        }
        if self.batch.is_none() {
            let start = self.out.len();
            self.out
                .resize(start + FRAME_HEADER_LEN + SEALED_PREFIX_LEN, 0);
            self.batch = Some(OpenBatch {
                start,
                first_record: self.records,
                count: 0,
                t_us,
            });
        }
        self.out.extend_from_slice(&t_us.to_le_bytes());
        self.out.push(kind as u8);
        self.out.push(flags);
        self.out.extend_from_slice(&(n as u32).to_le_bytes());
        self.try_push_payload(src, off, n)?;
        if let Some(b) = &mut self.batch {
            b.count += 1;
        }
        Ok(())
    }

    /// Encrypt the open batch in place and frame it.
    fn try_seal(&mut self) -> Result<()> {
        let (Some(b), Some(sealer)) = (self.batch.take(), &self.sealer) else {
            return Ok(());
        };
        let body = b.start + FRAME_HEADER_LEN;
        self.out[body..body + 8].copy_from_slice(&b.first_record.to_le_bytes());
        self.out[body + 8..body + 12].copy_from_slice(&b.count.to_le_bytes());
        let aad = sealed_aad(
            &self.header_checksum,
            &self.out[body..body + SEALED_PREFIX_LEN],
        );
        let tag = sealer.try_seal(
            self.next_frame,
            &aad,
            &mut self.out[body + SEALED_PREFIX_LEN..],
        )?;
        self.out.extend_from_slice(&tag);
        let len = self.out.len() - body;
        let h = encode_frame_header(len as u32, self.next_frame, b.t_us, Kind::Sealed, 0);
        self.out[b.start..body].copy_from_slice(&h);
        self.finish_frame(b.start);
        Ok(())
    }

    fn try_maybe_flush(&mut self, t_us: u64) -> Result<()> {
        let due_bytes = self.out.len() >= self.cfg.flush.bytes;
        let due_time = match self.cfg.flush.interval_us {
            Some(iv) => t_us.saturating_sub(self.last_flush_us) >= iv && !self.out.is_empty(),
            None => false,
        };
        if due_bytes || due_time {
            self.try_flush_at(t_us)?;
        }
        Ok(())
    }

    /// Write every pending record now (sealing the open batch).
    pub fn try_flush(&mut self) -> Result<()> {
        self.check_usable()?;
        self.try_flush_at(self.last_t_us)
    }

    fn try_flush_at(&mut self, t_us: u64) -> Result<()> {
        let r = self.try_seal().and_then(|()| {
            if !self.out.is_empty() {
                self.file_bytes += self.out.len() as u64;
                match &mut self.spans {
                    Some(spans) => self.sink.write_deferred(&mut self.out, spans)?,
                    None => self.sink.write_batch(&mut self.out)?,
                }
                if self.cfg.flush.fsync_each {
                    self.sink.sync()?;
                }
            }
            self.sink.flush()?;
            Ok(())
        });
        if r.is_err() {
            self.failed = true;
        }
        self.last_flush_us = t_us;
        r
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

/// Write every part, in order, with as few `write_vectored` calls as the
/// sink allows (partial writes resume where they stopped).
fn write_all_vectored(w: &mut impl Write, parts: &[&[u8]]) -> std::io::Result<()> {
    let (mut idx, mut off) = (0usize, 0usize);
    loop {
        while idx < parts.len() && off >= parts[idx].len() {
            idx += 1;
            off = 0;
        }
        if idx >= parts.len() {
            return Ok(());
        }
        let mut slices = [IoSlice::new(&[]); 4];
        let mut count = 0;
        for (j, p) in parts[idx..].iter().take(4).enumerate() {
            slices[j] = IoSlice::new(if j == 0 { &p[off..] } else { p });
            count = j + 1;
        }
        let mut n = match w.write_vectored(&slices[..count]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while n > 0 && idx < parts.len() {
            let rem = parts[idx].len() - off;
            if n >= rem {
                n -= rem;
                idx += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
    }
}
