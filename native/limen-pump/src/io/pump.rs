//! One pumped session: the core, both sockets, the record sink and the
//! host's fast path, driven by the hub (see the module docs of [`crate::io`]).
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use limen_wire::pg::ContentMasker;
use rustix::event::epoll;

use crate::core::{ClientStep, Judge, RecordSink};
use crate::cores::SessionCore;
use crate::error::{PumpErrorKind, Side};
use crate::io::backlog::{Backlog, Read1};
use crate::io::hub::{Drive, Driven, SOCKET_EVENTS};
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

    fn read_client(&mut self, buf: &mut [u8]) -> bool {
        match self.client.read(buf) {
            Ok(Read1::Data(n)) => {
                self.bytes_read += n as u64;
                // A short read drained the socket: the next bytes raise a
                // new edge, so no read is wasted on EAGAIN (unless the peer
                // hung up: its EOF raises no new edge).
                self.client_readable = self.client.more(n, buf.len()) || self.client_hup;
                self.shared.touch();
                if self.shared.has_commands() {
                    // Queued before these bytes were sent (a reload's cache
                    // clear, a stop): they see its effect.
                    self.apply_commands();
                    if self.ending.is_some() {
                        return true;
                    }
                }
                match self
                    .core
                    .try_client_data(&buf[..n], self.to_up.tail(), &mut self.sink)
                {
                    Ok(step) => self.client_step(step),
                    Err(e) => self.end(end_of(e.kind()), e.message().to_owned(), true),
                }
                true
            }
            Ok(Read1::Eof) => {
                self.end(
                    EndReason::ClientClosed,
                    "the client closed the connection",
                    false,
                );
                true
            }
            Ok(Read1::Nothing) => {
                self.client_readable = false;
                false
            }
            Err(e) => {
                self.end(EndReason::ClientIo, e.to_string(), false);
                true
            }
        }
    }

    fn read_upstream(&mut self, buf: &mut [u8]) -> bool {
        match self.upstream.read(buf) {
            Ok(Read1::Data(n)) => {
                self.bytes_read += n as u64;
                self.upstream_readable = self.upstream.more(n, buf.len()) || self.upstream_hup;
                self.shared.touch();
                let longest = self.frames.feed(&buf[..n]);
                if longest >= self.offload_bytes {
                    if let (Some(spawn), Some(relay)) = (self.spawner, self.core.shared_relay()) {
                        let record = self.sink.detach().map(|s| (s, self.core.results_masked()));
                        let shared = Arc::clone(&self.shared);
                        if let Some(slot) = spawn(relay, buf[..n].to_vec(), record, shared) {
                            self.offloaded = Some((slot, n));
                            return true;
                        }
                    }
                }
                let r =
                    self.core
                        .try_upstream_data(&buf[..n], self.to_client.tail(), &mut self.sink);
                self.upstream_result(r);
                true
            }
            Ok(Read1::Eof) => {
                self.upstream_dead = true;
                self.end(
                    EndReason::UpstreamClosed,
                    "the upstream server closed the connection",
                    true,
                );
                true
            }
            Ok(Read1::Nothing) => {
                self.upstream_readable = false;
                false
            }
            Err(e) => {
                self.upstream_dead = true;
                self.end(EndReason::UpstreamIo, e.to_string(), true);
                true
            }
        }
    }

    /// Writes both backlogs as far as the sockets take them.
    fn write(&mut self) -> bool {
        let mut moved = false;
        let up_pending = !self.to_up.is_empty() || !self.upstream.flushed();
        if up_pending && self.upstream_writable && !self.upstream_dead {
            match self.upstream.write(&mut self.to_up) {
                Ok(progress) => moved |= progress,
                Err(e) => {
                    self.upstream_dead = true;
                    self.end(EndReason::UpstreamIo, e.to_string(), true);
                }
            }
            if !self.to_up.is_empty() || !self.upstream.flushed() {
                self.upstream_writable = false;
            }
        }
        if self.to_client.is_empty() && self.client.flushed() {
            self.last_progress = Instant::now();
        } else if self.client_writable {
            match self.client.write(&mut self.to_client) {
                Ok(true) => {
                    self.last_progress = Instant::now();
                    moved = true;
                }
                Ok(false) => {}
                Err(e) => {
                    // The client is gone: nothing more can reach it.
                    self.to_client = Backlog::default();
                    self.ending = None;
                    self.end(EndReason::ClientIo, e.to_string(), false);
                }
            }
            if !self.to_client.is_empty() || !self.client.flushed() {
                self.client_writable = false;
            }
        }
        moved
    }

    /// Moves what can move now. See the module docs.
    fn drive(&mut self, buf: &mut [u8]) -> Drive {
        let size = self.cfg.read_size.clamp(1, buf.len());
        let buf = &mut buf[..size];
        // A worker is feeding the relay: nothing else may touch the core
        // until its result is in (its wake-up drives this session again).
        if !self.offload_done() {
            return Drive::Idle;
        }
        if !self.started {
            self.started = true;
            self.shared.touch();
            // Messages the handshake's decoder still holds.
            match self.core.try_process(self.to_up.tail(), &mut self.sink) {
                Ok(step) => self.client_step(step),
                Err(e) => self.end(end_of(e.kind()), e.message().to_owned(), true),
            }
        }
        self.apply_commands();
        let mut budget = BUDGET;
        let began = Instant::now();
        let bytes_before = self.bytes_read;
        loop {
            if self.offloaded.is_some() {
                // Handed off: write what is ready, then yield until the
                // worker wakes the hub.
                self.write();
                return Drive::Idle;
            }
            let mut moved = false;
            let open = self.ending.is_none();
            if open && self.paused && self.client_hup {
                self.end(EndReason::ClientClosed, "the client hung up", false);
            }
            let open = self.ending.is_none();
            if open
                && !self.paused
                && self.client_readable
                && self.to_up.len() < self.cfg.max_backlog
            {
                moved |= self.read_client(buf);
                budget = budget.saturating_sub(1);
            }
            if self.ending.is_none()
                && self.upstream_readable
                && self.to_client.len() < self.cfg.max_backlog
                && !self.sink.congested()
            {
                moved |= self.read_upstream(buf);
                budget = budget.saturating_sub(1);
            }
            moved |= self.write();
            if !moved {
                break;
            }
            if budget == 0
                || self.bytes_read - bytes_before >= self.drive_bytes
                || began.elapsed() >= SLICE
            {
                if self.sink.needs_host() {
                    self.shared.emit(Event::Records);
                }
                return if self.finished() {
                    Drive::Done
                } else {
                    Drive::Again
                };
            }
        }
        if self.sink.needs_host() {
            self.shared.emit(Event::Records);
        }
        if self.finished() {
            return Drive::Done;
        }
        if !self.to_client.is_empty()
            && self.last_progress.elapsed() >= self.cfg.write_timeout
            && self.ending.as_ref().and_then(|e| e.flush_until).is_none()
        {
            self.to_client = Backlog::default();
            self.ending = None;
            self.end(
                EndReason::ClientStalled,
                "the client stopped reading",
                false,
            );
            return Drive::Done;
        }
        Drive::Idle
    }

    /// True once the session's end is decided and its flush is over.
    fn finished(&mut self) -> bool {
        let Some(end) = &self.ending else {
            return false;
        };
        let flushed = self.to_client.is_empty()
            && self.client.flushed()
            && ((self.to_up.is_empty() && self.upstream.flushed())
                || self.upstream_dead
                || end.reason != EndReason::Terminate);
        match end.flush_until {
            None => true,
            Some(_) if flushed => true,
            Some(until) if Instant::now() >= until => {
                if !self.to_client.is_empty() && end.reason == EndReason::Stopped {
                    if let Some(e) = self.ending.as_mut() {
                        e.reason = EndReason::ClientStalled;
                        e.detail = "the client stopped reading".into();
                    }
                }
                true
            }
            Some(_) => false,
        }
    }

    /// When the hub must drive this session even without readiness.
    fn deadline(&self) -> Option<Instant> {
        if self.offloaded.is_some() {
            // The worker's wake-up drives the session; until then no
            // timeout applies.
            return None;
        }
        if let Some(Ending {
            flush_until: Some(until),
            ..
        }) = &self.ending
        {
            return Some(*until);
        }
        (!self.to_client.is_empty()).then(|| self.last_progress + self.cfg.write_timeout)
    }
}
impl<M, R, J> Driven for Pump<M, R, J>
where
    M: ContentMasker + Send,
    R: RecordSink + Send,
    J: Judge + Send,
{
    fn shared(&self) -> &Arc<PumpShared> {
        &self.shared
    }

    fn register(&mut self, ep: &OwnedFd, id: u64) -> std::io::Result<()> {
        epoll::add(
            ep,
            &self.client,
            epoll::EventData::new_u64(id << 1),
            SOCKET_EVENTS,
        )?;
        if let Err(e) = epoll::add(
            ep,
            &self.upstream,
            epoll::EventData::new_u64((id << 1) | 1),
            SOCKET_EVENTS,
        ) {
            let _ = epoll::delete(ep, &self.client);
            return Err(e.into());
        }
        Ok(())
    }

    fn deregister(&mut self, ep: &OwnedFd) {
        // The host holds the same open sockets: closing our duplicates
        // would not take them out of the set.
        let _ = epoll::delete(ep, &self.client);
        let _ = epoll::delete(ep, &self.upstream);
    }

    fn ready(&mut self, side: u64, flags: epoll::EventFlags) {
        use epoll::EventFlags as F;
        let readable = flags.intersects(F::IN | F::HUP | F::ERR | F::RDHUP);
        let writable = flags.intersects(F::OUT | F::HUP | F::ERR);
        if side == 0 {
            self.client_readable |= readable;
            self.client_writable |= writable;
            self.client_hup |= flags.intersects(F::HUP | F::ERR | F::RDHUP);
        } else {
            self.upstream_readable |= readable;
            self.upstream_writable |= writable;
            self.upstream_hup |= flags.intersects(F::HUP | F::ERR | F::RDHUP);
        }
    }

    fn drive(&mut self, buf: &mut [u8]) -> Drive {
        Pump::drive(self, buf)
    }

    fn deadline(&self) -> Option<Instant> {
        Pump::deadline(self)
    }

    fn end_event(&mut self) -> Event {
        self.shared.publish(self.core.counts(), self.core.status());
        let (reason, detail) = match self.ending.take() {
            Some(e) => (e.reason, e.detail),
            None => (EndReason::Internal, "ended without a reason".into()),
        };
        Event::End { reason, detail }
    }
}
