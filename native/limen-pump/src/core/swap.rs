//! A config reload's masks for a live core ([`MaskSwap`]).
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use limen_wire::pg::ContentMasker;

use super::{lock, SharedRelay};
use crate::error::PumpError;

/// A statement masker and the `u2c` flag, as a reload hands them over.
type Masks<M> = (Option<M>, bool);

/// The host's handle on a session's masks, for a config reload:
/// [`MaskSwap::set`] gives the shared relay its new result masker and
/// leaves the core its new statement masker and `u2c` flag, all under the
/// relay's lock; the core takes them under that lock too, before it feeds
/// the next upstream bytes and before the next client message, so a
/// record's `MASKED` flag always matches the masker its bytes went
/// through. Cloned from [`crate::PumpCore::mask_swap`] before the core moves to a
/// pump thread.
pub struct MaskSwap<M> {
    pub(super) relay: SharedRelay<M>,
    pub(super) slot: Arc<Mutex<Option<Masks<M>>>>,
    pub(super) pending: Arc<AtomicBool>,
}

impl<M> Clone for MaskSwap<M> {
    fn clone(&self) -> Self {
        MaskSwap {
            relay: Arc::clone(&self.relay),
            slot: Arc::clone(&self.slot),
            pending: Arc::clone(&self.pending),
        }
    }
}

impl<M> std::fmt::Debug for MaskSwap<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskSwap")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish()
    }
}

impl<M: ContentMasker> MaskSwap<M> {
    /// New masks: `result_masker` for what the client gets (None: column
    /// rules only), `input_masker` for the statement texts the core
    /// records, `results_masked` for the flag of its `u2c` records.
    pub fn set(
        &self,
        result_masker: Option<M>,
        input_masker: Option<M>,
        results_masked: bool,
    ) -> Result<(), PumpError> {
        let mut relay = lock(&self.relay)?;
        *self
            .slot
            .lock()
            .map_err(|_| PumpError::local("the mask swap lock is poisoned"))? =
            Some((input_masker, results_masked));
        self.pending.store(true, Ordering::Release);
        relay.set_masker(result_masker);
        Ok(())
    }
}

impl<M> MaskSwap<M> {
    /// The masks [`MaskSwap::set`] left, if any (the caller holds the
    /// relay's lock, or feeds nothing until it has recorded).
    pub(super) fn take(&self) -> Option<Masks<M>> {
        if !self.pending.swap(false, Ordering::Acquire) {
            return None;
        }
        self.slot.lock().ok().and_then(|mut s| s.take())
    }
}
