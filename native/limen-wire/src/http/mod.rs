//! HTTP/1.1 framing for the gateway's native relay (sans-IO).
//!
//! The gateway's Python relay (`limen.gateway.http`) reads a client's
//! request heads with its own raw checks (`head.py`) and then h11, and an
//! upstream's responses and every body with h11. This module reads the
//! same bytes the same way, so that a native relay can take those
//! exchanges off the Python path without changing a single answer:
//!
//! - `request.rs`: [`find_request_head`] and [`parse_request_head`]: the
//!   client's head, refused exactly when the Python reader refuses it
//!   (smuggling shapes: both `Content-Length` and `Transfer-Encoding`,
//!   lists, duplicates, obs-fold, bare CR or LF, two `Host`s; and h11's
//!   grammar);
//! - `response.rs`: [`find_response_head`] and [`parse_response_head`]: the
//!   upstream's head, accepted exactly when h11's client side accepts it
//!   (lenient line ends, obs-fold unfolded, as h11);
//! - `chunked.rs`: [`ChunkedDecoder`] (h11's chunk-size line, extension and
//!   trailer rules; sizes up to 20 hex digits) and the encoder h11 writes
//!   with;
//! - [`write_request_head`] and [`write_response_head`]: the heads the
//!   gateway writes (the upstream request with its `Host` and credential,
//!   the client's response), byte for byte as the Python relay writes them;
//! - [`hand_back_reason`]: which requests a native relay leaves to Python;
//! - [`ClientSide`] and [`UpstreamSide`]: the framing of a connection's
//!   exchanges (the native relay's skeleton: no socket, decision,
//!   recording or masking yet).
//!
//! `tests/test_http_native_heads.py` (and `_chunked`, `_write`) feeds the
//! same bytes to this module (through `limen._native`) and to the Python
//! reader and h11, and compares what each accepts and every parsed field
//! (and the written bytes). Nothing here allocates from a length field;
//! buffers are capped by the caller's head limit; peer bytes never panic.
mod chunked;
mod eligible;
mod relay;
mod request;
mod response;
mod syntax;
mod write;

use std::borrow::Cow;

pub use chunked::{encode_chunk, encode_last_chunk, ChunkedDecoder};
pub use eligible::hand_back_reason;
pub use relay::{ClientSide, Step, UpstreamSide};
pub use request::{find_request_head, parse_request_head, RequestHead};
pub use response::{find_response_head, parse_response_head, ResponseHead};
pub use syntax::Framing;
pub use write::{write_request_head, write_response_head, UpstreamHeaders};

/// The Python relay's cap on a client's request head (`MAX_HEAD`).
pub const MAX_REQUEST_HEAD: usize = 65536;
/// h11's default cap on an incomplete event (a response head, a chunk-size
/// line, a trailer) on the gateway's upstream connections.
pub const MAX_RESPONSE_HEAD: usize = 16384;

/// One header field: the name as sent, the value without the whitespace
/// around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name as sent (compare without case).
    pub name: Cow<'a, [u8]>,
    /// The value.
    pub value: Cow<'a, [u8]>,
}

impl<'a> Header<'a> {
    pub(crate) fn borrowed(name: &'a [u8], value: &'a [u8]) -> Self {
        Header {
            name: Cow::Borrowed(name),
            value: Cow::Borrowed(value),
        }
    }
}

/// How a message's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// This many bytes (0: no body). Up to 20 decimal digits, as h11.
    Length(u128),
    /// Chunked transfer coding ([`ChunkedDecoder`]).
    Chunked,
    /// A response without a length: the body ends with the connection.
    UntilClose,
}

/// Whether a comma-separated header `name` lists `token` (without case,
/// whitespace around the items ignored).
pub(crate) fn has_token(headers: &[Header<'_>], name: &[u8], token: &[u8]) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}
