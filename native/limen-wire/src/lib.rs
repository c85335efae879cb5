//! limen-wire: sans-IO wire framing for the limen gateway.
//!
//! Bytes in, messages out, in the style of h11: no sockets, clocks or tasks.
//! Each decoder keeps one buffer with a hard cap ([`pg::Limits`]) checked
//! against every length field before anything else, never allocates from a
//! length field, never panics on peer bytes, and hands out every message as
//! the raw bytes (to forward untouched) next to a borrowed, parsed view.
//! Errors ([`Error`]) say what went wrong, where, and whose fault it was.
//!
//! Protocols live in their own modules: [`pg`] (PostgreSQL v3),
//! [`mysql`] (MySQL / MariaDB protocol 10), [`http`] (HTTP/1.1 heads and
//! the chunked coding, read as the gateway's Python relay reads them) and
//! [`ssh`] (SSH binary packets under AES-GCM).
//!
//! ```
//! use limen_wire::pg::{FrontendDecoder, FrontendMessage, Limits};
//! use limen_wire::pg::frontend::Query;
//!
//! let mut bytes = Vec::new();
//! Query { sql: b"SELECT 1" }.try_encode(&mut bytes)?;
//! let mut dec = FrontendDecoder::new_regular(Limits::default());
//! dec.receive_data(&bytes[..3])?;
//! assert!(dec.next_message()?.is_none());
//! dec.receive_data(&bytes[3..])?;
//! let (frame, msg) = dec.next_message()?.ok_or("incomplete")?;
//! assert_eq!(frame.raw(), &bytes[..]);
//! assert_eq!(msg, FrontendMessage::Query(Query { sql: b"SELECT 1" }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
mod error;
pub mod http;
pub mod mysql;
pub mod pg;
pub mod ssh;

pub use error::{Error, ErrorKind, Fault};
