//! Candidate lists kept between scans.
//!
//! A scan's candidate list grows to one window's candidates (on digit
//! groups, tens of thousands of entries). Built afresh per scan, a stream
//! fed 64 KiB at a time paid for that growth, its reallocations and copies,
//! on every chunk, which one-shot masking pays once. Large scans take a
//! list from this pool and give it back, so the growth is paid once per
//! masker. A list is bounded by the window (see `scan.rs`); the pool keeps
//! at most [`KEPT`] of them.

use std::sync::Mutex;

use crate::trigger::Candidates;

/// Scans of fewer bytes than this build their own (small) list: taking one
/// from the pool costs a lock, more than the few candidates of a short
/// value (a database cell) cost to collect.
const POOLED_AT: usize = 4 << 10;

/// Lists kept for reuse (one per concurrent large scan is enough).
const KEPT: usize = 4;

#[derive(Default)]
pub(crate) struct CandidatePool {
    spare: Mutex<Vec<Candidates>>,
}

impl CandidatePool {
    /// A list for a scan of `bytes` bytes: a pooled one for a large scan.
    pub(crate) fn take(&self, bytes: usize) -> Candidates {
        if bytes < POOLED_AT {
            return Candidates::default();
        }
        let spare = self.spare.lock().ok().and_then(|mut v| v.pop());
        let mut cands = spare.unwrap_or_default();
        // Nothing below position 0 was searched: the scan's first window
        // refills (and clears) the list before reading it.
        cands.upto = 0;
        cands
    }

    /// Gives a list back (dropped if the pool is full or it was not pooled).
    pub(crate) fn put(&self, cands: Candidates, bytes: usize) {
        if bytes < POOLED_AT {
            return;
        }
        if let Ok(mut v) = self.spare.lock() {
            if v.len() < KEPT {
                v.push(cands);
            }
        }
    }
}
