//! The sans-IO core of a pumped MySQL / MariaDB session: client command
//! packets in, bytes for the upstream and judge requests out; upstream
//! bytes in, masked bytes for the client out (through the same
//! [`ServerRelay`] the gateway's Trio relay drives, shared with the host).
//!
//! MySQL is request/response: the core handles one client command at a
//! time. A command that arrives while a response is in progress (a
//! pipelining client) or while a verdict is awaited stays in the client
//! decoder (bounded by the decoder's own cap: one packet of at most
//! `max_packet_size` plus one read) and is handled once the response is
//! over.
//!
//! Handled here, without the host:
//! - `COM_QUERY` and `COM_STMT_PREPARE` whose exact payload (with the
//!   session's backslash-escape mode) is in the decision cache: the text
//!   is recorded (`c2u`) with the cached decision event, the packet is
//!   forwarded and the relay expects the answer (no column plan: only
//!   decisions without one are cached). A cached prepare's statement id
//!   (from the server's PREPARE_OK) is remembered with its execute event.
//! - `COM_STMT_EXECUTE` of a statement id remembered that way (MariaDB's
//!   "last prepared" id 0xffffffff resolves to the last prepare): its
//!   execute decision event is recorded, the packet forwarded.
//! - `COM_STMT_CLOSE` (forgotten, here and, through the next note, by the
//!   host; no answer), `RESET`, `FETCH` and
//!   `SEND_LONG_DATA` of such an id; `COM_PING`.
//! - `COM_QUIT` ends the client direction ([`ClientStep::Terminate`]).
//!
//! Everything else (every cache miss, every other command, every malformed
//! packet) goes to the host as a [`JudgeRequest`] — fail closed: the host
//! judges it exactly as on the Trio relay. For a MySQL request, `raw` is
//! the packet as received, `sql` its payload (continuations joined: the
//! command byte, then its body) and `name` the note (`mysql/note.rs`) of
//! the upstream's answers since the last request (the host's bookkeeping: prepared
//! statement ids, `USE`, resets, the server status). The host answers with
//! a [`Verdict`]: `upstream` to forward (the host has told the shared
//! relay what answer to expect) or, with `discard_until_sync` set (which
//! means "reply" on a MySQL core), the host's own answer for the client
//! (an ERR; nothing goes upstream); and `cache_event` when the decision
//! may be reused (for a prepare: the prepare's event, a newline, then the
//! execute event without its closing `statement_id` value: see
//! [`EXECUTE_SPLIT`]).
//!
//! A `LOCAL INFILE` request from the upstream is always refused (as on the
//! Trio relay): the relay answers the server "no file" and the client gets
//! an ERR.
mod cache;
mod client;
mod note;
pub mod shape;
mod swap;
mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use limen_wire::mysql::{ColumnPlan, ContentMasker, Limits, PacketDecoder, ServerRelay};

use crate::core::{CacheLimits, Counts};
use crate::error::PumpError;

pub use note::{Note, NOTE_ERR, NOTE_OK, NOTE_PREPARED};
pub use swap::MySqlMaskSwap;

/// The relay the core shares with its host.
pub type SharedMySqlRelay<M> = Arc<Mutex<ServerRelay<M>>>;

/// Separates a prepare's decision event from its execute event prefix in
/// a verdict's `cache_event`.
pub const EXECUTE_SPLIT: u8 = b'\n';

/// MariaDB's statement id for "the statement prepared last".
const LAST_PREPARED: u32 = 0xffff_ffff;

/// `SERVER_STATUS_NO_BACKSLASH_ESCAPES`.
const NO_BACKSLASH_ESCAPES: u16 = 1 << 9;

/// The request awaiting a verdict.
#[derive(Debug)]
struct Pending {
    id: u64,
    /// Its cache key, if cacheable.
    key: Option<Vec<u8>>,
    /// The command code.
    code: u8,
    /// Its shape key (a `COM_QUERY` the shape lexer understood).
    shape_key: Option<Vec<u8>>,
}

