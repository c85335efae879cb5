//! The MySQL core's decision cache: statements by exact payload or, for
//! `COM_QUERY`, by shape (other constants, see [`super::shape`], when the
//! host marked the decision so), and the prepared statements decided here.
use limen_wire::mysql::command::code;
use limen_wire::mysql::{ContentMasker, Expect};

use super::{lock, note, MySqlCore, EXECUTE_SPLIT, LAST_PREPARED, NO_BACKSLASH_ESCAPES};
use crate::core::{RecordKind, RecordSink};
use crate::error::{PumpError, Side};

/// A `COM_QUERY` payload's shape key: apart from exact keys (whose first
/// byte is the backslash mode, 0 or 1) by its first byte, 2 or 3.
pub(super) fn shape_key(mode: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let text = payload.get(1..)?;
    let mut key = super::shape::literal_key(text)?;
    key.insert(0, 2 | mode);
    Some(key)
}

fn statement_id(payload: &[u8]) -> Option<u32> {
    let b: [u8; 4] = payload.get(1..5)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

impl<M: ContentMasker> MySqlCore<M> {
    /// The cache key of a statement payload: the backslash-escape mode
    /// (it changes how a text parses), then the payload.
    pub(super) fn key_for(&self, payload: &[u8]) -> Result<Vec<u8>, PumpError> {
        let status = lock(&self.relay)?.status();
        let mut key = Vec::with_capacity(payload.len() + 1);
        key.push(u8::from(status & NO_BACKSLASH_ESCAPES != 0));
        key.extend_from_slice(payload);
        Ok(key)
    }

    pub(super) fn cached_statement<R: RecordSink>(
        &mut self,
        command: u8,
        seq: u8,
        raw: &[u8],
        payload: &[u8],
        upstream: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<bool, PumpError> {
        if self.limits.entries == 0 || payload.len() > self.limits.max_text {
            return Ok(false);
        }
        let status = lock(&self.relay)?.status();
        let mode = u8::from(status & NO_BACKSLASH_ESCAPES != 0);
        self.key.clear();
        self.key.push(mode);
        self.key.extend_from_slice(payload);
        let mut hit = self.cache.get(self.key.as_slice());
        if hit.is_none() && command == code::QUERY {
            self.shape_key = shape_key(mode, payload);
            if let Some(k) = &self.shape_key {
                hit = self.cache.get(k.as_slice());
            }
            if let (Some(_), Some(m)) = (hit, &self.input_masker) {
                // Other constants: recorded as is only if the content
                // masker finds nothing in them (else the host records it).
                self.scratch.clear();
                if m.mask_into(payload.get(1..).unwrap_or_default(), &mut self.scratch) > 0 {
                    hit = None;
                }
            }
        }
        let Some(event) = hit else {
            return Ok(false);
        };
        let (event, execute) = if command == code::STMT_PREPARE {
            let at = event.iter().position(|&b| b == EXECUTE_SPLIT);
            match at {
                Some(at) => (&event[..at], Some(event[at + 1..].to_vec())),
                None => return Ok(false),
            }
        } else {
            (&event[..], None)
        };
        let text = payload.get(1..).unwrap_or_default();
        sink.try_append_flagged(RecordKind::C2u, text, self.input_masked)
            .map_err(PumpError::record)?;
        sink.try_append(RecordKind::Event, event)
            .map_err(PumpError::record)?;
        let expect = if command == code::STMT_PREPARE {
            self.prepare = Some(execute);
            self.last_prepared = None;
            Expect::Prepare
        } else {
            Expect::Query
        };
        let mut relay = lock(&self.relay)?;
        relay.set_secret_statement(false);
        relay
            .expect(expect, seq, None, None)
            .map_err(|e| PumpError::wire(Side::Client, &e))?;
        upstream.extend_from_slice(raw);
        Ok(true)
    }

    pub(super) fn known_statement<R: RecordSink>(
        &mut self,
        command: u8,
        seq: u8,
        raw: &[u8],
        payload: &[u8],
        upstream: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<bool, PumpError> {
        let Some(sid) = statement_id(payload) else {
            return Ok(false);
        };
        let resolved = if sid == LAST_PREPARED {
            match self.last_prepared {
                Some(last) => last,
                None => return Ok(false),
            }
        } else {
            sid
        };
        if command == code::STMT_CLOSE {
            if payload.len() != 5
                || self.note.closed.len() >= note::MAX_CLOSED
                || self.statements.remove(&resolved).is_none()
            {
                return Ok(false);
            }
            // The host forgets it too (it may know the id from a prepare it judged).
            self.note.closed.push(resolved);
            if self.last_prepared == Some(resolved) {
                self.last_prepared = None;
            }
            lock(&self.relay)?.forget_statement(sid);
            upstream.extend_from_slice(raw);
            return Ok(true);
        }
        let Some(prefix) = self.statements.get(&resolved) else {
            return Ok(false);
        };
        let (expect, forget) = match command {
            code::STMT_RESET => (Some(Expect::Ok), true),
            code::STMT_FETCH => (Some(Expect::Fetch), false),
            code::STMT_SEND_LONG_DATA => (None, false),
            _ => (Some(Expect::Execute), false),
        };
        if command != code::STMT_EXECUTE {
            // As the host forwards them for a statement it knows.
            let mut relay = lock(&self.relay)?;
            if forget {
                relay.forget_statement(sid);
            }
            if let Some(expect) = expect {
                let statement = (command == code::STMT_FETCH).then_some(sid);
                relay.set_secret_statement(false);
                relay
                    .expect(expect, seq, self.statement_plan.clone(), statement)
                    .map_err(|e| PumpError::wire(Side::Client, &e))?;
            }
            upstream.extend_from_slice(raw);
            return Ok(true);
        }
        let mut event = Vec::with_capacity(prefix.len() + 12);
        event.extend_from_slice(prefix);
        event.extend_from_slice(sid.to_string().as_bytes());
        event.push(b'}');
        sink.try_append(RecordKind::Event, &event)
            .map_err(PumpError::record)?;
        let mut relay = lock(&self.relay)?;
        relay.set_secret_statement(false);
        relay
            .expect(Expect::Execute, seq, self.statement_plan.clone(), Some(sid))
            .map_err(|e| PumpError::wire(Side::Client, &e))?;
        upstream.extend_from_slice(raw);
        Ok(true)
    }

    pub(super) fn remember(&mut self, key: Vec<u8>, event: Vec<u8>) {
        let size = key.len() + event.len();
        if size > self.limits.bytes {
            return;
        }
        if self.cache.len() >= self.limits.entries || self.cache_bytes + size > self.limits.bytes {
            self.clear_cache();
        }
        let key_len = key.len();
        if let Some(old) = self.cache.insert(key, event) {
            self.cache_bytes = self.cache_bytes.saturating_sub(key_len + old.len());
        }
        self.cache_bytes += size;
    }
}
