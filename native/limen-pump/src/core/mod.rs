//! The sans-IO core of a pumped session: client bytes in, bytes for the
//! upstream and judge requests out; upstream bytes in, masked bytes for the
//! client out. No socket, no clock, no thread: [`crate::io`] drives it on
//! the pump's thread, the gateway's Trio relay drives it from Python
//! (`limen._native.PgClientCore`: one state machine, two drivers), and
//! tests and the fuzz target drive it with plain byte slices.
//!
//! Client side:
//! - Query and Parse are looked up in the session's decision cache by
//!   (protocol, statement name, statement text). A hit records the
//!   statement (`c2u`) and the decision event the host gave for it
//!   (`event`) and forwards the message. A miss pauses the client direction
//!   and returns a [`JudgeRequest`]; the host answers with a [`Verdict`]
//!   (the bytes to send instead: the message itself, or the denial
//!   marker; whether to discard until Sync; whether the decision may be
//!   cached) through [`PumpCore::try_resume`].
//! - FunctionCall always goes to the host (it is denied there).
//! - While discarding (after a refused Parse), every message but Sync,
//!   Flush and Terminate is dropped; Sync ends the discarding.
//! - Bind is told to the relay (the portal takes its statement's output
//!   plan), and so is each Parse (its plan is cleared until judged).
//! - Describe is forwarded and told to the relay; an Execute of a portal
//!   not described just before gets a hidden Describe first, whose answer
//!   the relay uses for the masking plan and swallows.
//! - Terminate ends the client direction.
//! - While a verdict is awaited, client bytes are only buffered (up to the
//!   paused cap; past it, the client's protocol error) and handled after
//!   the verdict, exactly as if they had come after it.
//! - Every Query, Sync and FunctionCall sent upstream is told to the relay
//!   (`push_sync`), so error replacements and hidden Describes stay with
//!   their own request/ReadyForQuery cycle when the client pipelines.
//!
//! Upstream side: [`ServerRelay`] frames, masks and swaps errors; every
//! byte it returns is recorded (`u2c`) before it is handed out.
//!
//! The relay is shared (`Arc<Mutex<_>>`) with the host, which registers
//! error replacements on it while it judges. The cache holds only what the
//! host marked cacheable (allows, never holds) and is bounded in entries
//! and bytes; when full it is emptied.
mod types;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use limen_wire::pg::frontend::{Describe, TargetKind};
use limen_wire::pg::{ContentMasker, FrontendDecoder, FrontendMessage, RelayEvent, ServerRelay};

use crate::error::{PumpError, Side};

pub use types::{
    CacheLimits, ClientStep, Counts, Judge, JudgeKind, JudgeRequest, NoFastPath, RecordKind,
    RecordSink, Verdict,
};

/// The request awaiting a verdict.
#[derive(Debug)]
struct Pending {
    id: u64,
    /// Its message ends a cycle (Query, FunctionCall).
    ends_cycle: bool,
    /// Its exact cache key, if cacheable.
    key: Option<Vec<u8>>,
    /// Its shape key: a simple query the shape lexer understood.
    shape_key: Option<Vec<u8>>,
}

/// The relay the core shares with its host.
pub type SharedRelay<M> = Arc<Mutex<ServerRelay<M>>>;

/// A statement masker and the `u2c` flag, as a reload hands them over.
type Masks<M> = (Option<M>, bool);

/// The host's handle on a session's masks, for a config reload:
/// [`MaskSwap::set`] gives the shared relay its new result masker and
/// leaves the core its new statement masker and `u2c` flag, all under the
/// relay's lock; the core takes them under that lock too, before it feeds
/// the next upstream bytes and before the next client message, so a
/// record's `MASKED` flag always matches the masker its bytes went
/// through. Cloned from [`PumpCore::mask_swap`] before the core moves to a
/// pump thread.
pub struct MaskSwap<M> {
    relay: SharedRelay<M>,
    slot: Arc<Mutex<Option<Masks<M>>>>,
    pending: Arc<AtomicBool>,
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
    fn take(&self) -> Option<Masks<M>> {
        if !self.pending.swap(false, Ordering::Acquire) {
            return None;
        }
        self.slot.lock().ok().and_then(|mut s| s.take())
    }
}

