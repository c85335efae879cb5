//! The pump's I/O: one thread (the [`Hub`]) owns every pumped session's
//! client and upstream sockets (non-blocking, in one edge-triggered epoll
//! set) and moves their bytes, like a pgbouncer process; the host (Trio, on
//! its own thread) talks to each session through its [`PumpShared`]:
//! commands in ([`Command`], then a wake-up of the hub's eventfd), events
//! out ([`Event`], then a write to the session's own eventfd, which Trio
//! awaits with `wait_readable`). No lock is held across a system call that
//! waits.
//!
//! One session, each time it is driven (readiness, a command, a deadline):
//! apply the host's commands; read the client (unless paused for a
//! verdict, or the upstream backlog is over its cap) and let the core turn
//! messages into upstream bytes; read the upstream (unless the client
//! backlog is over its cap) and let the core frame, mask and record; write
//! both backlogs as far as the sockets take them; repeat while something
//! moved, within a budget of reads, of bytes and of time (then the hub
//! drives every other ready session before it comes back to this one), so
//! that a session reading a large result, however slow to mask, adds at most
//! about one budget to another session's statement.
//! The client's output only ever holds whole messages, so the host's
//! injected bytes (a notice) and a final FATAL land at a message boundary.
//!
//! Ending: the client closing (or Terminate), the upstream closing, a
//! protocol error on either side, a record that cannot be written, a
//! client that reads nothing for `write_timeout`, or the host's
//! [`Command::Stop`]. Except when the client itself is gone, the backlogs
//! are flushed first (at most `write_timeout`), so that the host can send
//! its FATAL right after. The session's descriptors then leave the epoll
//! set and are closed before [`Event::End`] goes out; they are duplicates
//! of the host's, whose connections stay open for the host to close.
//!
//! One thread for every session keeps the context switches down on a busy
//! machine (measured: a thread per session spent more time switching than
//! moving bytes at 8 clients); the price is that a slow fast-path decision
//! (the host's judge runs on this thread) delays the other sessions.
use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use limen_wire::pg::ContentMasker;
use rustix::buffer::spare_capacity;
use rustix::event::epoll;
use rustix::event::{eventfd, EventfdFlags, Timespec};

use crate::core::{ClientStep, Counts, Judge, JudgeRequest, PumpCore, RecordSink, Verdict};
use crate::error::{PumpErrorKind, Side};

/// Tuning of one pumped session. Every buffer is capped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoConfig {
    /// Bytes read per `read` call (at most the wire decoders' chunk cap).
    pub read_size: usize,
    /// Stop reading the other side while a backlog holds this much.
    pub max_backlog: usize,
    /// A client that reads nothing for this long is dropped; also the
    /// longest final flush.
    pub write_timeout: Duration,
}

impl Default for IoConfig {
    fn default() -> Self {
        IoConfig {
            read_size: 64 << 10,
            max_backlog: 1 << 20,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// What the host tells the pump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// The verdict on a judge request.
    Resume {
        /// The request's id.
        id: u64,
        /// The verdict.
        verdict: Verdict,
    },
    /// Bytes for the client (whole messages), sent at a message boundary.
    SendClient(Vec<u8>),
    /// Forget the cached decisions.
    ClearCache,
    /// Flush the client's backlog and end ([`EndReason::Stopped`]).
    Stop,
}

/// Why a pump ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The client closed its side (or hung up while a verdict was awaited).
    ClientClosed,
    /// The client sent Terminate.
    Terminate,
    /// The upstream closed the connection.
    UpstreamClosed,
    /// The client broke the protocol.
    ClientProtocol,
    /// The upstream broke the protocol.
    UpstreamProtocol,
    /// Reading or writing the client failed.
    ClientIo,
    /// Reading or writing the upstream failed.
    UpstreamIo,
    /// The client read nothing for `write_timeout`.
    ClientStalled,
    /// A record could not be written.
    Record,
    /// The host asked the pump to stop.
    Stopped,
    /// An internal error (a bug).
    Internal,
}

impl EndReason {
    /// Its name for the host.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::ClientClosed => "client_closed",
            EndReason::Terminate => "terminate",
            EndReason::UpstreamClosed => "upstream_closed",
            EndReason::ClientProtocol => "client_protocol",
            EndReason::UpstreamProtocol => "upstream_protocol",
            EndReason::ClientIo => "client_io",
            EndReason::UpstreamIo => "upstream_io",
            EndReason::ClientStalled => "client_stalled",
            EndReason::Record => "record",
            EndReason::Stopped => "stopped",
            EndReason::Internal => "internal",
        }
    }
}

