//! What the client core exchanges with its host: judge requests and
//! verdicts, client steps, records and their sink, the cache's limits and
//! the counters.
/// What a record holds (the host maps these to its log's record kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A statement the client sent (its text).
    C2u,
    /// Bytes sent to the client (masked).
    U2c,
    /// A decision event (the host's JSON, replayed on cache hits).
    Event,
}

impl RecordKind {
    /// The record kind's name in a session log.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::C2u => "c2u",
            RecordKind::U2c => "u2c",
            RecordKind::Event => "event",
        }
    }
}

/// Where the pump writes its records. An error ends the session (fail
/// closed: nothing is relayed that could not be recorded).
pub trait RecordSink {
    /// Appends one record.
    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String>;
    /// Appends one record, saying whether its payload went through
    /// limen's masking (sinks that keep no such flag ignore it).
    fn try_append_flagged(
        &mut self,
        kind: RecordKind,
        payload: &[u8],
        masked: bool,
    ) -> Result<(), String> {
        let _ = masked;
        self.try_append(kind, payload)
    }
    /// True when the host should be told that records wait for it (sinks
    /// that queue records for the host).
    fn needs_host(&mut self) -> bool {
        false
    }
    /// True when the sink holds so much that reading more should wait.
    fn congested(&self) -> bool {
        false
    }
    /// A sink that appends where this one does, for a worker thread to
    /// record a huge message it masked (`io::offload`) while the session is
    /// not driven (nothing else appends here meanwhile, so the records
    /// stay in order). `None` (the default): the pump thread records it.
    fn detach(&mut self) -> Option<Box<dyn RecordSink + Send>> {
        None
    }
}

/// A host that may decide at once, on the pump's thread (the host's
/// synchronous fast path); `Ok(None)` sends the request the slow way, as
/// an [`crate::Event::Judge`], and the client direction waits for
/// [`crate::Command::Resume`]. An error ends the session.
pub trait Judge {
    /// Decides now, or declines.
    fn try_now(&mut self, request: &JudgeRequest) -> Result<Option<Verdict>, String>;
}

/// A host with no fast path: every request is an event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFastPath;

impl Judge for NoFastPath {
    fn try_now(&mut self, _request: &JudgeRequest) -> Result<Option<Verdict>, String> {
        Ok(None)
    }
}

/// What the host is asked to judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JudgeKind {
    /// A simple-protocol Query.
    Query,
    /// An extended-protocol Parse.
    Parse,
    /// A FunctionCall (the fast-path interface).
    FunctionCall,
}

impl JudgeKind {
    /// Its name for the host.
    pub fn name(self) -> &'static str {
        match self {
            JudgeKind::Query => "query",
            JudgeKind::Parse => "parse",
            JudgeKind::FunctionCall => "function_call",
        }
    }
}

/// A message the host must decide on; the client direction waits for the
/// [`Verdict`] with the same `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgeRequest {
    /// Matches the verdict to the request.
    pub id: u64,
    /// Which message.
    pub kind: JudgeKind,
    /// The prepared statement name (Parse), else empty.
    pub name: Vec<u8>,
    /// The statement text (Query, Parse), else empty.
    pub sql: Vec<u8>,
    /// The whole message as received.
    pub raw: Vec<u8>,
}

/// The host's answer to a [`JudgeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// What to send upstream in place of the message (the message itself
    /// when allowed; the denial marker statement otherwise).
    pub upstream: Vec<u8>,
    /// Drop the client's messages until the next Sync (a refused Parse).
    pub discard_until_sync: bool,
    /// When set, the decision was an allow the host marked reusable: later
    /// identical statements are forwarded without asking, and this event
    /// payload is recorded for each.
    pub cache_event: Option<Vec<u8>>,
    /// With `cache_event`: the decision holds for every simple query of the
    /// same shape (other integer and string constants; see
    /// [`crate::shape`]), so it is cached under the shape key when the
    /// statement has one.
    pub cache_shape: bool,
}

/// What the client side did with the bytes it had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientStep {
    /// Every complete message is handled; more bytes are needed.
    NeedData,
    /// A verdict is awaited: the bytes were buffered (up to the cap set by
    /// [`crate::PumpCore::with_paused_cap`]) and are handled after the verdict.
    Paused,
    /// The client direction is paused until the verdict for this request.
    Judge(JudgeRequest),
    /// The client sent Terminate.
    Terminate,
}

/// Limits of the decision cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// Entries at most (0: no cache).
    pub entries: usize,
    /// Key and event bytes at most, over all entries.
    pub bytes: usize,
    /// Statements longer than this are never cached.
    pub max_text: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            entries: 1024,
            bytes: 1 << 20,
            max_text: 8192,
        }
    }
}

/// Counters of one pumped session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Statements forwarded on a cached decision.
    pub cache_hits: u64,
    /// Requests sent to the host.
    pub judged: u64,
    /// Bytes read from the client.
    pub client_bytes: u64,
    /// Bytes read from the upstream.
    pub upstream_bytes: u64,
}
