//! The hub: the one thread that pumps every session handed to it (an
//! edge-triggered epoll set over their sockets and its own eventfd).
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use limen_wire::pg::ContentMasker;
use rustix::buffer::spare_capacity;
use rustix::event::epoll;
use rustix::event::Timespec;

use crate::core::{Judge, RecordSink};
use crate::io::pump::Pump;
use crate::io::shared::{clear, new_eventfd, signal, EndReason, Event, HubLink, PumpShared};

/// What driving a session left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Drive {
    /// Waiting for readiness, a command or a deadline.
    Idle,
    /// Its budget ran out with work left: drive it again soon.
    Again,
    /// It ended: deregister it and report the end.
    Done,
}
/// A session as the hub sees it.
pub(super) trait Driven: Send {
    fn shared(&self) -> &Arc<PumpShared>;
    fn register(&mut self, epoll: &OwnedFd, id: u64) -> std::io::Result<()>;
    fn deregister(&mut self, epoll: &OwnedFd);
    fn ready(&mut self, side: u64, flags: epoll::EventFlags);
    fn drive(&mut self, buf: &mut [u8]) -> Drive;
    fn deadline(&self) -> Option<Instant>;
    fn end_event(&mut self) -> Event;
}

pub(super) const SOCKET_EVENTS: epoll::EventFlags = epoll::EventFlags::IN
    .union(epoll::EventFlags::OUT)
    .union(epoll::EventFlags::RDHUP)
    .union(epoll::EventFlags::ET);

/// What the host hands a hub and how it wakes it.
pub(super) struct HubShared {
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
    pub(super) fn notify(&self, id: u64) {
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
    pub fn attach<M, R, J>(&self, mut pump: Pump<M, R, J>)
    where
        M: ContentMasker + Send + 'static,
        R: RecordSink + Send + 'static,
        J: Judge + Send + 'static,
    {
        pump.set_spawner(crate::io::offload::spawn::<M>);
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
    // When each session was last driven (a count of drives): the ready
    // ones are driven least recently driven first, so a session that
    // keeps being ready (a large result) gets one turn, then every other
    // ready session gets its turn before it gets another.
    let mut turns: HashMap<u64, u64> = HashMap::new();
    let mut turn: u64 = 0;
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
        ready.sort_by_key(|id| turns.get(id).copied().unwrap_or(0));
        for id in ready.drain(..) {
            let Some(s) = sessions.get_mut(&id) else {
                continue;
            };
            turn += 1;
            turns.insert(id, turn);
            match s.drive(&mut buf) {
                Drive::Idle => {}
                Drive::Again => again.push(id),
                Drive::Done => {
                    turns.remove(&id);
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
