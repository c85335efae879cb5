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
mod client;
mod swap;
mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use limen_wire::pg::{ContentMasker, FrontendDecoder, RelayEvent, ServerRelay};

use crate::error::{PumpError, Side};
use crate::handoff::Handoff;

pub use swap::MaskSwap;
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
            masks: Handoff::new(),
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
        if let Some((masker, masked)) = self.swap.masks.take() {
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

    /// Whether the bytes sent to the client are masked (the flag of their
    /// records).
    pub(crate) fn results_masked(&self) -> bool {
        self.results_masked
    }

    /// Takes in a feed of `data_len` upstream bytes that ran elsewhere on
    /// [`PumpCore::shared_relay`] (its output `out`), exactly as if
    /// [`PumpCore::try_upstream_data`] had run here. `out` becomes the
    /// client's buffer when that is empty (no copy of a huge message).
    pub(crate) fn try_upstream_done<R: RecordSink>(
        &mut self,
        data_len: usize,
        fed: Result<Vec<RelayEvent>, limen_wire::Error>,
        out: Vec<u8>,
        client: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<bool, PumpError> {
        self.counts.upstream_bytes += data_len as u64;
        let start = client.len();
        if fed.is_ok() {
            if client.is_empty() {
                *client = out;
            } else {
                client.extend_from_slice(&out);
            }
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
