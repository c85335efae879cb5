//! One pumped session: the core, both sockets, the record sink and the
//! host's fast path, driven by the hub (see the module docs of [`crate::io`]).

mod turn;

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use limen_wire::pg::ContentMasker;

use crate::core::{ClientStep, Judge, RecordSink};
use crate::cores::SessionCore;
use crate::error::{PumpErrorKind, Side};
use crate::io::backlog::Backlog;
use crate::io::offload::{Fed, Frames, Recorded, Slot, Spawner, OFFLOAD_BYTES};
use crate::io::shared::{Command, EndReason, Event, PumpShared};
use crate::io::transport::Transport;
use crate::io::IoConfig;
use crate::tls::Lent;

/// The end of a session, decided but not yet reported.
struct Ending {
    reason: EndReason,
    detail: String,
    /// Flush the backlogs first, until this instant.
    flush_until: Option<Instant>,
}

fn end_of(kind: PumpErrorKind) -> EndReason {
    match kind {
        PumpErrorKind::Protocol(Side::Client) => EndReason::ClientProtocol,
        PumpErrorKind::Protocol(Side::Upstream) => EndReason::UpstreamProtocol,
        PumpErrorKind::Record => EndReason::Record,
        _ => EndReason::Internal,
    }
}

/// Reads (either side) per drive before the hub turns to other sessions.
const BUDGET: usize = 16;

/// Bytes read (either side) per drive before the hub turns to other
/// sessions: the work behind them (framing, masking, recording) is linear
/// in the bytes, so this bounds how long one session holds the thread.
/// A drive stops at the first loop turn that reaches it, so one drive
/// reads less than this plus two reads (`IoConfig::read_size` each), and
/// masks at most that plus the one message those bytes complete (a
/// message is masked whole, when its last byte arrives), and that message
/// only when it is under [`OFFLOAD_BYTES`]: a longer one is masked on a
/// worker thread (`offload.rs`).
pub const DRIVE_BYTES: u64 = 256 << 10;

/// And the time one drive may take, whatever its bytes cost: a session
/// whose results are slow to mask yields after this, and the hub drives
/// every other ready session before it comes back (round robin).
const SLICE: Duration = Duration::from_micros(250);

/// One pumped session: the core, both sockets, the record sink and the
/// host's fast path. Built by the host, then handed to a [`crate::Hub`].
pub struct Pump<M, R, J> {
    core: SessionCore<M>,
    client: Transport,
    upstream: Transport,
    sink: R,
    judge: J,
    pub(super) shared: Arc<PumpShared>,
    cfg: IoConfig,
    to_up: Backlog,
    to_client: Backlog,
    paused: bool,
    ending: Option<Ending>,
    last_progress: Instant,
    client_readable: bool,
    client_writable: bool,
    client_hup: bool,
    upstream_readable: bool,
    upstream_writable: bool,
    upstream_hup: bool,
    upstream_dead: bool,
    started: bool,
    /// Bytes read from both sides so far (for the per-drive byte budget).
    bytes_read: u64,
    /// The per-drive byte budget ([`DRIVE_BYTES`] unless set).
    drive_bytes: u64,
    /// The upstream's message boundaries (see `offload.rs`).
    frames: Frames,
    /// Messages at least this long are masked on a worker.
    offload_bytes: u64,
    /// Starts a worker (set when the pump is attached to a hub).
    spawner: Option<Spawner<M>>,
    /// A feed under way on a worker, and its bytes' count.
    offloaded: Option<(Arc<Slot>, usize)>,
}

impl<M: ContentMasker, R: RecordSink, J: Judge> Pump<M, R, J> {
    /// A pump over two connected sockets (set non-blocking here).
    pub fn try_new(
        core: impl Into<SessionCore<M>>,
        client: TcpStream,
        upstream: TcpStream,
        sink: R,
        judge: J,
        shared: Arc<PumpShared>,
        cfg: IoConfig,
    ) -> std::io::Result<Self> {
        client.set_nonblocking(true)?;
        upstream.set_nonblocking(true)?;
        Ok(Pump {
            core: core.into(),
            client: Transport::plain(client),
            upstream: Transport::plain(upstream),
            sink,
            judge,
            shared,
            cfg,
            to_up: Backlog::default(),
            to_client: Backlog::default(),
            paused: false,
            ending: None,
            last_progress: Instant::now(),
            // Edge-triggered: assume ready until the socket says otherwise.
            client_readable: true,
            client_writable: true,
            client_hup: false,
            upstream_readable: true,
            upstream_writable: true,
            upstream_hup: false,
            upstream_dead: false,
            started: false,
            bytes_read: 0,
            drive_bytes: DRIVE_BYTES,
            frames: Frames::default(),
            offload_bytes: OFFLOAD_BYTES,
            spawner: None,
            offloaded: None,
        })
    }

    /// Sets the length from which an upstream message is masked on a
    /// worker thread ([`OFFLOAD_BYTES`] by default; `u64::MAX`: never).
    #[must_use]
    pub fn with_offload_bytes(mut self, bytes: u64) -> Self {
        self.offload_bytes = bytes.max(1);
        self
    }

