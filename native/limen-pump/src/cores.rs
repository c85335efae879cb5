//! The session cores one pump can drive: PostgreSQL's [`PumpCore`] or
//! MySQL's [`MySqlCore`]. The pump (`io/pump/`) calls the same methods
//! on either; this enum forwards them.
use limen_wire::pg::{ContentMasker, RelayEvent};

use crate::core::{ClientStep, Counts, PumpCore, RecordSink, SharedRelay, Verdict};
use crate::error::PumpError;
use crate::mysql::MySqlCore;

/// A pumped session's core.
#[derive(Debug)]
pub enum SessionCore<M> {
    /// A PostgreSQL session.
    Pg(PumpCore<M>),
    /// A MySQL / MariaDB session.
    MySql(MySqlCore<M>),
}

impl<M> From<PumpCore<M>> for SessionCore<M> {
    fn from(core: PumpCore<M>) -> Self {
        SessionCore::Pg(core)
    }
}

impl<M> From<MySqlCore<M>> for SessionCore<M> {
    fn from(core: MySqlCore<M>) -> Self {
        SessionCore::MySql(core)
    }
}

impl<M: ContentMasker> SessionCore<M> {
    /// See [`PumpCore::try_client_data`].
    pub fn try_client_data<R: RecordSink>(
        &mut self,
        data: &[u8],
        upstream: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<ClientStep, PumpError> {
        match self {
            SessionCore::Pg(c) => c.try_client_data(data, upstream, sink),
            SessionCore::MySql(c) => c.try_client_data(data, upstream, sink),
        }
    }

    /// See [`PumpCore::try_process`].
    pub fn try_process<R: RecordSink>(
        &mut self,
        upstream: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<ClientStep, PumpError> {
        match self {
            SessionCore::Pg(c) => c.try_process(upstream, sink),
            SessionCore::MySql(c) => c.try_process(upstream, sink),
        }
    }

    /// See [`PumpCore::try_resume`].
    pub fn try_resume(
        &mut self,
        id: u64,
        verdict: Verdict,
        upstream: &mut Vec<u8>,
    ) -> Result<(), PumpError> {
        match self {
            SessionCore::Pg(c) => c.try_resume(id, verdict, upstream),
            SessionCore::MySql(c) => c.try_resume(id, verdict, upstream),
        }
    }

    /// See [`PumpCore::try_upstream_data`].
    pub fn try_upstream_data<R: RecordSink>(
        &mut self,
        data: &[u8],
        client: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<bool, PumpError> {
        match self {
            SessionCore::Pg(c) => c.try_upstream_data(data, client, sink),
            SessionCore::MySql(c) => c.try_upstream_data(data, client, sink),
        }
    }

    /// The relay to feed on a worker thread (PostgreSQL only: a MySQL
    /// session masks inline).
    pub(crate) fn shared_relay(&self) -> Option<SharedRelay<M>> {
        match self {
            SessionCore::Pg(c) => Some(c.shared_relay()),
            SessionCore::MySql(_) => None,
        }
    }

    /// Whether the `u2c` records are masked (PostgreSQL: what an
    /// offloaded message's record says; a MySQL session offloads nothing).
    pub(crate) fn results_masked(&self) -> bool {
        match self {
            SessionCore::Pg(c) => c.results_masked(),
            SessionCore::MySql(_) => false,
        }
    }

    /// See [`PumpCore::try_upstream_done`] (never called for MySQL, which
    /// offloads nothing).
    pub(crate) fn try_upstream_done<R: RecordSink>(
        &mut self,
        data_len: usize,
        fed: Result<Vec<RelayEvent>, limen_wire::Error>,
        out: Vec<u8>,
        client: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<bool, PumpError> {
        match self {
            SessionCore::Pg(c) => c.try_upstream_done(data_len, fed, out, client, sink),
            SessionCore::MySql(_) => Err(PumpError::local("a MySQL feed was offloaded")),
        }
    }

    /// The counters.
    pub fn counts(&self) -> Counts {
        match self {
            SessionCore::Pg(c) => c.counts(),
            SessionCore::MySql(c) => c.counts(),
        }
    }

    /// The transaction status (`I`, `T`, `E`).
    pub fn status(&self) -> u8 {
        match self {
            SessionCore::Pg(c) => c.status(),
            SessionCore::MySql(c) => c.status(),
        }
    }

    /// Forgets the cached decisions.
    pub fn clear_cache(&mut self) {
        match self {
            SessionCore::Pg(c) => c.clear_cache(),
            SessionCore::MySql(c) => c.clear_cache(),
        }
    }

    /// Moves bytes the core made for the client outside an upstream feed
    /// (MySQL: the host's replies) to `out`.
    pub fn take_client(&mut self, out: &mut Vec<u8>) {
        if let SessionCore::MySql(c) = self {
            c.take_client(out);
        }
    }

    /// True when buffered client messages can be handled now although no
    /// client byte arrived (MySQL: the answer to the last command ended).
    pub fn wants_process(&self) -> bool {
        match self {
            SessionCore::Pg(_) => false,
            SessionCore::MySql(c) => c.wants_process(),
        }
    }
}