/// One session's pump state. See the module docs.
#[derive(Debug)]
pub struct PumpCore<M> {
    decoder: FrontendDecoder,
    relay: SharedRelay<M>,
    discarding: bool,
    described: Option<Vec<u8>>,
    /// The request awaiting a verdict.
    pending: Option<Pending>,
    next_id: u64,
    cache: HashMap<Vec<u8>, Vec<u8>>,
    cache_bytes: usize,
    limits: CacheLimits,
    key: Vec<u8>,
    status: u8,
    counts: Counts,
    /// Masks statement texts for the record (see [`PumpCore::with_input_masker`]).
    input_masker: Option<M>,
    scratch: Vec<u8>,
    /// The relay masks what goes to the client (its records are flagged).
    results_masked: bool,
    /// Client bytes buffered at most while a verdict is awaited.
    paused_cap: usize,
    /// New record masks from the host (a config reload).
    swap: MaskSwap<M>,
}

/// Client bytes a paused core buffers by default (see
/// [`PumpCore::with_paused_cap`]).
pub const DEFAULT_PAUSED_CAP: usize = 1 << 20;

fn lock<M>(relay: &SharedRelay<M>) -> Result<std::sync::MutexGuard<'_, ServerRelay<M>>, PumpError> {
    relay
        .lock()
        .map_err(|_| PumpError::local("the relay lock is poisoned"))
}

fn push_describe<M: ContentMasker>(
    relay: &SharedRelay<M>,
    hidden: bool,
    portal: Option<&[u8]>,
) -> Result<(), PumpError> {
    let mut relay = lock(relay)?;
    match portal {
        Some(p) => relay.push_describe_portal(hidden, p),
        None => relay.push_describe(hidden),
    }
    Ok(())
}

fn push_sync<M: ContentMasker>(relay: &SharedRelay<M>) -> Result<(), PumpError> {
    relay
        .lock()
        .map_err(|_| PumpError::local("the relay lock is poisoned"))?
        .push_sync();
    Ok(())
}

fn cache_key(key: &mut Vec<u8>, extended: bool, name: &[u8], sql: &[u8]) {
    key.clear();
    key.push(u8::from(extended));
    key.extend_from_slice(&(name.len() as u64).to_be_bytes());
    key.extend_from_slice(name);
    key.extend_from_slice(sql);
}

impl<M: ContentMasker> PumpCore<M> {
    /// A core over a client decoder in the regular phase (the one that
    /// decoded the handshake, with whatever it still buffers) and the
    /// session's relay.
    pub fn new(decoder: FrontendDecoder, relay: SharedRelay<M>, limits: CacheLimits) -> Self {
        let swap = MaskSwap {
            relay: Arc::clone(&relay),
            slot: Arc::new(Mutex::new(None)),
            pending: Arc::new(AtomicBool::new(false)),
        };
        PumpCore {
            decoder,
            relay,
            discarding: false,
            described: None,
            pending: None,
            next_id: 1,
            cache: HashMap::new(),
            cache_bytes: 0,
            limits,
            key: Vec::new(),
            status: b'I',
            counts: Counts::default(),
            input_masker: None,
            scratch: Vec::new(),
            results_masked: false,
            paused_cap: DEFAULT_PAUSED_CAP,
            swap,
        }
    }

    /// The handle that replaces this core's record masks (see [`MaskSwap`]).
    pub fn mask_swap(&self) -> MaskSwap<M> {
        self.swap.clone()
    }

    /// Takes the masks a [`MaskSwap::set`] left, if any.
    fn take_masks(&mut self) {
        if let Some((masker, masked)) = self.swap.take() {
            self.input_masker = masker;
            self.results_masked = masked;
            // Decisions cached under the old masker were recorded by it.
            self.clear_cache();
        }
    }