    /// Puts the client side and/or the upstream side under TLS (their
    /// handshakes done): the pump decrypts and encrypts them, and each
    /// connection goes back to its session when the pump ends.
    #[must_use]
    pub fn with_tls(mut self, client: Option<Lent>, upstream: Option<Lent>) -> Self {
        if let Some(c) = client {
            self.client.set_tls(c);
        }
        if let Some(u) = upstream {
            self.upstream.set_tls(u);
        }
        self
    }

    /// How a pump attached to a hub starts its workers.
    pub(super) fn set_spawner(&mut self, spawner: Spawner<M>) {
        self.spawner = Some(spawner);
    }

    /// Takes in the result of a worker's feed, if it is done; false while
    /// it is under way.
    fn offload_done(&mut self) -> bool {
        let Some((slot, len)) = &self.offloaded else {
            return true;
        };
        let len = *len;
        let Some(fed) = slot.take() else {
            return false;
        };
        self.offloaded = None;
        match fed {
            Fed::Done(fed, out, recorded) => {
                let client = self.to_client.tail();
                let r = match recorded {
                    // The worker recorded the output (`offload.rs`).
                    Some(rec) => {
                        let mut sink = Recorded(Some(rec));
                        self.core
                            .try_upstream_done(len, fed, out, client, &mut sink)
                    }
                    None => self
                        .core
                        .try_upstream_done(len, fed, out, client, &mut self.sink),
                };
                self.upstream_result(r);
            }
            Fed::Panicked => self.end(EndReason::Internal, "masking a result failed", true),
        }
        true
    }

    fn upstream_result(&mut self, r: Result<bool, crate::PumpError>) {
        match r {
            Ok(ready) => {
                if ready {
                    self.shared.publish(self.core.counts(), self.core.status());
                }
                if !self.paused && self.core.wants_process() {
                    // MySQL: the client's next command waited for this
                    // answer (or the upstream is owed an infile refusal).
                    match self.core.try_process(self.to_up.tail(), &mut self.sink) {
                        Ok(step) => self.client_step(step),
                        Err(e) => self.end(end_of(e.kind()), e.message().to_owned(), true),
                    }
                }
            }
            Err(e) => self.end(end_of(e.kind()), e.message().to_owned(), true),
        }
    }

    /// Sets the per-drive byte budget (at least 1; [`DRIVE_BYTES`] by
    /// default): after a drive reads this much, the hub drives every other
    /// ready session before this one again.
    #[must_use]
    pub fn with_drive_bytes(mut self, bytes: u64) -> Self {
        self.drive_bytes = bytes.max(1);
        self
    }

    fn end(&mut self, reason: EndReason, detail: impl Into<String>, flush: bool) {
        if self.ending.is_none() {
            self.ending = Some(Ending {
                reason,
                detail: detail.into(),
                flush_until: flush.then(|| Instant::now() + self.cfg.write_timeout),
            });
        }
    }

    /// Handles a client step: the host's fast path decides on this thread;
    /// what it declines goes out as an event and pauses the client side.
    fn client_step(&mut self, mut step: ClientStep) {
        while let ClientStep::Judge(req) = &step {
            let verdict = match self.judge.try_now(req) {
                Ok(Some(v)) => v,
                Ok(None) => break,
                Err(e) => return self.end(EndReason::Internal, e, true),
            };
            let next = self
                .core
                .try_resume(req.id, verdict, self.to_up.tail())
                .and_then(|()| self.core.try_process(self.to_up.tail(), &mut self.sink));
            step = match next {
                Ok(s) => s,
                Err(e) => return self.end(end_of(e.kind()), e.message().to_owned(), true),
            };
        }
        self.core.take_client(self.to_client.tail());
        match step {
            ClientStep::NeedData | ClientStep::Paused => {}
            ClientStep::Judge(req) => {
                self.paused = true;
                self.shared.publish(self.core.counts(), self.core.status());
                self.shared.emit(Event::Judge(req));
            }
            ClientStep::Terminate => self.end(EndReason::Terminate, "the client terminated", true),
        }
    }

    fn apply_commands(&mut self) {
        for c in self.shared.take_commands() {
            match c {
                Command::Resume { id, verdict } => {
                    if !self.paused || self.ending.is_some() {
                        continue;
                    }
                    let step = self
                        .core
                        .try_resume(id, verdict, self.to_up.tail())
                        .and_then(|()| self.core.try_process(self.to_up.tail(), &mut self.sink));
                    match step {
                        Ok(step) => {
                            self.paused = false;
                            self.client_step(step);
                        }
                        Err(e) => self.end(end_of(e.kind()), e.message().to_owned(), true),
                    }
                }
                Command::SendClient(b) => self.to_client.tail().extend_from_slice(&b),
                Command::ClearCache => self.core.clear_cache(),
                Command::Stop => self.end(EndReason::Stopped, "stopped by the host", true),
            }
        }
    }
}
