//! Column definitions as the client gets them, remembered by their bytes
//! ([`NameMemo`]): a statement run again gets the same definitions from
//! the server (every `COM_STMT_EXECUTE` of a prepared statement, every
//! text query of one shape), and masking their five names by content each
//! time is the same work for the same answer.
//!
//! What a definition becomes depends only on its bytes and the content
//! masker, unless its names are replaced because the statement held a
//! secret (the relay then neither asks nor tells the memo). So the memo
//! is emptied whenever the masker changes ([`super::ServerRelay::set_masker`])
//! and holds at most [`NAME_MEMO_ENTRIES`] definitions and
//! [`NAME_MEMO_BYTES`] bytes (it is emptied when either would be passed).
use std::collections::HashMap;

use super::ServerRelay;

/// Most definitions remembered.
pub const NAME_MEMO_ENTRIES: usize = 1024;
/// Most bytes remembered (definitions as received plus as masked).
pub const NAME_MEMO_BYTES: usize = 256 << 10;
/// A definition longer than this (received plus masked) is not remembered.
const MAX_ONE: usize = 4 << 10;

/// The memo (see the module docs).
#[derive(Debug, Default)]
pub(super) struct NameMemo {
    /// A definition's payload as received: None when it goes out
    /// unchanged, else its payload as masked.
    map: HashMap<Box<[u8]>, Option<Box<[u8]>>>,
    bytes: usize,
    /// Never remember (the uncached path, for differential tests).
    off: bool,
}

impl NameMemo {
    /// What the definition `payload` became: `Some(None)` unchanged,
    /// `Some(Some(masked))`; None when it is not remembered.
    pub(super) fn get(&self, payload: &[u8]) -> Option<Option<&[u8]>> {
        self.map.get(payload).map(Option::as_deref)
    }

    /// Remembers what `payload` became (`None`: unchanged).
    pub(super) fn put(&mut self, payload: &[u8], masked: Option<&[u8]>) {
        let size = payload.len() + masked.map_or(0, <[u8]>::len);
        if self.off || size > MAX_ONE {
            return;
        }
        if self.map.len() >= NAME_MEMO_ENTRIES || self.bytes + size > NAME_MEMO_BYTES {
            self.clear();
        }
        let old = self.map.insert(payload.into(), masked.map(Into::into));
        if let Some(old) = old {
            self.bytes = self
                .bytes
                .saturating_sub(payload.len() + old.map_or(0, |o| o.len()));
        }
        self.bytes += size;
    }

    /// Forgets everything (the masker changed).
    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    /// Turns remembering on or off (off: forgets everything too).
    pub(super) fn set_enabled(&mut self, on: bool) {
        self.off = !on;
        self.clear();
    }

    /// Definitions remembered.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}

impl<M> ServerRelay<M> {
    /// Turns the memo of masked column definitions on (the default) or
    /// off: the same bytes out either way, only the work differs (for
    /// differential tests and fuzzing). See [`NAME_MEMO_ENTRIES`].
    pub fn set_name_memo(&mut self, on: bool) {
        self.core.names.set_enabled(on);
    }

    /// Column definitions the memo holds.
    pub fn remembered_names(&self) -> usize {
        self.core.names.len()
    }
}
