//! A value the host hands to a core on another thread, taken at the
//! core's next safe point: the slot and its "something waits" flag shared
//! by [`crate::MaskSwap`] and [`crate::mysql::MySqlMaskSwap`] (each puts
//! under its relay's lock; the core takes under that lock too).
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::PumpError;

/// One pending value (a later `put` replaces an untaken one).
pub(crate) struct Handoff<T> {
    slot: Arc<Mutex<Option<T>>>,
    /// Set while `slot` holds a value (read without the lock: one atomic
    /// load per take when nothing waits).
    pending: Arc<AtomicBool>,
}

impl<T> Clone for Handoff<T> {
    fn clone(&self) -> Self {
        Handoff {
            slot: Arc::clone(&self.slot),
            pending: Arc::clone(&self.pending),
        }
    }
}

impl<T> std::fmt::Debug for Handoff<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> Handoff<T> {
    pub(crate) fn new() -> Self {
        Handoff {
            slot: Arc::new(Mutex::new(None)),
            pending: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Leaves `value` for the next [`Handoff::take`].
    pub(crate) fn put(&self, value: T) -> Result<(), PumpError> {
        *self
            .slot
            .lock()
            .map_err(|_| PumpError::local("the mask swap lock is poisoned"))? = Some(value);
        self.pending.store(true, Ordering::Release);
        Ok(())
    }

    /// The value [`Handoff::put`] left, if any.
    pub(crate) fn take(&self) -> Option<T> {
        if !self.pending.swap(false, Ordering::Acquire) {
            return None;
        }
        self.slot.lock().ok().and_then(|mut s| s.take())
    }
}
