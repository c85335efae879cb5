//! Which requests the native relay leaves to the Python relay: every
//! request the Python relay treats in a way of its own (docs/http.md,
//! "Which requests"). Handing a request back is always safe (Python then
//! reads it as today); relaying one natively is only for the plain
//! kept-alive exchange.
use super::{has_token, RequestHead};

/// The approval status URL's prefix (`deferred.STATUS_PREFIX`, and
/// anything else under limen's own path).
const LIMEN_PATHS: &[u8] = b"/.well-known/limen/";

/// Why the native relay hands `head` back to the Python relay; `None`
/// when it may relay it: HTTP/1.1 kept alive, not `CONNECT`, no upgrade
/// (`Upgrade`, or `upgrade` in `Connection`), no `Expect`, no `Prefer`
/// (`respond-async` is answered by Python), no `Limen-Approval`, not a
/// path under `/.well-known/limen/`.
pub fn hand_back_reason(head: &RequestHead<'_>) -> Option<&'static str> {
    let h = &head.headers;
    let path = head.target.split(|&b| b == b'?').next().unwrap_or_default();
    if head.version != *b"11" {
        Some("not HTTP/1.1")
    } else if !head.keep_alive() {
        Some("the connection closes")
    } else if head.method.eq_ignore_ascii_case(b"CONNECT") {
        Some("CONNECT")
    } else if head.header(b"upgrade").is_some() || has_token(h, b"connection", b"upgrade") {
        Some("an upgrade")
    } else if head.header(b"expect").is_some() {
        Some("Expect")
    } else if head.header(b"prefer").is_some() {
        Some("Prefer")
    } else if head.header(b"limen-approval").is_some() {
        Some("an approval to spend")
    } else if path.starts_with(LIMEN_PATHS) {
        Some("limen's own path")
    } else {
        None
    }
}
