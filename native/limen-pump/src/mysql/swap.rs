//! A config reload's masks for a live MySQL core ([`MySqlMaskSwap`]): the
//! MySQL counterpart of [`crate::MaskSwap`].
//!
//! [`MySqlMaskSwap::set`] gives the shared relay its new content masker
//! and leaves the core its new statement masker, its record flags and the
//! column plan of the statements it prepared on cached decisions, all
//! under the relay's lock. The core takes them under that lock too:
//! before it handles the next client command ([`MySqlCore::try_process`],
//! which the pump runs for every client read after applying the host's
//! queued commands) and before it feeds the next upstream bytes. So a
//! command the client sends after `set` returned is judged, cached,
//! masked and recorded by the new masks, and a `u2c` record's `MASKED`
//! flag always matches the masker its bytes went through.
//!
//! Taking new masks forgets the decision cache (its hits were recorded by
//! the old statement masker). Statements prepared on a cached decision
//! (their executes are decided here, not by the host, which never saw
//! them) had no column plan, since the host caches only decisions without
//! one; when the new config masks columns, their executes and fetches get
//! the plan `set` gives (the host's "mask every column" plan), until the
//! client prepares them again.
use std::sync::Arc;

use limen_wire::mysql::{ColumnPlan, ContentMasker};

use super::{lock, MySqlCore, SharedMySqlRelay};
use crate::error::PumpError;
use crate::handoff::Handoff;

/// What a reload hands a core.
struct Masks<M> {
    input_masker: Option<M>,
    input_masked: bool,
    results_masked: bool,
    statement_plan: Option<Arc<ColumnPlan>>,
}

/// The host's handle on a MySQL session's masks (see the module docs).
/// Cloned from [`MySqlCore::mask_swap`] before the core moves to a pump
/// thread.
pub struct MySqlMaskSwap<M> {
    relay: SharedMySqlRelay<M>,
    masks: Handoff<Masks<M>>,
}

impl<M> Clone for MySqlMaskSwap<M> {
    fn clone(&self) -> Self {
        MySqlMaskSwap {
            relay: Arc::clone(&self.relay),
            masks: self.masks.clone(),
        }
    }
}

impl<M> std::fmt::Debug for MySqlMaskSwap<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlMaskSwap")
            .field("masks", &self.masks)
            .finish()
    }
}

impl<M> MySqlMaskSwap<M> {
    pub(super) fn new(relay: SharedMySqlRelay<M>) -> Self {
        MySqlMaskSwap {
            relay,
            masks: Handoff::new(),
        }
    }
}

impl<M: ContentMasker> MySqlMaskSwap<M> {
    /// New masks: `result_masker` for the values the client gets (None:
    /// column plans only), `input_masker` the content masker of statement
    /// texts as recorded (shape hits it finds anything in go to the host),
    /// `input_masked` whether statement texts are recorded masked,
    /// `results_masked` the flag of `u2c` records, and `statement_plan`
    /// the column plan for statements prepared on a cached decision (None:
    /// the new config masks no column).
    pub fn set(
        &self,
        result_masker: Option<M>,
        input_masker: Option<M>,
        input_masked: bool,
        results_masked: bool,
        statement_plan: Option<ColumnPlan>,
    ) -> Result<(), PumpError> {
        let mut relay = lock(&self.relay)?;
        self.masks.put(Masks {
            input_masker,
            input_masked,
            results_masked,
            statement_plan: statement_plan.map(Arc::new),
        })?;
        relay.set_masker(result_masker);
        Ok(())
    }
}

impl<M: ContentMasker> MySqlCore<M> {
    /// The handle that replaces this core's masks (see [`MySqlMaskSwap`]).
    pub fn mask_swap(&self) -> MySqlMaskSwap<M> {
        self.swap.clone()
    }

    /// Takes the masks a [`MySqlMaskSwap::set`] left, if any.
    pub(super) fn take_masks(&mut self) {
        if let Some(masks) = self.swap.masks.take() {
            self.input_masker = masks.input_masker;
            self.input_masked = masks.input_masked;
            self.results_masked = masks.results_masked;
            self.statement_plan = masks.statement_plan;
            // Decisions cached under the old masks were recorded by them.
            self.clear_cache();
        }
    }
}