    /// How many client bytes (with those of messages after the paused one
    /// that were already buffered) the core holds while a verdict is
    /// awaited; past it the client has broken the protocol. A host that
    /// keeps reading the client during a hold (the Trio relay) relies on
    /// it; the native pump stops reading instead.
    pub fn with_paused_cap(mut self, cap: usize) -> Self {
        self.paused_cap = cap;
        self
    }

    /// The masker of the session's statement texts as recorded. The host
    /// caches only decisions on statements its own masking left unchanged
    /// (and, for shapes, whose parse tree has no secret position, which
    /// all statements of one shape share), so an exact hit is recorded as
    /// is; a shape hit (other constants) is recorded as is only when this
    /// masker finds nothing in it, else it goes to the host, which records
    /// it masked.
    pub fn with_input_masker(mut self, masker: Option<M>) -> Self {
        self.input_masker = masker;
        self
    }

    /// Whether the relay masks what the client gets: its `u2c` records
    /// are then flagged as masked.
    pub fn with_masked_results(mut self, masked: bool) -> Self {
        self.results_masked = masked;
        self
    }

    /// The last ReadyForQuery status seen (`I`, `T` or `E`).
    pub fn status(&self) -> u8 {
        self.status
    }

    /// The counters.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// True while a verdict is awaited.
    pub fn paused(&self) -> bool {
        self.pending.is_some()
    }

    /// Entries in the decision cache.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Forgets every cached decision (the rules changed, say).
    pub fn clear_cache(&mut self) {
        self.cache.clear();
        self.cache_bytes = 0;
    }

    /// Bytes the client decoder holds that are not yet handled.
    pub fn client_pending(&self) -> usize {
        self.decoder.pending()
    }

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

    /// Feeds bytes from the upstream: what the client must get (framed,
    /// masked, errors swapped) is recorded and appended to `client`.
    /// Returns true when a ReadyForQuery went by.
    pub fn try_upstream_data<R: RecordSink>(
        &mut self,
        data: &[u8],
        client: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<bool, PumpError> {
        self.counts.upstream_bytes += data.len() as u64;
        let start = client.len();
        let relay = Arc::clone(&self.relay);
        let mut relay = lock(&relay)?;
        self.take_masks(); // under the relay's lock: see MaskSwap
        let fed = relay.try_feed(data, client);
        drop(relay);
        self.upstream_fed(fed, start, client, sink)
    }

    /// The relay, for a feed run on another thread (the pump hands off a
    /// chunk that completes a huge message, see `io::offload`): the core
    /// must not be used until [`PumpCore::try_upstream_done`] takes the
    /// result in.
    pub(crate) fn shared_relay(&self) -> SharedRelay<M> {
        Arc::clone(&self.relay)
    }

    /// Takes in a feed of `data_len` upstream bytes that ran elsewhere on
    /// [`PumpCore::shared_relay`] (its output `out`), exactly as if
    /// [`PumpCore::try_upstream_data`] had run here.
    pub(crate) fn try_upstream_done<R: RecordSink>(
        &mut self,
        data_len: usize,
        fed: Result<Vec<RelayEvent>, limen_wire::Error>,
        out: &[u8],
        client: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<bool, PumpError> {
        self.counts.upstream_bytes += data_len as u64;
        let start = client.len();
        if fed.is_ok() {
            client.extend_from_slice(out);
        }
        self.upstream_fed(fed, start, client, sink)
    }

    fn upstream_fed<R: RecordSink>(
        &mut self,
        fed: Result<Vec<RelayEvent>, limen_wire::Error>,
        start: usize,
        client: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<bool, PumpError> {
        let events = match fed {
            Ok(events) => events,
            Err(e) => {
                // Nothing goes out that was not recorded.
                client.truncate(start);
                return Err(PumpError::wire(Side::Upstream, &e));
            }
        };
        let mut ready = false;
        for ev in events {
            if let RelayEvent::ReadyForQuery(st) = ev {
                self.status = st.byte();
                ready = true;
            }
        }
        if client.len() > start {
            sink.try_append_flagged(RecordKind::U2c, &client[start..], self.results_masked)
                .map_err(PumpError::record)?;
        }
        Ok(ready)
    }
}
