//! What a pumped session shares with its host: the command and event
//! queues with their eventfd wake-ups, the counters, and why it ended.
use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{eventfd, EventfdFlags};

use crate::core::{Counts, JudgeRequest, Verdict};
use crate::io::hub::HubShared;

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
pub(super) struct HubLink {
    pub(super) hub: Arc<HubShared>,
    pub(super) id: u64,
}

/// The state shared by a session (on the hub's thread) and the host.
#[derive(Debug)]
pub struct PumpShared {
    commands: Mutex<VecDeque<Command>>,
    /// Set while `commands` holds something (read without the lock).
    queued: AtomicBool,
    events: Mutex<VecDeque<Event>>,
    pub(super) link: Mutex<Option<HubLink>>,
    wake_host: OwnedFd,
    start: Instant,
    last_activity_us: AtomicU64,
    status: AtomicU8,
    cache_hits: AtomicU64,
    judged: AtomicU64,
    client_bytes: AtomicU64,
    upstream_bytes: AtomicU64,
}

pub(super) fn signal(fd: &OwnedFd) {
    // An eventfd counter only overflows after 2^64-2 unread signals; a
    // full counter (EAGAIN) is still a pending wake-up. Nothing to handle.
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

pub(super) fn clear(fd: &OwnedFd) {
    let mut buf = [0u8; 8];
    let _ = rustix::io::read(fd, &mut buf);
}

pub(super) fn new_eventfd() -> std::io::Result<OwnedFd> {
    Ok(eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?)
}

impl PumpShared {
    /// A session's shared state with a fresh non-blocking eventfd.
    pub fn try_new() -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(PumpShared {
            commands: Mutex::new(VecDeque::new()),
            queued: AtomicBool::new(false),
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
            self.queued.store(true, Ordering::Release);
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

    pub(super) fn emit(&self, e: Event) {
        if let Ok(mut q) = self.events.lock() {
            q.push_back(e);
        }
        signal(&self.wake_host);
    }

    pub(super) fn take_commands(&self) -> Vec<Command> {
        match self.commands.lock() {
            Ok(mut q) if !q.is_empty() => {
                self.queued.store(false, Ordering::Release);
                q.drain(..).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether a command waits (one atomic load: checked before every
    /// client message, so a command queued before the client sent it, a
    /// reload's cache clear or a stop, applies to it).
    pub(super) fn has_commands(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    pub(super) fn touch(&self) {
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

    pub(super) fn publish(&self, c: Counts, status: u8) {
        self.status.store(status, Ordering::Relaxed);
        self.cache_hits.store(c.cache_hits, Ordering::Relaxed);
        self.judged.store(c.judged, Ordering::Relaxed);
        self.client_bytes.store(c.client_bytes, Ordering::Relaxed);
        self.upstream_bytes
            .store(c.upstream_bytes, Ordering::Relaxed);
    }
}
