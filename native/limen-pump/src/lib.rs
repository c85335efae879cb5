//! limen-pump: the native byte pump of the PostgreSQL gateway.
//!
//! After the handshake (TLS, the token, the upstream login: all driven by
//! Python), a session can hand its two sockets to a pump, each in clear or
//! with its TLS connection ([`tls`]: rustls, decrypted and encrypted on the
//! pump's thread): one
//! thread that moves the bytes, frames and masks them with `limen-wire`'s
//! sans-IO [`ServerRelay`](limen_wire::pg::ServerRelay) and records them,
//! while every decision stays with the host. Statements whose decision is
//! not in the session's cache (allows the host marked reusable, never
//! holds) are handed to the host as [`JudgeRequest`]s; the client
//! direction waits for the [`Verdict`] meanwhile, however long that takes.
//!
//! - [`core`]: the sans-IO session core (no socket, clock or thread): the
//!   client-side state machine of every PostgreSQL session, which the
//!   pump drives here and the gateway's Trio relay drives from Python
//!   (`limen._native.PgClientCore`); tests and the fuzz target drive it
//!   with byte slices.
//! - [`io`]: the thread's poll loop and [`PumpShared`], the command and
//!   event queues with their eventfd wake-ups.
//! - [`shape`]: the literal-insensitive key of a simple query, under which
//!   a decision the host marks as holding for the statement's shape is
//!   cached.
//! - [`tls`]: TLS sessions the host drives sans-IO through the handshake
//!   and then lends to the pump; their configurations from PEM.
//!
//! Who moves the bytes is a performance choice: `benchmarks/bench_pg.py`
//! measures this pump beside the Trio relay, pgbouncer and a direct
//! connection.
pub mod core;
mod cores;
mod error;
mod handoff;
pub mod io;
pub mod mysql;
pub mod shape;
pub mod tls;

pub use crate::core::{
    CacheLimits, ClientStep, Counts, Judge, JudgeKind, JudgeRequest, MaskSwap, NoFastPath,
    PumpCore, RecordKind, RecordSink, SharedRelay, Verdict, DEFAULT_PAUSED_CAP,
};
pub use crate::cores::SessionCore;
pub use crate::error::{PumpError, PumpErrorKind, Side};
pub use crate::io::{
    Command, EndReason, Event, Hub, HubBody, IoConfig, Pump, PumpShared, DRIVE_BYTES, OFFLOAD_BYTES,
};
