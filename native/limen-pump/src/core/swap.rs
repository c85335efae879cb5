//! A config reload's masks for a live core ([`MaskSwap`]).
use std::sync::Arc;

use limen_wire::pg::ContentMasker;

use super::{lock, SharedRelay};
use crate::error::PumpError;
use crate::handoff::Handoff;

/// A statement masker and the `u2c` flag, as a reload hands them over.
pub(super) type Masks<M> = (Option<M>, bool);

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
    pub(super) masks: Handoff<Masks<M>>,
}

impl<M> Clone for MaskSwap<M> {
    fn clone(&self) -> Self {
        MaskSwap {
            relay: Arc::clone(&self.relay),
            masks: self.masks.clone(),
        }
    }
}

impl<M> std::fmt::Debug for MaskSwap<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskSwap")
            .field("masks", &self.masks)
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
        self.masks.put((input_masker, results_masked))?;
        relay.set_masker(result_masker);
        Ok(())
    }
}
