//! limen-record: the tamper-evident, crash-safe session log.
//!
//! A log is a header, framed records and, when the session closes, a signed
//! trailer. Each record carries a BLAKE3 checksum; a BLAKE3 hash chain seeded
//! from the header links every record to the one before; the trailer holds
//! the final chain hash and the counts, signed with Ed25519. Payloads can be
//! encrypted in batches to an auditor's X25519 key (AES-256-GCM).
//! The byte layout is in `docs/recording-format.md`.
//!
//! - [`Writer`] frames appends into one batch buffer, writes with (vectored)
//!   writes on a configurable flush policy and fsyncs at close. It owns its
//!   sink but no clock: callers pass each record's time.
//! - [`Records`] reads records back; [`try_verify`] classifies a log as
//!   intact, truncated (by a crash) or tampered, naming the first bad record.
//!
//! Readers never panic and never allocate more than one frame (capped by the
//! header, itself capped by [`ReaderLimits`]) plus a read chunk.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
pub mod format;
pub mod keys;
mod reader;
mod writer;

pub use error::{Error, Problem, Result};
pub use format::{Header, HeaderFields, Kind};
pub use keys::{
    key_id, key_id_hex, recipient_public_key, signing_public_key, try_generate_recipient_key,
    try_generate_signing_key, Key32,
};
pub use reader::{
    try_verify, Ending, FrameView, LogReader, ReaderLimits, Record, Records, Report, Status,
};
pub use writer::{Chainer, FlushPolicy, FrameSpan, Sink, Source, Summary, Writer, WriterConfig};
