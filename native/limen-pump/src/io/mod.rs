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
//! moved, within a budget of reads, of bytes ([`DRIVE_BYTES`]) and of time
//! (then the hub drives every other ready session before it comes back to
//! this one: ready sessions go least recently driven first), so that a
//! session reading a large result, however slow to mask, adds at most about
//! one budget to another session's statement (tests/isolation.rs counts
//! it in bytes masked). A single message larger than the budget (a DataRow
//! is masked whole when its last byte arrives) is masked on a worker
//! thread instead, while the hub serves the other sessions (`offload.rs`,
//! [`OFFLOAD_BYTES`]).
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
mod backlog;
mod hub;
mod offload;
mod pump;
mod shared;
mod transport;

use std::time::Duration;

pub use hub::{Hub, HubBody};
pub use offload::OFFLOAD_BYTES;
pub use pump::{Pump, DRIVE_BYTES};
pub use shared::{Command, EndReason, Event, PumpShared};

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
