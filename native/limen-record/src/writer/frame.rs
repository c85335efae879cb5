//! Framing, sealing and flushing: how appended records become batches and
//! reach the sink (the [`Writer`]'s private half; `mod.rs` holds its API).

use std::io::{IoSlice, Write};

use super::{sealed_aad, FrameSpan, OpenBatch, Sink, Source, Writer};
use crate::error::{Error, Result};
use crate::format::{
    encode_frame_header, frame_checksum, payload_digest, Kind, CHECKSUM_LEN, FRAME_HEADER_LEN,
    INNER_HEADER_LEN, SEALED_PREFIX_LEN,
};

impl<W: Sink> Writer<W> {
    pub(super) fn finish_frame(&mut self, start: usize) {
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

    pub(super) fn try_plain_frame(
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
    pub(super) fn try_push_payload(
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

    pub(super) fn try_direct_frame(
        &mut self,
        kind: Kind,
        t_us: u64,
        flags: u8,
        payload: &[u8],
    ) -> Result<()> {
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

    pub(super) fn try_inner_record(
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
    pub(super) fn try_seal(&mut self) -> Result<()> {
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

    pub(super) fn try_maybe_flush(&mut self, t_us: u64) -> Result<()> {
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

    pub(super) fn try_flush_at(&mut self, t_us: u64) -> Result<()> {
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
