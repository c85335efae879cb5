//! Streams: a masker fed in chunks.
//!
//! A stream keeps the bytes it cannot decide yet (fewer than
//! [`Masker::max_holdback`]) and a little look-behind before them
//! ([`CONTEXT`] bytes, and the parity of the backslash run before its
//! buffer: `escape.rs`). It scans once at least `max_holdback` bytes are
//! pending, so each scan decides at least as many new bytes as it re-reads
//! (`scan.rs` says why every scan is a pure function of decided bytes, so
//! any split gives the one-shot output).
//!
//! What a stream costs beyond one-shot masking, per chunk: the chunk is
//! copied once into the buffer, and the held bytes (at most the longest
//! head) are walked again by the next scan; fed 64 KiB at a time, that is
//! under 2% more automaton transitions. A scan's candidate list comes from
//! a pool (`scan/pool.rs`), so it is not grown afresh for every chunk.

use crate::escape::{self, CONTEXT};
use crate::masker::{Finding, Masker};
use crate::scan::{ScanState, Work};

/// Masks a stream fed in chunks of any size. Output is byte-identical to
/// [`Masker::mask`] on the concatenated input; at most
/// [`Masker::max_holdback`] bytes are held between calls.
pub struct Stream {
    masker: Masker,
    buf: Vec<u8>,
    /// `buf[pos..]` is not yet consumed; `buf[..pos]` is look-behind context.
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    state: ScanState,
    findings: Vec<Finding>,
    finished: bool,
}

impl Stream {
    pub(crate) fn new(masker: Masker) -> Stream {
        Stream {
            masker,
            buf: Vec::new(),
            pos: 0,
            base: 0,
            state: ScanState::default(),
            findings: Vec::new(),
            finished: false,
        }
    }

    /// Feeds a chunk; appends what is now safe to emit to `out`.
    pub fn feed_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.finished {
            // A finished stream passes nothing more through: fail closed.
            return;
        }
        self.buf.extend_from_slice(chunk);
        // Scan only once the pending bytes reach the hold-back bound: a scan
        // re-reads what the previous one held back (at most the longest head),
        // so each scan then decides at least as many new bytes as it re-reads.
        if self.pending() < self.masker.max_holdback() {
            return;
        }
        let findings = &mut self.findings;
        self.pos = self.masker.scan(
            &mut self.state,
            &self.buf,
            self.pos,
            false,
            self.base,
            out,
            &mut |f| findings.push(f),
        );
        // Keep only what is pending plus the look-behind context (one byte
        // for `\b`, the longest escape for `escape.rs`), and carry the
        // parity of the backslash run that ends where the buffer now starts.
        if self.pos > CONTEXT {
            let drop = self.pos - CONTEXT;
            self.state.carry = escape::escaped(&self.buf, drop, self.state.carry);
            self.buf.drain(..drop);
            self.base += drop as u64;
            self.pos = CONTEXT;
        }
    }

    /// Feeds a chunk and returns what is now safe to emit.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + self.pending());
        self.feed_into(chunk, &mut out);
        out
    }

    /// Ends the stream; appends the rest to `out`.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let findings = &mut self.findings;
        self.pos = self.masker.scan(
            &mut self.state,
            &self.buf,
            self.pos,
            true,
            self.base,
            out,
            &mut |f| findings.push(f),
        );
        self.finished = true;
        self.buf = Vec::new();
        self.pos = 0;
    }

    /// Ends the stream and returns the rest.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }

    /// Findings since the last call (offsets are stream offsets).
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// Bytes currently held back (not yet emitted).
    pub fn pending(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The work done so far (see [`Work`]).
    pub fn work(&self) -> Work {
        self.state.work
    }

    /// Bytes buffered, including look-behind context.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The masker this stream uses.
    pub fn masker(&self) -> &Masker {
        &self.masker
    }
}