/// What the pump tells the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Decide on this message; the client direction waits.
    Judge(JudgeRequest),
    /// The record sink holds records for the host.
    Records,
    /// The pump ended; nothing more comes.
    End {
        /// Why.
        reason: EndReason,
        /// A description without payload bytes.
        detail: String,
    },
}

/// How a session reaches its hub.
#[derive(Debug)]
struct HubLink {
    hub: Arc<HubShared>,
    id: u64,
}

/// The state shared by a session (on the hub's thread) and the host.
#[derive(Debug)]
pub struct PumpShared {
    commands: Mutex<VecDeque<Command>>,
    events: Mutex<VecDeque<Event>>,
    link: Mutex<Option<HubLink>>,
    wake_host: OwnedFd,
    start: Instant,
    last_activity_us: AtomicU64,
    status: AtomicU8,
    cache_hits: AtomicU64,
    judged: AtomicU64,
    client_bytes: AtomicU64,
    upstream_bytes: AtomicU64,
}

fn signal(fd: &OwnedFd) {
    // An eventfd counter only overflows after 2^64-2 unread signals; a
    // full counter (EAGAIN) is still a pending wake-up. Nothing to handle.
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

fn clear(fd: &OwnedFd) {
    let mut buf = [0u8; 8];
    let _ = rustix::io::read(fd, &mut buf);
}

fn new_eventfd() -> std::io::Result<OwnedFd> {
    Ok(eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?)
}

impl PumpShared {
    /// A session's shared state with a fresh non-blocking eventfd.
    pub fn try_new() -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(PumpShared {
            commands: Mutex::new(VecDeque::new()),
            events: Mutex::new(VecDeque::new()),
            link: Mutex::new(None),
            wake_host: new_eventfd()?,
            start: Instant::now(),
            last_activity_us: AtomicU64::new(0),
            status: AtomicU8::new(b'I'),
            cache_hits: AtomicU64::new(0),
            judged: AtomicU64::new(0),
            client_bytes: AtomicU64::new(0),
            upstream_bytes: AtomicU64::new(0),
        }))
    }

    /// The descriptor the host waits on: readable when events are waiting.
    pub fn host_fd(&self) -> BorrowedFd<'_> {
        self.wake_host.as_fd()
    }

    /// Queues a command and wakes the hub for this session.
    pub fn command(&self, c: Command) {
        if let Ok(mut q) = self.commands.lock() {
            q.push_back(c);
        }
        self.kick();
    }

    /// Asks the hub to drive this session again (e.g. after the host took
    /// queued records).
    pub fn kick(&self) {
        if let Ok(link) = self.link.lock() {
            if let Some(l) = link.as_ref() {
                l.hub.notify(l.id);
            }
        }
    }

    /// Takes the waiting events (clearing the host's wake-up first, so an
    /// event queued meanwhile wakes the host again).
    pub fn take_events(&self) -> Vec<Event> {
        clear(&self.wake_host);
        match self.events.lock() {
            Ok(mut q) => q.drain(..).collect(),
            Err(_) => vec![Event::End {
                reason: EndReason::Internal,
                detail: "the event queue lock is poisoned".into(),
            }],
        }
    }

    fn emit(&self, e: Event) {
        if let Ok(mut q) = self.events.lock() {
            q.push_back(e);
        }
        signal(&self.wake_host);
    }

    fn take_commands(&self) -> Vec<Command> {
        match self.commands.lock() {
            Ok(mut q) if !q.is_empty() => q.drain(..).collect(),
            _ => Vec::new(),
        }
    }

    fn touch(&self) {
        self.last_activity_us
            .store(self.start.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    /// Time since the last byte read from either peer.
    pub fn idle(&self) -> Duration {
        let last = Duration::from_micros(self.last_activity_us.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// The last ReadyForQuery status (`I`, `T` or `E`).
    pub fn status(&self) -> u8 {
        self.status.load(Ordering::Relaxed)
    }

    /// The counters as last published by the pump.
    pub fn counts(&self) -> Counts {
        Counts {
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            judged: self.judged.load(Ordering::Relaxed),
            client_bytes: self.client_bytes.load(Ordering::Relaxed),
            upstream_bytes: self.upstream_bytes.load(Ordering::Relaxed),
        }
    }

    fn publish(&self, c: Counts, status: u8) {
        self.status.store(status, Ordering::Relaxed);
        self.cache_hits.store(c.cache_hits, Ordering::Relaxed);
        self.judged.store(c.judged, Ordering::Relaxed);
        self.client_bytes.store(c.client_bytes, Ordering::Relaxed);
        self.upstream_bytes
            .store(c.upstream_bytes, Ordering::Relaxed);
    }
}

/// Bytes waiting to be written to one socket.
#[derive(Default)]
struct Backlog {
    buf: Vec<u8>,
    sent: usize,
}

impl Backlog {
    fn len(&self) -> usize {
        self.buf.len() - self.sent
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where new bytes go (compacted first when it is cheap).
    fn tail(&mut self) -> &mut Vec<u8> {
        if self.sent > 0 && self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        }
        &mut self.buf
    }

    /// Writes as much as the socket takes. Ok(true) when something went.
    fn try_write(&mut self, mut s: &TcpStream) -> std::io::Result<bool> {
        let mut progress = false;
        while self.sent < self.buf.len() {
            match s.write(&self.buf[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        } else if self.sent > (64 << 10) && self.sent * 2 > self.buf.len() {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        Ok(progress)
    }
}

enum Read1 {
    Data(usize),
    Eof,
    Nothing,
}

fn read_some(mut s: &TcpStream, buf: &mut [u8]) -> std::io::Result<Read1> {
    loop {
        match s.read(buf) {
            Ok(0) => return Ok(Read1::Eof),
            Ok(n) => return Ok(Read1::Data(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Read1::Nothing),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

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

/// What driving a session left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drive {
    /// Waiting for readiness, a command or a deadline.
    Idle,
    /// Its budget ran out with work left: drive it again soon.
    Again,
    /// It ended: deregister it and report the end.
    Done,
}

/// Reads (either side) per drive before the hub turns to other sessions.
const BUDGET: usize = 16;

/// Bytes read (either side) per drive before the hub turns to other
/// sessions: the work behind them (framing, masking, recording) is linear
/// in the bytes, so this bounds how long one session holds the thread.
const BUDGET_BYTES: u64 = 256 << 10;

/// And the time one drive may take, whatever its bytes cost: a session
/// whose results are slow to mask yields after this, and the hub drives
/// every other ready session before it comes back (round robin).
const SLICE: Duration = Duration::from_millis(1);

/// One pumped session: the core, both sockets, the record sink and the
/// host's fast path. Built by the host, then handed to a [`Hub`].
pub struct Pump<M, R, J> {
    core: PumpCore<M>,
    client: TcpStream,
    upstream: TcpStream,
    sink: R,
    judge: J,
    shared: Arc<PumpShared>,
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
}

impl<M: ContentMasker, R: RecordSink, J: Judge> Pump<M, R, J> {
    /// A pump over two connected sockets (set non-blocking here).
    pub fn try_new(
        core: PumpCore<M>,
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
            core,
            client,
            upstream,
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
        })
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
        match step {
            ClientStep::NeedData => {}
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
        match read_some(&self.client, buf) {
            Ok(Read1::Data(n)) => {
                self.bytes_read += n as u64;
                // A short read drained the socket: the next bytes raise a
                // new edge, so no read is wasted on EAGAIN (unless the peer
                // hung up: its EOF raises no new edge).
                self.client_readable = n == buf.len() || self.client_hup;
                self.shared.touch();
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
        match read_some(&self.upstream, buf) {
            Ok(Read1::Data(n)) => {
                self.bytes_read += n as u64;
                self.upstream_readable = n == buf.len() || self.upstream_hup;
                self.shared.touch();
                let r =
                    self.core
                        .try_upstream_data(&buf[..n], self.to_client.tail(), &mut self.sink);
                match r {
                    Ok(true) => self.shared.publish(self.core.counts(), self.core.status()),
                    Ok(false) => {}
                    Err(e) => self.end(end_of(e.kind()), e.message().to_owned(), true),
                }
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
        if !self.to_up.is_empty() && self.upstream_writable && !self.upstream_dead {
            match self.to_up.try_write(&self.upstream) {
                Ok(progress) => moved |= progress,
                Err(e) => {
                    self.upstream_dead = true;
                    self.end(EndReason::UpstreamIo, e.to_string(), true);
                }
            }
            if !self.to_up.is_empty() {
                self.upstream_writable = false;
            }
        }
        if self.to_client.is_empty() {
            self.last_progress = Instant::now();
        } else if self.client_writable {
            match self.to_client.try_write(&self.client) {
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
            if !self.to_client.is_empty() {
                self.client_writable = false;
            }
        }
        moved
    }

    /// Moves what can move now. See the module docs.
    fn drive(&mut self, buf: &mut [u8]) -> Drive {
        let size = self.cfg.read_size.clamp(1, buf.len());
        let buf = &mut buf[..size];
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
                || self.bytes_read - bytes_before >= BUDGET_BYTES
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
            && (self.to_up.is_empty() || self.upstream_dead || end.reason != EndReason::Terminate);
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

/// A session as the hub sees it.
trait Driven: Send {
    fn shared(&self) -> &Arc<PumpShared>;
    fn register(&mut self, epoll: &OwnedFd, id: u64) -> std::io::Result<()>;
    fn deregister(&mut self, epoll: &OwnedFd);
    fn ready(&mut self, side: u64, flags: epoll::EventFlags);
    fn drive(&mut self, buf: &mut [u8]) -> Drive;
    fn deadline(&self) -> Option<Instant>;
    fn end_event(&mut self) -> Event;
}

const SOCKET_EVENTS: epoll::EventFlags = epoll::EventFlags::IN
    .union(epoll::EventFlags::OUT)
    .union(epoll::EventFlags::RDHUP)
    .union(epoll::EventFlags::ET);

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

/// What the host hands a hub and how it wakes it.
struct HubShared {
    wake: OwnedFd,
    incoming: Mutex<Vec<(u64, Box<dyn Driven>)>>,
    dirty: Mutex<Vec<u64>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for HubShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubShared").finish_non_exhaustive()
    }
}

impl HubShared {
    fn notify(&self, id: u64) {
        if let Ok(mut d) = self.dirty.lock() {
            d.push(id);
        }
        signal(&self.wake);
    }
}

/// The thread that pumps every session handed to it.
pub struct Hub {
    shared: Arc<HubShared>,
    _thread: JoinHandle<()>,
}

/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 256;

/// The hub thread's body, as [`Hub::try_new_with`] hands it to the host.
pub type HubBody = Box<dyn FnOnce() + Send>;

impl Hub {
    /// Starts the hub's thread.
    pub fn try_new() -> std::io::Result<Self> {
        Self::try_new_with(|body| body())
    }

    /// Starts the hub's thread, which runs `wrap(body)`: the host may set
    /// the thread up around the loop (the Python glue keeps an interpreter
    /// thread state for it, so that its fast-path calls only take the GIL).
    pub fn try_new_with(wrap: impl FnOnce(HubBody) + Send + 'static) -> std::io::Result<Self> {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = new_eventfd()?;
        epoll::add(
            &ep,
            &wake,
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        let shared = Arc::new(HubShared {
            wake,
            incoming: Mutex::new(Vec::new()),
            dirty: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("limen-pump".into())
            .spawn(move || wrap(Box::new(move || hub_loop(&ep, &for_thread))))?;
        Ok(Hub {
            shared,
            _thread: thread,
        })
    }

    /// Hands a session to the hub: from now on its bytes move here.
    pub fn attach<M, R, J>(&self, pump: Pump<M, R, J>)
    where
        M: ContentMasker + Send + 'static,
        R: RecordSink + Send + 'static,
        J: Judge + Send + 'static,
    {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut link) = pump.shared.link.lock() {
            *link = Some(HubLink {
                hub: Arc::clone(&self.shared),
                id,
            });
        }
        if let Ok(mut q) = self.shared.incoming.lock() {
            q.push((id, Box::new(pump)));
        }
        self.shared.notify(id);
    }
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

fn hub_loop(ep: &OwnedFd, hub: &HubShared) {
    let mut sessions: HashMap<u64, Box<dyn Driven>> = HashMap::new();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
    let mut buf = vec![0u8; 64 << 10];
    let mut ready: Vec<u64> = Vec::new();
    let mut again: Vec<u64> = Vec::new();
    loop {
        let now = Instant::now();
        let timeout = if again.is_empty() {
            sessions
                .values()
                .filter_map(|s| s.deadline())
                .min()
                .map(|d| timespec(d.saturating_duration_since(now)))
        } else {
            Some(timespec(Duration::ZERO))
        };
        events.clear();
        match epoll::wait(ep, spare_capacity(&mut events), timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => {
                // Never expected; do not spin.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        }
        ready.clear();
        ready.append(&mut again);
        for ev in &events {
            let data = ev.data.u64();
            let flags = ev.flags;
            if data == 0 {
                clear(&hub.wake);
                let incoming: Vec<(u64, Box<dyn Driven>)> = match hub.incoming.lock() {
                    Ok(mut q) => q.drain(..).collect(),
                    Err(_) => Vec::new(),
                };
                for (id, mut s) in incoming {
                    match s.register(ep, id) {
                        Ok(()) => {
                            sessions.insert(id, s);
                            ready.push(id);
                        }
                        Err(e) => s.shared().emit(Event::End {
                            reason: EndReason::Internal,
                            detail: format!("the pump could not watch the sockets: {e}"),
                        }),
                    }
                }
                if let Ok(mut d) = hub.dirty.lock() {
                    ready.append(&mut d);
                }
                continue;
            }
            let id = data >> 1;
            if let Some(s) = sessions.get_mut(&id) {
                s.ready(data & 1, flags);
                ready.push(id);
            }
        }
        // Sessions whose deadline passed.
        let now = Instant::now();
        for (id, s) in &sessions {
            if s.deadline().is_some_and(|d| d <= now) {
                ready.push(*id);
            }
        }
        ready.sort_unstable();
        ready.dedup();
        for id in ready.drain(..) {
            let Some(s) = sessions.get_mut(&id) else {
                continue;
            };
            match s.drive(&mut buf) {
                Drive::Idle => {}
                Drive::Again => again.push(id),
                Drive::Done => {
                    if let Some(mut s) = sessions.remove(&id) {
                        s.deregister(ep);
                        let end = s.end_event();
                        let shared = Arc::clone(s.shared());
                        if let Ok(mut link) = shared.link.lock() {
                            *link = None;
                        }
                        // Close our descriptors before the host hears of it.
                        drop(s);
                        shared.emit(end);
                    }
                }
            }
        }
    }
}
