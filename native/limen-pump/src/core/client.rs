//! The client side of the core: client bytes in, buffered while a
//! verdict is awaited, each complete message handled (cache hit, judge
//! request, forward, discard), and the host's verdict applied (see the
//! module docs of [`crate::core`]).
use limen_wire::pg::frontend::{Describe, TargetKind};
use limen_wire::pg::{ContentMasker, FrontendMessage};

use super::{
    cache_key, lock, push_describe, push_sync, ClientStep, JudgeKind, JudgeRequest, Pending,
    PumpCore, RecordKind, RecordSink, Verdict,
};
use crate::error::{PumpError, Side};

impl<M: ContentMasker> PumpCore<M> {
    /// Feeds bytes from the client and handles every complete message (see
    /// [`PumpCore::try_process`]). While a verdict is awaited the bytes are
    /// only buffered ([`ClientStep::Paused`]), up to the paused cap: past
    /// it, a client protocol error.
    pub fn try_client_data<R: RecordSink>(
        &mut self,
        data: &[u8],
        upstream: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<ClientStep, PumpError> {
        if self.pending.is_some() {
            if self.decoder.pending().saturating_add(data.len()) > self.paused_cap {
                return Err(PumpError::protocol(
                    Side::Client,
                    format!(
                        "the client sent more than {} bytes while a statement waited for its decision",
                        self.paused_cap
                    ),
                ));
            }
            self.counts.client_bytes += data.len() as u64;
            self.decoder
                .receive_data(data)
                .map_err(|e| PumpError::wire(Side::Client, &e))?;
            return Ok(ClientStep::Paused);
        }
        self.counts.client_bytes += data.len() as u64;
        self.decoder
            .receive_data(data)
            .map_err(|e| PumpError::wire(Side::Client, &e))?;
        self.try_process(upstream, sink)
    }

    /// Handles the client messages already buffered, appending what the
    /// upstream must get to `upstream`, until more bytes are needed, a
    /// message needs the host's decision, or the client terminates.
    pub fn try_process<R: RecordSink>(
        &mut self,
        upstream: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<ClientStep, PumpError> {
        if self.pending.is_some() {
            return Err(PumpError::local("processing while a verdict is awaited"));
        }
        self.take_masks();
        loop {
            let Some((frame, msg)) = self
                .decoder
                .next_message()
                .map_err(|e| PumpError::wire(Side::Client, &e))?
            else {
                return Ok(ClientStep::NeedData);
            };
            let raw = frame.raw();
            if self.discarding {
                match msg {
                    FrontendMessage::Sync => {
                        self.discarding = false;
                        upstream.extend_from_slice(raw);
                        push_sync(&self.relay)?;
                    }
                    FrontendMessage::Flush => upstream.extend_from_slice(raw),
                    FrontendMessage::Terminate => return Ok(ClientStep::Terminate),
                    _ => {}
                }
                continue;
            }
            let (kind, extended, name, sql) = match msg {
                FrontendMessage::Query(q) => (JudgeKind::Query, false, &b""[..], q.sql),
                FrontendMessage::Parse(p) => (JudgeKind::Parse, true, p.name, p.query),
                FrontendMessage::FunctionCall(_) => {
                    (JudgeKind::FunctionCall, false, &b""[..], &b""[..])
                }
                FrontendMessage::Terminate => return Ok(ClientStep::Terminate),
                FrontendMessage::Sync => {
                    upstream.extend_from_slice(raw);
                    push_sync(&self.relay)?;
                    self.described = None;
                    continue;
                }
                FrontendMessage::Describe(d) => {
                    let portal = (d.kind == TargetKind::Portal).then_some(d.name);
                    push_describe(&self.relay, false, portal)?;
                    upstream.extend_from_slice(raw);
                    self.described = match d.kind {
                        TargetKind::Portal => Some(d.name.to_vec()),
                        TargetKind::Statement => None,
                    };
                    continue;
                }
                FrontendMessage::Bind(b) => {
                    // The portal takes the statement's output plan.
                    lock(&self.relay)?.note_bind(b.portal, b.statement);
                    upstream.extend_from_slice(raw);
                    self.described = None;
                    continue;
                }
                FrontendMessage::Execute(e) => {
                    if self.described.as_deref() != Some(e.portal) {
                        // Learn this portal's columns and formats: the
                        // relay masks by them and swallows the answer.
                        Describe {
                            kind: TargetKind::Portal,
                            name: e.portal,
                        }
                        .try_encode(upstream)
                        .map_err(|err| PumpError::wire(Side::Client, &err))?;
                        push_describe(&self.relay, true, Some(e.portal))?;
                    }
                    upstream.extend_from_slice(raw);
                    self.described = None;
                    continue;
                }
                _ => {
                    upstream.extend_from_slice(raw);
                    self.described = None;
                    continue;
                }
            };
            self.described = None;
            if extended {
                // Until the host's judgement plans it (a cached decision
                // is only ever one without a masked column).
                lock(&self.relay)?.plan_statement(name, None);
            }
            let cacheable = kind != JudgeKind::FunctionCall
                && self.limits.entries > 0
                && sql.len() <= self.limits.max_text;
            let mut shape_key = None;
            if cacheable {
                cache_key(&mut self.key, extended, name, sql);
                let mut hit = self.cache.get(self.key.as_slice());
                if hit.is_none() && !extended {
                    shape_key = crate::shape::literal_key(sql).map(|mut k| {
                        k.insert(0, 2); // apart from exact keys (0 or 1)
                        k
                    });
                    if let Some(k) = &shape_key {
                        hit = self.cache.get(k.as_slice());
                    }
                    if let (Some(_), Some(m)) = (hit, &self.input_masker) {
                        // Other constants: recorded as is only if the
                        // masker finds nothing (else the host records it).
                        self.scratch.clear();
                        if m.mask_into(sql, &mut self.scratch) > 0 {
                            hit = None;
                        }
                    }
                }
                if let Some(event) = hit {
                    sink.try_append_flagged(RecordKind::C2u, sql, self.input_masker.is_some())
                        .map_err(PumpError::record)?;
                    sink.try_append(RecordKind::Event, event)
                        .map_err(PumpError::record)?;
                    upstream.extend_from_slice(raw);
                    if !extended {
                        push_sync(&self.relay)?;
                    }
                    self.counts.cache_hits += 1;
                    continue;
                }
            }
            let id = self.next_id;
            self.next_id += 1;
            let key = cacheable.then(|| self.key.clone());
            let request = JudgeRequest {
                id,
                kind,
                name: name.to_vec(),
                sql: sql.to_vec(),
                raw: raw.to_vec(),
            };
            self.pending = Some(Pending {
                id,
                ends_cycle: kind != JudgeKind::Parse,
                key,
                shape_key,
            });
            self.counts.judged += 1;
            return Ok(ClientStep::Judge(request));
        }
    }

    /// Applies the host's verdict on the paused message: its bytes go to
    /// `upstream`. Call [`PumpCore::try_process`] next for the messages
    /// buffered after it.
    pub fn try_resume(
        &mut self,
        id: u64,
        verdict: Verdict,
        upstream: &mut Vec<u8>,
    ) -> Result<(), PumpError> {
        let Pending {
            ends_cycle,
            key,
            shape_key,
            ..
        } = match self.pending.take() {
            Some(pending) if pending.id == id => pending,
            other => {
                self.pending = other;
                return Err(PumpError::local(
                    "a verdict for a request that is not pending",
                ));
            }
        };
        upstream.extend_from_slice(&verdict.upstream);
        if ends_cycle {
            // After the host's registrations for it (made while judging).
            push_sync(&self.relay)?;
        }
        if verdict.discard_until_sync {
            self.discarding = true;
        }
        if let (Some(key), Some(event)) = (key, verdict.cache_event) {
            match shape_key {
                Some(shape) if verdict.cache_shape => self.remember(shape, event),
                _ => self.remember(key, event),
            }
        }
        Ok(())
    }

    fn remember(&mut self, key: Vec<u8>, event: Vec<u8>) {
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
