//! What the writer writes to and reads from, and how it is configured:
//! [`Sink`], [`Source`], [`FrameSpan`] and the deferred [`Chainer`],
//! [`FlushPolicy`], [`WriterConfig`], and the closing [`Summary`].

use std::io::Write;

use crate::format::{chain_link, payload_digest, CHECKSUM_LEN, FRAME_HEADER_LEN, INNER_HEADER_LEN};

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
    /// [`Chainer`] from [`Writer::take_chainer`](super::Writer::take_chainer);
    /// leave both vectors empty.
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
    pub(super) chain: [u8; 32],
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
    /// [`Chainer`] from [`Writer::take_chainer`](super::Writer::take_chainer)),
    /// so that hashing can run on the thread that writes. Disables direct
    /// writes.
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