/// One MySQL session's pump state. See the module docs.
pub struct MySqlCore<M> {
    decoder: PacketDecoder,
    relay: SharedMySqlRelay<M>,
    pending: Option<Pending>,
    next_id: u64,
    cache: HashMap<Vec<u8>, Vec<u8>>,
    cache_bytes: usize,
    limits: CacheLimits,
    key: Vec<u8>,
    /// Statement ids whose executes are decided here: the execute event
    /// up to its statement id.
    statements: HashMap<u32, Vec<u8>>,
    /// A forwarded prepare awaits its PREPARE_OK: its execute event prefix
    /// (None: the host decides its executes).
    prepare: Option<Option<Vec<u8>>>,
    last_prepared: Option<u32>,
    /// The answer in progress is reported to the host (it judged its command).
    note: Note,
    /// The host's reply for the client, recorded and sent at the next
    /// [`MySqlCore::try_process`].
    reply: Vec<u8>,
    /// Bytes for the client the pump takes ([`MySqlCore::take_client`]).
    client_out: Vec<u8>,
    /// Bytes for the upstream made outside `try_process` (an infile refusal).
    upstream_out: Vec<u8>,
    counts: Counts,
    /// Statement texts are recorded masked by the host's input masker
    /// (hits are recorded flagged so, as the host marked them unchanged).
    input_masked: bool,
    results_masked: bool,
    /// A command code of the response in progress forwarded on a host verdict.
    host_code: Option<u8>,
    /// The session's content masker of statement texts as recorded (a
    /// shape hit whose constants it finds anything in goes to the host).
    input_masker: Option<M>,
    scratch: Vec<u8>,
    /// The shape key of the command being handled (set by a cache miss).
    shape_key: Option<Vec<u8>>,
    /// New masks from the host (a config reload, see [`MySqlMaskSwap`]).
    swap: MySqlMaskSwap<M>,
    /// The column plan of executes and fetches decided here (a reload
    /// that brought column masks: see [`MySqlMaskSwap`]).
    statement_plan: Option<Arc<ColumnPlan>>,
}

impl<M> std::fmt::Debug for MySqlCore<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlCore")
            .field("counts", &self.counts)
            .field("paused", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

fn lock<M>(
    relay: &SharedMySqlRelay<M>,
) -> Result<std::sync::MutexGuard<'_, ServerRelay<M>>, PumpError> {
    relay
        .lock()
        .map_err(|_| PumpError::local("the relay lock is poisoned"))
}

impl<M: ContentMasker> MySqlCore<M> {
    /// A core over the session's relay (shared with the host), with the
    /// negotiated packet cap. The client decoder starts at a command.
    pub fn new(relay: SharedMySqlRelay<M>, max_packet_size: usize, limits: CacheLimits) -> Self {
        let mut decoder = PacketDecoder::new(Limits {
            max_packet_size,
            ..Limits::default()
        });
        decoder.set_authenticated();
        let swap = MySqlMaskSwap::new(Arc::clone(&relay));
        MySqlCore {
            decoder,
            relay,
            pending: None,
            next_id: 1,
            cache: HashMap::new(),
            cache_bytes: 0,
            limits,
            key: Vec::new(),
            statements: HashMap::new(),
            prepare: None,
            last_prepared: None,
            note: Note::default(),
            reply: Vec::new(),
            client_out: Vec::new(),
            upstream_out: Vec::new(),
            counts: Counts::default(),
            input_masked: false,
            results_masked: false,
            host_code: None,
            input_masker: None,
            scratch: Vec::new(),
            shape_key: None,
            swap,
            statement_plan: None,
        }
    }

    /// The content masker of statement texts as recorded (the host's
    /// input masker's content detectors), when the session masks them: a
    /// shape hit (other constants) is a hit only when it finds nothing.
    pub fn with_input_masker(mut self, masker: Option<M>) -> Self {
        self.input_masker = masker;
        self
    }

    /// Whether statement texts are recorded through the host's input
    /// masker (cache hits are then flagged as masked records).
    pub fn with_input_masked(mut self, masked: bool) -> Self {
        self.input_masked = masked;
        self
    }

    /// Whether the relay masks what the client gets (`u2c` records flagged).
    pub fn with_masked_results(mut self, masked: bool) -> Self {
        self.results_masked = masked;
        self
    }

    /// `T` inside a transaction, else `I` (from the last status seen).
    pub fn status(&self) -> u8 {
        match self.relay.lock() {
            Ok(r) if r.status() & 1 != 0 => b'T',
            _ => b'I',
        }
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

    /// Forgets every cached decision (the rules changed, say). Statement
    /// ids already prepared on a cached decision keep theirs.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
        self.cache_bytes = 0;
    }

    /// Moves the bytes for the client (the host's replies) to `out`.
    pub fn take_client(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.client_out);
    }

    /// True when buffered client commands (or bytes for the upstream) can
    /// be handled now: no verdict awaited, no answer in progress.
    pub fn wants_process(&self) -> bool {
        self.pending.is_none()
            && (!self.upstream_out.is_empty()
                || (self.decoder.pending() > 0 && self.relay_idle().unwrap_or(false)))
    }

    fn relay_idle(&self) -> Result<bool, PumpError> {
        Ok(lock(&self.relay)?.is_done())
    }
}
