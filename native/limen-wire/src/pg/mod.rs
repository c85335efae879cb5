//! The PostgreSQL wire protocol, version 3.
//!
//! - [`framing`]: the shared incremental framer, [`Limits`] and [`Frame`].
//! - [`frontend`]: client-to-server messages and [`FrontendDecoder`].
//! - [`backend`]: server-to-client messages and [`BackendDecoder`].
//! - [`rewrite`]: DataRow rewriting for masking ([`RowRewriter`]).
//! - [`relay`]: the server side of a gateway session ([`ServerRelay`]).
//! - [`auth`]: SCRAM-SHA-256 / md5 for the gateway's own upstream login.
//! - [`tree`]: the literal-insensitive template of a parse tree (policy cache key).
//!
//! Strings are returned as bytes: PostgreSQL sends them in the client
//! encoding, and interpreting them is the caller's decision.
pub mod auth;
pub mod backend;
mod codec;
pub mod copy;
pub mod framing;
pub mod frontend;
pub mod outplan;
mod planbook;
pub mod relay;
pub mod rewrite;
pub mod tree;

pub use backend::{BackendDecoder, BackendMessage};
pub use codec::{I16Array, StrList, U32Array, Values, ValuesIter};
pub use framing::{Frame, Limits};
pub use frontend::{FrontendDecoder, FrontendMessage};
pub use outplan::{CopyFormat, OutColumn, OutputPlan};
pub use relay::{ContentMasker, RelayEvent, ServerRelay};
pub use rewrite::{Action, Rewrite, RowRewriter};
