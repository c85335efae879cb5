//! What the host learns of the upstream's answers: a MySQL judge request
//! carries, in its `name`, the note of the answer to the last command the
//! host judged and forwarded (the host keeps its prepared statements, its
//! `USE` and its resets by them), and the server status now.
//!
//! Layout: the status (2 bytes, little-endian), then, when an answer is
//! reported, its flags ([`NOTE_OK`], [`NOTE_ERR`], [`NOTE_PREPARED`]: 1
//! byte) and the prepared statement id (4 bytes, little-endian; 0 unless
//! [`NOTE_PREPARED`]); then the ids of the statements the pump closed by
//! itself since the last request (4 bytes each, little-endian: the host
//! forgets them too, so a later command naming one is refused as unknown).
//! With closed ids and no answer reported, flags and id are 0 (which the
//! host reads as "nothing reported").

/// At most this many closed ids wait for the next request; past it the
/// pump hands a `COM_STMT_CLOSE` to the host (which forgets it itself).
pub const MAX_CLOSED: usize = 4096;

/// The answer held an OK (or the EOF / OK ending a result set).
pub const NOTE_OK: u8 = 1;
/// The answer held an ERR.
pub const NOTE_ERR: u8 = 2;
/// The answer was a PREPARE_OK (the id follows).
pub const NOTE_PREPARED: u8 = 4;

/// The answer being noted.
#[derive(Debug, Default)]
pub struct Note {
    /// An answer is reported.
    pub(super) reported: bool,
    pub(super) flags: u8,
    pub(super) statement_id: u32,
    /// Statement ids the pump closed by itself.
    pub(super) closed: Vec<u32>,
}

impl Note {
    /// The note for the next request (and a fresh one).
    pub(super) fn take(&mut self, status: u16) -> Vec<u8> {
        let mut out = status.to_le_bytes().to_vec();
        if self.reported || !self.closed.is_empty() {
            out.push(self.flags);
            out.extend_from_slice(&self.statement_id.to_le_bytes());
        }
        for id in &self.closed {
            out.extend_from_slice(&id.to_le_bytes());
        }
        *self = Note::default();
        out
    }
}
